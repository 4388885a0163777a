"""The ticket page in headless Chromium against a running Airflow API server: sign-in gate,
opening a ticket through the form (keyboard), the board's live countdown, an action, a screenshot."""

from __future__ import annotations

import re
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import ARTIFACTS

COUNTDOWN = re.compile(r"^(\d\d):(\d\d):(\d\d) L2 response$")


def seconds_left(text: str) -> int:
    m = COUNTDOWN.match(text.replace("\n", " "))
    assert m, text
    h, mi, s = map(int, m.groups())
    return h * 3600 + mi * 60 + s


def test_open_a_ticket_and_watch_its_countdown(server, token, browser):
    wait = WebDriverWait(browser, 15)

    # Without the Airflow UI's session cookie the page only offers the Airflow sign-in.
    browser.get(f"{server}/xop/")
    assert "Sign in" in browser.find_element(By.TAG_NAME, "body").text
    # Signed in: the cookie the Airflow UI sets at login, for this origin.
    browser.add_cookie({"name": "_token", "value": token, "path": "/"})
    browser.get(f"{server}/xop/")
    wait.until(ec.text_to_be_present_in_element((By.ID, "me"), "alice"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "count"), "0 tickets"))

    # Keyboard: "n" opens the form; Tab moves through it; Enter submits.
    browser.find_element(By.TAG_NAME, "body").send_keys("n")
    dialog = wait.until(ec.visibility_of_element_located((By.ID, "open-dialog")))
    Select(dialog.find_element(By.NAME, "customer")).select_by_value("acme")
    Select(dialog.find_element(By.NAME, "system")).select_by_value("acme-conf1")
    dialog.find_element(By.NAME, "subject").send_keys("Bridge drops callers after 10 minutes")
    dialog.find_element(By.NAME, "description").send_keys("Every conference drops since 8 am.")
    dialog.find_element(By.NAME, "reporter_name").send_keys("Carl Caller")
    email = dialog.find_element(By.NAME, "reporter_email")
    email.send_keys("carl@acme.example")
    Select(dialog.find_element(By.NAME, "proposed_urgency")).select_by_value("critical")
    email.send_keys(Keys.ENTER)

    wait.until(ec.text_to_be_present_in_element((By.ID, "message"), "Opened XOP-"))
    number = re.search(r"XOP-\d+", browser.find_element(By.ID, "message").text).group(0)
    row = wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f"#board-rows tr[data-number='{number}']"))
    )
    assert "Bridge drops callers" in row.text and "acme" in row.text
    badge = row.find_element(By.CSS_SELECTOR, ".countdown")
    assert "sla-ok" in badge.get_attribute("class")
    first = seconds_left(badge.text)
    assert 7000 < first <= 7200  # 2 business hours for the L2 response
    time.sleep(2.2)
    later = seconds_left(row.find_element(By.CSS_SELECTOR, ".countdown").text)
    assert 1 <= first - later <= 4, (first, later)  # it counts down live

    # The ticket view opened with its clock and history; respond through its form.
    panel = wait.until(ec.visibility_of_element_located((By.ID, "ticket")))
    assert number in panel.find_element(By.ID, "ticket-title").text
    assert "L2 response" in panel.find_element(By.ID, "ticket-clocks").text
    panel.find_element(By.CSS_SELECTOR, "button[data-action='respond']").click()
    body = wait.until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, "#action-form textarea[name='body']"))
    )
    body.send_keys("We are on it: rerouting to the spare SBC.")
    browser.find_element(By.CSS_SELECTOR, "#action-form button[type='submit']").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "ticket-history"), "responded"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "ticket-clocks"), "met"))
    assert "alice" in browser.find_element(By.ID, "ticket-history").text

    # Refused actions show the API's reason beside the form and keep the page usable.
    panel.find_element(By.CSS_SELECTOR, "button[data-action='escalate']").click()
    Select(browser.find_element(By.CSS_SELECTOR, "#action-form select[name='to_level']")).select_by_value("2")
    browser.find_element(By.CSS_SELECTOR, "#action-form button[type='submit']").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "action-status"), "escalation must go up"))

    # A second ticket so the board shows more than one row, then the screenshot.
    browser.find_element(By.ID, "new-ticket").click()
    dialog = wait.until(ec.visibility_of_element_located((By.ID, "open-dialog")))
    dialog.find_element(By.NAME, "subject").send_keys("Wrong time of day on the bridge prompts")
    dialog.find_element(By.NAME, "reporter_name").send_keys("Ann Boss")
    dialog.find_element(By.NAME, "reporter_email").send_keys("ann.boss@acme.example", Keys.ENTER)
    wait.until(ec.text_to_be_present_in_element((By.ID, "count"), "2 tickets"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "ticket-title"), "Wrong time of day"))
    assert not browser.find_element(By.ID, "action-form").is_displayed()  # forms belong to one ticket
    browser.execute_script("window.scrollTo(0, 0)")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "xop-ticket-page.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000

    # (Network entries are the 401 and 409 answers provoked above.)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and e["source"] != "network"]
    assert errors == []  # no script errors, no Content-Security-Policy violations


