"""The portal in headless Chromium (Debian's, through Selenium) against a real uvicorn process,
with real emails: the outbox sends them through SMTP to aiosmtpd and the tests open the links
they carry. Screenshots at 360 px and 1280 px go to test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from tests.portal.conftest import ANN, CARL, screenshot
from xop.notify.links import ticket_link


def text_of(driver, css: str = "main") -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def submit(driver, form_id: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f"#{form_id} button[type='submit']").click()


def test_follow_the_link_in_a_real_email_then_reply_escalate_and_close(portal, browser):
    wait = WebDriverWait(browser, 20)
    t = portal.open_ticket(subject="Conference bridge drops callers", level=1, proposed_urgency="critical")
    svc = portal.service()
    now = datetime.now(UTC)
    svc.note(t.number, actor="alice", body="Internal: customer's SBC is misconfigured", now=now)
    portal.deliver()
    mail = portal.wait_for_mail(CARL, t.number)
    link = portal.link_in(mail)
    assert "?k=" in link  # a signed link for this recipient, not the bare ticket URL

    browser.get(link)
    wait.until(ec.text_to_be_present_in_element((By.ID, "ticket-title"), t.number))
    assert "?k=" not in browser.current_url  # the token left the address bar
    page = text_of(browser)
    assert "Conference bridge drops callers" in page
    assert "Level 1 (your own staff)" in text_of(browser, "#level")
    assert "Internal: customer's SBC" not in page and "alice" not in page
    cookie = browser.get_cookie("xop_portal_session")
    assert cookie and cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"

    # Reply, by keyboard: type into the reply box, Tab past the file field to its button, Enter.
    box = browser.find_element(By.ID, "reply-body")
    box.send_keys("Still dropping at 10 minutes sharp.")
    box.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "reply-attachments"
    # Key presses, not send_keys on the element: WebDriver reads send_keys on a file input as a path.
    ActionChains(browser).send_keys(Keys.TAB).perform()
    assert browser.switch_to.active_element.text == "Send the reply"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait.until(ec.text_to_be_present_in_element((By.ID, "notice"), "Your reply was added"))
    assert "Still dropping at 10 minutes sharp." in text_of(browser, "#history")

    # Escalate to L2: XOP's contact, their phone and the L2 response commitment appear.
    browser.find_element(By.ID, "escalate-reason").send_keys("We cannot fix it ourselves.")
    submit(browser, "escalate-form")
    wait.until(ec.text_to_be_present_in_element((By.ID, "notice"), "escalated"))
    assert "Level 2 (XOP Networks support)" in text_of(browser, "#level")
    working = text_of(browser, "#working")
    l2 = portal.cfg.escalation.level2
    assert l2.email in working and l2.phone in working
    commitments = text_of(browser, "#commitments")
    assert "Level 2 response" in commitments and "CST" in commitments and "IST" in commitments
    assert svc.get(t.number).level == 2

    # XOP replies (a staff user): the customer sees "XOP Networks support", not the user name.
    svc.respond(t.number, actor="alice", body="We are rerouting to the spare SBC.", now=datetime.now(UTC))
    browser.refresh()
    history = text_of(browser, "#history")
    assert "We are rerouting to the spare SBC." in history and "XOP Networks support" in history
    assert "alice" not in history
    screenshot(browser, "ticket")

    # Close with a note: no more actions.
    browser.find_element(By.ID, "close-note").send_keys("Works again, thanks.")
    submit(browser, "close-form")
    wait.until(ec.text_to_be_present_in_element((By.ID, "state"), "Closed"))
    assert not browser.find_elements(By.ID, "actions")
    assert svc.get(t.number).state == "closed"


def test_sign_in_by_email_link_and_open_a_ticket(portal, browser):
    wait = WebDriverWait(browser, 20)
    seen = portal.count_mail(ANN, "sign-in link")
    browser.get(portal.url + "/")
    screenshot(browser, "signin")
    field = browser.find_element(By.ID, "email")
    field.send_keys(ANN)
    field.send_keys(Keys.ENTER)
    wait.until(ec.text_to_be_present_in_element((By.ID, "message"), "a sign-in link is on its way"))
    link = portal.link_in(portal.wait_for_mail(ANN, "sign-in link", seen=seen), "signin")

    browser.get(link)
    wait.until(ec.element_to_be_clickable((By.ID, "consume"))).click()
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Your tickets"))
    browser.find_element(By.ID, "new-ticket").click()
    form = wait.until(ec.visibility_of_element_located((By.ID, "new-form")))
    Select(form.find_element(By.NAME, "system")).select_by_value("acme-conf1")
    form.find_element(By.NAME, "subject").send_keys("Wrong time of day on the bridge prompts")
    form.find_element(By.NAME, "description").send_keys("The bridge announces 14:00 at 15:00.")
    Select(form.find_element(By.NAME, "proposed_urgency")).select_by_value("minor")
    screenshot(browser, "new-ticket")
    submit(browser, "new-form")
    wait.until(ec.text_to_be_present_in_element((By.ID, "notice"), "Your ticket is open"))
    number = browser.find_element(By.ID, "ticket-title").text.split(":")[0]
    t = portal.service().get(number)
    assert (t.customer, t.system, t.source, t.proposed_urgency, t.level) == (
        "acme",
        "acme-conf1",
        "customer",
        "minor",
        2,
    )
    assert t.reporter_email == ANN and t.reporter_name == "Ann Boss"
    browser.get(portal.url + "/")
    assert number in text_of(browser, "#tickets")
    screenshot(browser, "list")

    # The same sign-in link a second time: used up.
    browser.delete_all_cookies()
    browser.get(link)
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "already used"))
    assert not browser.find_elements(By.ID, "consume")
    assert browser.find_elements(By.ID, "signin-form")


def test_a_tampered_link_and_an_expired_link_get_clear_pages_and_a_fresh_link(portal, browser):
    wait = WebDriverWait(browser, 20)
    t = portal.open_ticket(subject="Echo on long calls")
    good = ticket_link(portal.cfg, CARL, t.number)
    tampered = good[:-3] + ("xyz" if not good.endswith("xyz") else "abc")
    browser.get(tampered)
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "This link is not valid"))
    assert browser.find_elements(By.ID, "signin-form")
    assert t.subject not in text_of(browser)

    expired = ticket_link(portal.cfg, CARL, t.number, now=datetime.now(UTC) - timedelta(days=31))
    browser.get(expired)
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "This link has expired"))
    assert t.subject not in text_of(browser)
    screenshot(browser, "expired")
    seen = portal.count_mail(CARL, "Your link to the ticket")
    browser.find_element(By.ID, "renew").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "message"), "fresh link"))
    fresh = portal.link_in(portal.wait_for_mail(CARL, "Your link to the ticket", seen=seen))
    browser.get(fresh)
    wait.until(ec.text_to_be_present_in_element((By.ID, "ticket-title"), t.number))
    assert "Echo on long calls" in text_of(browser)


def _sign_in_by_cookie(portal, browser, email: str, customer: str) -> None:
    """A signed-in session for ``email`` (the sign-in flow itself is the test above)."""
    from xop.portal.store import start_session

    sid, _ = start_session(
        portal.engine, email=email, customer=customer, ticket=None, now=datetime.now(UTC), hours=1
    )
    browser.get(portal.url + "/healthz")
    browser.add_cookie(
        {"name": "xop_portal_session", "value": sid, "path": "/", "secure": True, "httpOnly": True}
    )


def test_open_a_ticket_with_a_file_reply_with_files_and_staff_see_them(portal, browser, tmp_path):
    from xop.api.queries import ticket_detail

    wait = WebDriverWait(browser, 20)
    trace = tmp_path / "sip-trace.pcap"
    trace.write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(range(256)) * 40)
    log, shot = tmp_path / "bridge.log", tmp_path / "screen.png"
    log.write_text("10:00:01 caller dropped\n")
    shot.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    _sign_in_by_cookie(portal, browser, ANN, "acme")

    browser.get(portal.url + "/new")
    form = wait.until(ec.visibility_of_element_located((By.ID, "new-form")))
    form.find_element(By.NAME, "subject").send_keys("Callers dropped; trace attached")
    form.find_element(By.NAME, "description").send_keys("See the SIP trace.")
    form.find_element(By.ID, "new-attachments").send_keys(str(trace))
    assert "Up to" in text_of(browser, "#new-attachments-hint")
    screenshot(browser, "new-ticket-attachment")
    submit(browser, "new-form")
    wait.until(ec.text_to_be_present_in_element((By.ID, "notice"), "Your ticket is open"))
    number = browser.find_element(By.ID, "ticket-title").text.split(":")[0]
    assert "sip-trace.pcap" in text_of(browser, "#history")

    box = browser.find_element(By.ID, "reply-body")
    box.send_keys("Two more files: the bridge log and a screenshot.")
    browser.find_element(By.ID, "reply-attachments").send_keys(f"{log}\n{shot}")
    submit(browser, "reply-form")
    wait.until(ec.text_to_be_present_in_element((By.ID, "notice"), "Your reply was added"))
    links = {
        a.text: a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#history .files a")
    }
    assert set(links) == {"sip-trace.pcap", "bridge.log", "screen.png"}
    assert all(f"/tickets/{number}/attachments/" in h for h in links.values())
    screenshot(browser, "ticket-attachments")

    # Staff: the plugin API's ticket detail lists them on their events.
    with portal.engine.connect() as conn:
        detail = ticket_detail(conn, portal.cfg, number, now=datetime.now(UTC))
    files = [(e["kind"], a["filename"], a["via"]) for e in detail["events"] for a in e["attachments"]]
    assert files == [
        ("opened", "sip-trace.pcap", "portal"),
        ("responded", "bridge.log", "portal"),
        ("responded", "screen.png", "portal"),
    ]

    # A file over the limit: a clear page naming the field; nothing stored.
    big = tmp_path / "core.gz"
    big.write_bytes(b"\0" * 2_100_000)
    browser.get(f"{portal.url}/tickets/{number}")
    browser.find_element(By.ID, "reply-body").send_keys("The core dump.")
    browser.find_element(By.ID, "reply-attachments").send_keys(str(big))
    submit(browser, "reply-form")
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "main"), "Nothing was saved"))
    assert "Attachments:" in text_of(browser)
    screenshot(browser, "attachment-too-large")
    with portal.engine.connect() as conn:
        again = ticket_detail(conn, portal.cfg, number, now=datetime.now(UTC))
    assert [e["body"] for e in again["events"] if e["body"] == "The core dump."] == []
