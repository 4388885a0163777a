"""Clock words on the page in headless Chromium: a breach says how long ago in business time, a
clock stopped unmet is "missed" (it had breached) or "skipped" (it had not), never "stopped", and
business time is never counted in 24-hour days."""

from __future__ import annotations

import re
from datetime import timedelta

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import ARTIFACTS, START
from xop.tickets import TicketService


def test_breach_label_and_clock_outcomes(server, token, browser, browser_db, xop_config):
    wait = WebDriverWait(browser, 15)
    svc = TicketService(browser_db, xop_config)
    new = {"customer": "acme", "reporter_name": "Carl", "reporter_email": "carl@acme.example"}
    late = svc.open(subject="Opened yesterday, never answered", now=START - timedelta(days=1), **new).number
    missed = svc.open(subject="Closed after its breach", now=START - timedelta(days=1), **new).number
    svc.close(missed, report="Worked around by the customer", actor="lena", now=START)
    skipped = svc.open(subject="Closed in time", now=START - timedelta(minutes=30), **new).number
    svc.close(skipped, report="Duplicate", actor="lena", now=START - timedelta(minutes=20))

    browser.get(f"{server}/xop/")
    browser.add_cookie({"name": "_token", "value": token, "path": "/"})
    browser.get(f"{server}/xop/")
    row = wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f"#board-rows tr[data-number='{late}']"))
    )
    badge = row.find_element(By.CSS_SELECTOR, ".countdown")
    assert "sla-breached" in badge.get_attribute("class")
    assert re.match(r"^breached \d+ h \d\d m ago \(business time\) L2 response$", badge.text), badge.text

    for number, word in ((missed, "missed"), (skipped, "skipped")):
        browser.get(f"{server}/xop/#{number}")
        browser.refresh()
        wait.until(ec.text_to_be_present_in_element((By.ID, "ticket-title"), number))
        clocks = browser.find_element(By.ID, "ticket-clocks").text
        assert word in clocks and "stopped" not in clocks, clocks
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "xop-clock-outcomes.png"))


def test_times_in_the_support_zone_with_a_toggle_to_the_users(server, token, browser, browser_db, xop_config):
    wait = WebDriverWait(browser, 15)
    svc = TicketService(browser_db, xop_config)
    number = svc.open(
        subject="Zone check", customer="acme", reporter_name="C", reporter_email="c@acme.example", now=START
    ).number
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Europe/Berlin"})
    browser.get(f"{server}/xop/")
    browser.add_cookie({"name": "_token", "value": token, "path": "/"})
    browser.get(f"{server}/xop/#{number}")
    browser.refresh()
    wait.until(ec.text_to_be_present_in_element((By.ID, "zone-name"), "America/Chicago"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "ticket-facts"), "CST"))
    toggle = browser.find_element(By.ID, "zone-toggle")
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "zone-name"), "Europe/Berlin"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "ticket-facts"), "GMT+1"))
    assert (
        toggle.get_attribute("aria-pressed") == "true"
        and "CST" not in browser.find_element(By.ID, "ticket-facts").text
    )
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "xop-zone-toggle.png"))