def test_the_page_inside_the_airflow_ui(server, token, browser):
    """The navigation entry: Airflow's UI frames the page at /plugin/xop-tickets, and the
    page authenticates with the UI's own session cookie."""
    wait = WebDriverWait(browser, 30)
    browser.get(f"{server}/xop/")
    browser.add_cookie({"name": "_token", "value": token, "path": "/"})
    browser.get(f"{server}/plugin/xop-tickets")
    frame = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "iframe[src*='xop/']")))
    assert "allow-scripts" in frame.get_attribute("sandbox")
    browser.switch_to.frame(frame)
    wait.until(ec.text_to_be_present_in_element((By.ID, "me"), "alice"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "count"), "0 tickets"))
    browser.switch_to.default_content()
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "xop-ticket-page-in-airflow-ui.png"))


def test_a_viewer_is_offered_no_action_and_told_why(server, token, browser):
    import httpx

    from tests.api import harness
    from tests.api.test_api import NEW

    r = httpx.post(f"{server}/xop/api/tickets", json=NEW, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    viewer = httpx.post(
        f"{server}/auth/token", json={"username": "victor", "password": harness.USERS["victor"][1]}
    ).json()["access_token"]

    wait = WebDriverWait(browser, 15)
    browser.get(f"{server}/xop/")
    browser.add_cookie({"name": "_token", "value": viewer, "path": "/"})
    browser.get(f"{server}/xop/#{number}")
    browser.refresh()  # a change of the fragment alone does not load the page again
    wait.until(ec.text_to_be_present_in_element((By.ID, "me"), "victor"))
    assert not browser.find_element(By.ID, "new-ticket").is_displayed()
    assert browser.find_element(By.ID, "read-only").is_displayed()
    panel = wait.until(ec.visibility_of_element_located((By.ID, "ticket")))
    assert panel.find_elements(By.CSS_SELECTOR, "#actions button") == []
    assert "No action you may take now" in panel.find_element(By.ID, "actions").text
    why = panel.find_element(By.ID, "why-not")
    assert not panel.find_element(By.ID, "why-not-list").is_displayed()  # said when asked
    why.find_element(By.TAG_NAME, "summary").click()
    reasons = panel.find_element(By.ID, "why-not-list").text
    assert "Respond" in reasons and "'POST on DAG Runs'" in reasons and "victor" in reasons
    browser.find_element(By.TAG_NAME, "body").send_keys("n")  # the keyboard shortcut says why too
    wait.until(ec.text_to_be_present_in_element((By.ID, "message"), "You cannot open tickets"))
    assert not browser.find_element(By.ID, "open-dialog").is_displayed()
