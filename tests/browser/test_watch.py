"""Watching a ticket on the page in headless Chromium: the toggle (aria-pressed), the watchers
named, the outcome announced beside it, and the copy of the next customer email queued for the
watcher's own XOP address; a screenshot in test-artifacts/."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_confirm import _open, _page
from xop.notify.tables import notifications


def test_watch_toggle_and_the_copy_by_email(server, token, browser, browser_db):
    wait = WebDriverWait(browser, 15)
    number = _open(server, token, "Bridge drops callers")
    _page(server, token, browser, number, wait)
    toggle = wait.until(ec.visibility_of_element_located((By.ID, "watch-toggle")))
    assert (
        toggle.get_attribute("aria-pressed") == "false"
        and "nobody" in browser.find_element(By.ID, "watchers").text
    )
    toggle.click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "watch-status"), f"You watch {number}"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "watch-toggle"), "Stop watching"))
    assert browser.find_element(By.ID, "watch-toggle").get_attribute("aria-pressed") == "true"
    assert "alice" in browser.find_element(By.ID, "watchers").text
    assert browser.find_element(By.ID, "watch-status").get_attribute("aria-live") == "polite"
    ARTIFACTS.mkdir(exist_ok=True)
    browser.execute_script("document.getElementById('watch').scrollIntoView()")
    assert browser.save_screenshot(str(ARTIFACTS / "xop-ticket-watch.png"))

    # omar (another staff user) replies: the watcher alice gets an internal copy
    r = httpx.post(f"{server}/auth/token", json={"username": "omar", "password": "omar-secret-pw"})
    omar = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = httpx.post(f"{server}/xop/api/tickets/{number}/respond", json={"body": "On it"}, headers=omar)
    assert r.status_code == 200, r.text
    with browser_db.connect() as c:
        rows = c.execute(
            sa.select(notifications.c.recipient, notifications.c.audience).where(
                notifications.c.kind == "ticket_updated"
            )
        ).all()
    assert sorted(rows) == [("alice@xopnetworks.com", "internal"), ("carl@acme.example", "customer")]

    browser.find_element(By.ID, "watch-toggle").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "watch-status"), f"You no longer watch {number}"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "watchers"), "nobody"))
    assert browser.switch_to.active_element.get_attribute("id") == "watch-toggle"
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and e["source"] != "network"]
    assert errors == []
