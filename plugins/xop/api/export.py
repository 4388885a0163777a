"""The filtered board as CSV: ``GET /api/tickets.csv`` with the list route's filters.

Every text cell goes through the audit reports' formula guard (:func:`xop.audit.csvsafe.neutralise`:
a cell starting with = + - @ tab or CR gets a leading quote), since subjects and owners are typed
by customers and staff and a spreadsheet would run them. Times are UTC ISO 8601 (named in the
header); the SLA figures are the board's: the running clock nearest to breach.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from xop.api import queries
from xop.api.deps import NowDep, ServiceDep, UserDep
from xop.api.filters import BoardFilter
from xop.audit.csvsafe import neutralise

router = APIRouter(prefix="/api")

PAGE = 500
COLUMNS = (
    "number",
    "customer",
    "system",
    "subject",
    "urgency",
    "level",
    "state",
    "owner",
    "opened_at (UTC)",
    "updated_at (UTC)",
    "breached",
    "next clock",
    "next clock status",
    "business seconds left",
    "next clock due (UTC)",
)


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def row(t: dict[str, Any]) -> list[Any]:
    c = t.get("next_clock") or {}
    cells = [
        t["number"],
        t["customer"],
        t["system"] or "",
        t["subject"],
        t["urgency"] or "",
        t["level"],
        t["state"],
        t.get("owner") or "",
        _iso(t["opened_at"]),
        _iso(t["updated_at"]),
        "yes" if t["breached"] else "no",
        c.get("name", ""),
        c.get("status", ""),
        c.get("remaining_seconds", ""),
        _iso(c.get("due_at")),
    ]
    return [neutralise(v) for v in cells]


def csv_lines(svc, f: queries.TicketFilter, now: datetime) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(COLUMNS)
    yield flush()
    after = None
    while True:  # each page from where the last one ended in the board's index (no offset)
        with svc.engine.connect() as conn:
            items = queries.list_tickets(
                conn, svc.cfg, f, now=now, limit=PAGE, after=after, counted=False
            ).items
        for t in items:
            writer.writerow(row(t))
        yield flush()
        if len(items) < PAGE:  # the last page (a search's count is capped, so not read from it)
            return
        after = queries.urgent_key(items[-1])


@router.get(
    "/tickets.csv",
    summary="The filtered board as CSV (the list's filters, most urgent first; formula-safe cells)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_tickets(svc: ServiceDep, _user: UserDep, now: NowDep, f: BoardFilter) -> StreamingResponse:
    return StreamingResponse(
        csv_lines(svc, f, now),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="xop-tickets-{now:%Y%m%d-%H%M}.csv"'},
    )
