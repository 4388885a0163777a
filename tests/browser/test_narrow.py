"""Narrow windows in headless Chromium: at 1280 x 720 with a ticket open and at 800 px the SLA
column stays visible inside the window and the ticket view stacks under the board."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import ARTIFACTS, START
from xop.tickets import TicketService


@pytest.mark.parametrize("width", [1280, 800])
def test_sla_column_stays_and_the_ticket_stacks(server, token, browser, browser_db, xop_config, width):
    wait = WebDriverWait(browser, 15)
    svc = TicketService(browser_db, xop_config)
    number = svc.open(
        subject="A rather long subject line that would push the SLA column out of a narrow window",
        customer="acme",
        reporter_name="C",
        reporter_email="c@acme.example",
        now=START,
    ).number
    browser.set_window_size(width, 720)
    browser.get(f"{server}/xop/")
    browser.add_cookie({"name": "_token", "value": token, "path": "/"})
    browser.get(f"{server}/xop/#{number}")
    browser.refresh()
    wait.until(ec.visibility_of_element_located((By.ID, "ticket")))
    sla_head = browser.find_element(By.CSS_SELECTOR, "#board thead th:nth-child(7)")
    badge = browser.find_element(By.CSS_SELECTOR, f"#board-rows tr[data-number='{number}'] .countdown")
    assert sla_head.is_displayed() and badge.is_displayed()
    inner = browser.execute_script("return document.documentElement.clientWidth")
    right = browser.execute_script("return arguments[0].getBoundingClientRect().right", badge)
    assert right <= inner, (right, inner)  # inside the window, no sideways scrolling needed
    board = browser.find_element(By.ID, "board").rect
    ticket = browser.find_element(By.ID, "ticket").rect
    assert ticket["y"] >= board["y"] + board["height"]  # stacked under the board
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / f"xop-ticket-page-{width}.png"))
