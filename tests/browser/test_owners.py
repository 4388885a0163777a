"""Ticket owners on the page in headless Chromium: take, the "mine" / "unassigned" filters, an
assignment refused with its reason shown (and announced) beside the owner form; a screenshot."""

from __future__ import annotations

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import ARTIFACTS

NEW = {
    "customer": "acme",
    "reporter_name": "Carl Caller",
    "reporter_email": "carl@acme.example",
}


def _open(server: str, token: str, subject: str) -> str:
    r = httpx.post(
        f"{server}/xop/api/tickets",
        json=NEW | {"subject": subject},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201, r.text
    return r.json()["number"]


def test_take_filter_and_refused_assignment(server, token, browser):
    wait = WebDriverWait(browser, 15)
    first = _open(server, token, "Bridge drops callers")
    second = _open(server, token, "Prompts in the wrong language")
    browser.get(f"{server}/xop/")
    browser.add_cookie({"name": "_token", "value": token, "path": "/"})
    browser.get(f"{server}/xop/")
    link = wait.until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, f"#board-rows tr[data-number='{first}'] a"))
    )
    link.click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "owner-name"), "unassigned"))

    browser.find_element(By.CSS_SELECTOR, "#owner-actions button[data-own='take']").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "owner-status"), f"{first} is now owned by alice"))
    assert browser.find_element(By.ID, "owner-status").get_attribute("aria-live") == "polite"
    wait.until(ec.text_to_be_present_in_element((By.ID, "owner-name"), "alice"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "ticket-history"), "taken"))

    owner = Select(browser.find_element(By.ID, "f-owner"))
    owner.select_by_value("mine")
    wait.until(ec.text_to_be_present_in_element((By.ID, "count"), "1 ticket"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#board-rows tr")
    assert [r.get_attribute("data-number") for r in rows] == [first]
    owner.select_by_value("unassigned")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f"#board-rows tr[data-number='{second}']")))
    assert [
        r.get_attribute("data-number") for r in browser.find_elements(By.CSS_SELECTOR, "#board-rows tr")
    ] == [second]

    # omar works at Level 3: the refusal is shown beside the owner form, not at the top.
    box = browser.find_element(By.CSS_SELECTOR, "#owner-actions input[name='to']")
    box.send_keys("omar")
    browser.find_element(By.CSS_SELECTOR, "#owner-actions button[data-own='assign']").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "owner-status"), "omar works at Level 3"))
    status = browser.find_element(By.ID, "owner-status")
    assert "error" in status.get_attribute("class") and status.is_displayed()
    assert "alice" in browser.find_element(By.ID, "owner-name").text  # nothing changed

    ARTIFACTS.mkdir(exist_ok=True)
    browser.execute_script("document.getElementById('owner').scrollIntoView()")
    assert browser.save_screenshot(str(ARTIFACTS / "xop-ticket-owner.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and e["source"] != "network"]
    assert errors == []


def test_search_box_narrows_the_board(server, token, browser):
    wait = WebDriverWait(browser, 15)
    bridge = _open(server, token, "Bridge drops callers")
    _open(server, token, "Prompts in the wrong language")
    browser.get(f"{server}/xop/")
    browser.add_cookie({"name": "_token", "value": token, "path": "/"})
    browser.get(f"{server}/xop/")
    wait.until(ec.text_to_be_present_in_element((By.ID, "count"), "2 tickets"))
    browser.find_element(By.TAG_NAME, "body").send_keys("/")  # the shortcut focuses the search box
    wait.until(lambda d: d.switch_to.active_element.get_attribute("id") == "f-q")
    browser.switch_to.active_element.send_keys("bridge", Keys.ENTER)
    wait.until(ec.text_to_be_present_in_element((By.ID, "count"), "1 ticket"))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#board-rows tr")) == 1)
    rows = browser.find_elements(By.CSS_SELECTOR, "#board-rows tr")
    assert [r.get_attribute("data-number") for r in rows] == [bridge]
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "xop-ticket-search.png"))
