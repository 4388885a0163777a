"""A month of tickets for the report tests: November 2026 in Chicago (DST ends Sun Nov 1;
Veterans Day Wed Nov 11 and Thanksgiving Thu Nov 26 are holidays)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from xop.tickets import TicketService
from xop.tickets.sweep import sweep

CHI = ZoneInfo("America/Chicago")
#: When the December run reports November.
AS_OF = datetime(2026, 12, 1, 7, 0, tzinfo=CHI).astimezone(UTC)


def chi(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHI).astimezone(UTC)


def _open(svc: TicketService, now: datetime, **kw) -> str:
    args = {
        "customer": "acme",
        "system": "acme-conf1",
        "subject": "Bridge drops callers",
        "description": "Every conference drops after ten minutes.",
        "reporter_name": "Carl Caller",
        "reporter_email": "carl@acme.example",
        "now": now,
    } | kw
    if "urgency" in kw and "source" not in kw:
        args["actor"] = "l2.dallas"  # only XOP staff (or monitoring) set an urgency
    return svc.open(**args).number


def build_november(svc: TicketService) -> dict[str, str]:
    """Tickets with known outcomes; returns their numbers by role."""
    n: dict[str, str] = {}
    # Opened before the DST change, answered after it: 1 h on Fri + 1 h on Mon = 2 h, met.
    n["dst"] = _open(svc, chi(2026, 10, 30, 17, 0))
    svc.respond(n["dst"], actor="l2.dallas", body="Looking into it.", now=chi(2026, 11, 2, 9, 0))
    # Met in one hour.
    n["quick"] = _open(svc, chi(2026, 11, 2, 9, 0), source="monitoring", urgency="major")
    svc.respond(n["quick"], actor="l2.dallas", body="On it.", now=chi(2026, 11, 2, 10, 0))
    # Around Veterans Day: 1 h on the 10th + 1.5 h on the 12th = 2.5 h: met late by 30 min.
    n["holiday"] = _open(svc, chi(2026, 11, 10, 17, 0))
    svc.respond(n["holiday"], actor="l2.delhi", body="Sorry for the wait.", now=chi(2026, 11, 12, 9, 30))
    # Reopened: cycle 0 met in 30 min, cycle 1 answered after 3 h (met late).
    n["reopened"] = _open(svc, chi(2026, 11, 3, 8, 0), urgency="minor")
    svc.respond(n["reopened"], actor="l2.dallas", body="Fixed the dial plan.", now=chi(2026, 11, 3, 8, 30))
    svc.resolve(n["reopened"], actor="l2.dallas", body="Dial plan fixed.", now=chi(2026, 11, 4, 9, 0))
    svc.reopen(n["reopened"], actor="carl@acme.example", reason="It is back.", now=chi(2026, 11, 5, 8, 0))
    svc.respond(n["reopened"], actor="l2.dallas", body="Checking again.", now=chi(2026, 11, 5, 11, 0))
    svc.resolve(n["reopened"], actor="l2.dallas", body="Fixed for good.", now=chi(2026, 11, 6, 9, 0))
    # Reclassified mid-month at L3: minor -> critical; the response is met under critical.
    n["reclassified"] = _open(svc, chi(2026, 11, 16, 8, 0), urgency="minor")
    svc.escalate(n["reclassified"], actor="l2.dallas", now=chi(2026, 11, 16, 9, 0))
    svc.classify(n["reclassified"], urgency="critical", actor="l3.eng", now=chi(2026, 11, 16, 10, 0))
    svc.respond(
        n["reclassified"], actor="l3.eng", body="Engineering is on it.", now=chi(2026, 11, 16, 10, 30)
    )
    svc.pause(n["reclassified"], actor="l3.eng", now=chi(2026, 11, 16, 12, 0), reason="need logs")
    svc.resume(n["reclassified"], actor="l3.eng", now=chi(2026, 11, 16, 14, 0))
    svc.recover(n["reclassified"], actor="l3.eng", now=chi(2026, 11, 17, 8, 0), body="Service restored.")
    svc.send_rca(
        n["reclassified"],
        actor="l3.eng",
        now=chi(2026, 11, 18, 9, 0),
        cause="A full disk.",
        extent="All bridges.",
        actions="Cleaned up.",
        plan="Monitor the disk.",
    )
    # Nobody answers: due Mon Nov 23 09:00; the sweep escalates at 10:00 (missed by 1 h).
    n["missed"] = _open(svc, chi(2026, 11, 20, 17, 0))
    sweep(svc.engine, svc.cfg, now=chi(2026, 11, 23, 10, 0))
    # Around Thanksgiving: 0.5 h on the 25th + 1 h on the 27th: met.
    n["thanksgiving"] = _open(svc, chi(2026, 11, 25, 17, 30), source="monitoring", urgency="critical")
    svc.respond(n["thanksgiving"], actor="l2.dallas", body="Restarting.", now=chi(2026, 11, 27, 9, 0))
    # Another customer's ticket: never in acme's report.
    n["other"] = _open(
        svc, chi(2026, 11, 9, 9, 0), customer="globex", system=None, reporter_email="gail@globex.example"
    )
    svc.respond(n["other"], actor="l2.dallas", body="Hello.", now=chi(2026, 11, 9, 9, 15))
    return n
