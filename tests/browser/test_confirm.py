"""Consequential actions on the page in headless Chromium: the confirmation dialog says who is
emailed and which clocks stop or start (the API's dry run), keeps the focus inside, Esc cancels
with nothing changed; every action's refusal and outcome is shown (and announced) beside the form
where it was taken. Screenshots in test-artifacts/."""

from __future__ import annotations

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_owners import _open  # a ticket opened through the API


def _state(server: str, token: str, number: str) -> str:
    r = httpx.get(f"{server}/xop/api/tickets/{number}", headers={"Authorization": f"Bearer {token}"})
    return r.json()["state"]


def _page(server, token, browser, number, wait):
    browser.get(f"{server}/xop/")
    browser.add_cookie({"name": "_token", "value": token, "path": "/"})
    browser.get(f"{server}/xop/#{number}")  # a same-document navigation: load the page again
    browser.refresh()
    wait.until(ec.text_to_be_present_in_element((By.ID, "ticket-title"), number))


def _close_form(browser, wait, report: str) -> None:
    browser.find_element(By.CSS_SELECTOR, "#actions button[data-action='close']").click()
    box = wait.until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, "#action-form textarea[name='report']"))
    )
    box.clear()
    box.send_keys(report)
    browser.find_element(By.CSS_SELECTOR, "#action-form button[type='submit']").click()


def _inside_dialog(browser) -> bool:
    return browser.execute_script(
        "return document.getElementById('confirm-dialog').contains(document.activeElement)"
    )


def test_close_asks_first_esc_cancels_confirm_closes(server, token, browser):
    wait = WebDriverWait(browser, 15)
    number = _open(server, token, "Bridge drops callers")
    _page(server, token, browser, number, wait)

    _close_form(browser, wait, "Worked around by the customer")
    dialog = wait.until(ec.visibility_of_element_located((By.ID, "confirm-dialog")))
    assert number in dialog.find_element(By.ID, "confirm-title").text
    emails = dialog.find_element(By.ID, "confirm-emails").text
    assert "carl@acme.example" in emails and "ann.boss@acme.example" in emails  # management gets the report
    assert "Closed, closing report" in emails
    assert "L2 response stops" in dialog.find_element(By.ID, "confirm-clocks").text
    assert "Open → Closed" in dialog.text
    assert browser.switch_to.active_element.get_attribute("id") == "confirm-cancel"
    for _ in range(5):  # Tab and Shift+Tab keep the focus in the dialog
        browser.switch_to.active_element.send_keys(Keys.TAB)
        assert _inside_dialog(browser)
    browser.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
    assert _inside_dialog(browser)
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "xop-ticket-confirm-close.png"))

    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait.until(ec.invisibility_of_element_located((By.ID, "confirm-dialog")))
    wait.until(ec.text_to_be_present_in_element((By.ID, "action-status"), "not done"))
    assert _state(server, token, number) == "open"  # nothing changed
    assert browser.find_element(By.ID, "ticket").is_displayed()  # Esc left the ticket view open

    # Again, with the keyboard only: Tab to the confirm button, Enter.
    browser.find_element(By.CSS_SELECTOR, "#action-form button[type='submit']").click()
    wait.until(ec.visibility_of_element_located((By.ID, "confirm-dialog")))
    confirm = browser.find_element(By.ID, "confirm-ok")
    while browser.switch_to.active_element != confirm:
        browser.switch_to.active_element.send_keys(Keys.TAB)
    confirm.send_keys(Keys.ENTER)
    wait.until(ec.text_to_be_present_in_element((By.ID, "action-status"), f"Close ticket: done on {number}"))
    assert browser.find_element(By.ID, "action-status").get_attribute("aria-live") == "polite"
    wait.until(ec.text_to_be_present_in_element((By.ID, "ticket-facts"), "Closed"))
    assert _state(server, token, number) == "closed"
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and e["source"] != "network"]
    assert errors == []


def test_refusals_are_shown_beside_the_form_that_was_used(server, token, browser):
    wait = WebDriverWait(browser, 15)
    number = _open(server, token, "Prompts in the wrong language")
    _page(server, token, browser, number, wait)
    browser.find_element(By.CSS_SELECTOR, "#actions button[data-action='escalate']").click()
    Select(browser.find_element(By.CSS_SELECTOR, "#action-form select[name='to_level']")).select_by_value("2")
    browser.find_element(By.CSS_SELECTOR, "#action-form button[type='submit']").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "action-status"), "escalation must go up"))
    status = browser.find_element(By.ID, "action-status")
    assert "error" in status.get_attribute("class") and status.is_displayed()
    assert status.get_attribute("role") == "status" and status.get_attribute("aria-live") == "polite"
    # right under the form that was submitted, and not in the banner at the top
    form = browser.find_element(By.ID, "action-form")
    assert browser.execute_script("return arguments[0].previousElementSibling === arguments[1]", status, form)
    assert 0 <= status.location["y"] - (form.location["y"] + form.size["height"]) < 40
    assert not browser.find_element(By.ID, "message").is_displayed()
    assert not browser.find_elements(By.CSS_SELECTOR, "#confirm-dialog[open]")  # refused before asking
    assert browser.find_element(By.CSS_SELECTOR, "#ticket-facts").text.count("L2") == 1  # unchanged
    browser.execute_script("document.getElementById('action-form').scrollIntoView()")
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "xop-ticket-refused-escalation.png"))

    # An action without confirmation reports its outcome in the same place.
    browser.find_element(By.CSS_SELECTOR, "#actions button[data-action='note']").click()
    wait.until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, "#action-form textarea[name='body']"))
    ).send_keys("Customer sent logs")
    browser.find_element(By.CSS_SELECTOR, "#action-form button[type='submit']").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "action-status"), f"Internal note: done on {number}"))
    assert "error" not in browser.find_element(By.ID, "action-status").get_attribute("class")
