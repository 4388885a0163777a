"""The customer portal's ticket page shows the clock timeline from public events only: no
staff names, no internal steps (the portal runs as its own process, reached over HTTP)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.portal.conftest import CARL, Visitor
from xop.notify.links import ticket_link


def test_the_portal_ticket_page_shows_the_public_clock_timeline(portal):
    now = datetime.now(UTC)
    svc = portal.service()
    t = portal.open_ticket(level=2, now=now - timedelta(days=3))
    svc.classify(t.number, urgency="major", actor="l2.secret-staffer", now=now - timedelta(days=2))
    svc.respond(t.number, actor="l2.secret-staffer", body="Looking.", now=now - timedelta(days=1))
    v = Visitor(portal.url)
    r = v.get(ticket_link(portal.cfg, CARL, t.number).removeprefix(portal.url))
    assert r.status_code == 303
    page = v.get(f"/tickets/{t.number}")
    assert page.status_code == 200
    section = re.search(r'<section class="card" id="clock-timeline">(.*?)</section>', page.text, re.S)
    assert section, page.text[:2000]
    text = section.group(1)
    assert "Level 2 response" in text and "started" in text
    assert "secret-staffer" not in text and "reclassified" not in text
