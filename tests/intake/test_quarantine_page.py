# ruff: noqa: F811  (the browser fixtures are imported from tests/browser/conftest.py by name)
"""The quarantine on the ticket page, in headless Chromium: accept a message, see its ticket's mail."""

from __future__ import annotations

import re

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import (  # noqa: F401  (fixtures)
    browser,
    browser_db,
    live_server,
    server,
    token,
)
from tests.intake import samples
from tests.intake.conftest import NOW
from xop.intake.apply import process


def test_accept_from_the_quarantine_and_see_the_attachment(server, token, browser, browser_db, intake_config):
    raw = samples.mail(
        sender="temp@contractor.example", attachments=[("trace.txt", "text/plain", b"INVITE ...")]
    )
    assert process(browser_db, intake_config, raw, now=NOW).outcome == "quarantined"
    wait = WebDriverWait(browser, 20)
    browser.get(f"{server}/xop/")
    browser.add_cookie({"name": "_token", "value": token, "path": "/"})
    browser.get(f"{server}/xop/")
    row = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#quarantine-table tbody tr")))
    assert "temp@contractor.example" in row.text and "unknown sender" in row.text
    Select(row.find_element(By.NAME, "target")).select_by_value("customer:acme")
    row.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "quarantine-status"), "opened XOP-"))
    number = re.search(r"XOP-\d+", browser.find_element(By.ID, "quarantine-status").text).group(0)
    wait.until(ec.presence_of_element_located((By.ID, "quarantine-empty")))
    browser.get(f"{server}/xop/#{number}")
    browser.refresh()  # the page opens the ticket of the address's #number when it loads
    wait.until(ec.text_to_be_present_in_element((By.ID, "ticket-attachments"), "trace.txt"))
