"""The ticket page in headless Chromium: the clock timeline of an open ticket and the
compliance view, rendered by reports.js from the API; a screenshot for the record."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import ARTIFACTS
from tests.reports.scenario import build_november
from xop.tickets import TicketService


def test_timeline_and_compliance_on_the_ticket_page(server, token, browser, browser_db, xop_config):
    numbers = build_november(TicketService(browser_db, xop_config))
    wait = WebDriverWait(browser, 20)
    browser.get(f"{server}/xop/")
    browser.add_cookie({"name": "_token", "value": token, "path": "/"})
    # Another URL than the sign-in page's (a fragment alone would not reload the page).
    browser.get(f"{server}/xop/?ticket#{numbers['reclassified']}")
    recovery = wait.until(
        ec.presence_of_element_located(
            (By.CSS_SELECTOR, "#ticket-timeline details[data-clock='l3_recovery']")
        )
    )
    recovery.find_element(By.TAG_NAME, "summary").click()
    text = recovery.text
    assert "met late, 7 h 00 min used of 6 h 00 min" in text
    assert "reclassified minor → critical (target 24 h 00 min → 6 h 00 min)" in text
    assert "outside support hours: not counted" in text and "paused: waiting on the customer" in text

    wait.until(ec.presence_of_element_located((By.ID, "compliance-clocks")))
    rows = browser.find_elements(By.CSS_SELECTOR, "#compliance-clocks tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows][:2] == [
        "Level 2 response",
        "Level 3 response",
    ]
    open_rows = browser.find_elements(By.CSS_SELECTOR, "#compliance-open tbody tr")
    assert [r.find_element(By.TAG_NAME, "td").text for r in open_rows] == ["L1", "L2", "L3", "L4"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "xop-ticket-page-timeline.png"))
    errors = [e for e in browser.get_log("browser") if e["source"] == "javascript"]
    assert not errors, errors
