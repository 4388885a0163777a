"""The daily audit report on a phone: headless Chromium emulating a 360 px wide screen.

The saved report of a red day (60 conferences, a critical finding with its ticket, a failed
backup, a failed trunk) is opened as the file operations would open it; the first screen shows
why it is red, and nothing is wider than the screen (the per-conference table scrolls inside its
own box). Screenshots of the first screen and of the whole page go to ``test-artifacts/``.
"""

from __future__ import annotations

import base64
from pathlib import Path

from tests.audit.test_report import red_report
from tests.browser.conftest import ARTIFACTS
from xop.audit.report import save_report

WIDTH, HEIGHT = 360, 780

#: Elements whose right edge passes the screen, outside a box that scrolls sideways.
OVERFLOWING = """
const width = document.documentElement.clientWidth;
const out = [];
for (const el of document.body.querySelectorAll('*')) {
  if (el.closest('.scroll-x')) continue;
  const r = el.getBoundingClientRect();
  if (r.width && (r.right > width + 0.5 || r.left < -0.5)) {
    const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '');
    out.push(`${name} ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
}
return out;
"""


def test_the_red_report_reads_on_a_360_px_phone(browser, tmp_path: Path) -> None:
    path = save_report(red_report(tmp_path), tmp_path / "report", "audit-2026-06-15")
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 2, "mobile": True},
    )
    browser.get(path.as_uri())

    assert browser.execute_script("return document.documentElement.clientWidth") == WIDTH
    assert browser.execute_script("return document.documentElement.scrollWidth") <= WIDTH
    assert browser.execute_script(OVERFLOWING) == []

    # The conference table is wider than the screen only inside its scrolling box.
    box = browser.execute_script(
        "const b = document.querySelector('.scroll-x'); const r = b.getBoundingClientRect();"
        "return {right: r.right, client: b.clientWidth, rows: b.querySelectorAll('tr').length};"
    )
    assert box["right"] <= WIDTH and box["client"] <= WIDTH and box["rows"] == 51

    # The first screen says why it is red, before any table.
    reasons = browser.execute_script(
        "const r = document.getElementById('reasons').getBoundingClientRect();"
        "const t = document.querySelector('table').getBoundingClientRect();"
        "return {top: r.top, bottom: r.bottom, table: t.top,"
        " items: [...document.querySelectorAll('#reasons li')].map(li => li.innerText)};"
    )
    assert (
        reasons["top"] < HEIGHT / 4 and reasons["bottom"] < HEIGHT and reasons["bottom"] <= reasons["table"]
    )
    assert [item.split(" · ")[0] for item in reasons["items"]] == [
        "RED acme-conf1",
        "RED acme-conf1",
        "RED acme-conf1",
        "AMBER acme-conf1",
    ]
    assert "XOP-000043" in reasons["items"][0] and "486 Busy Here" in reasons["items"][2]
    font = browser.execute_script(
        "return parseFloat(getComputedStyle(document.querySelector('#reasons li')).fontSize)"
    )
    assert font >= 14  # readable without zooming

    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "audit-report-360-first-screen.png"))
    full = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    (ARTIFACTS / "audit-report-360-full.png").write_bytes(base64.b64decode(full["data"]))
