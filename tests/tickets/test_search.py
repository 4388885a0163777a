"""Free-text search on SQLite (FTS5) and PostgreSQL (tsvector GIN indexes): number, subject,
description, public updates and internal notes, combined with the list's other filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from xop.api import queries
from xop.core.errors import InvalidInput
from xop.tickets import TicketService
from xop.tickets.search import matches, tokens
from xop.tickets.tables import tickets

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("America/Chicago")).astimezone(UTC)


@pytest.fixture
def svc(db_engine, xop_config) -> TicketService:
    return TicketService(db_engine, xop_config)


def _open(svc, subject, description="", **kw):
    return svc.open(
        customer=kw.pop("customer", "acme"),
        subject=subject,
        description=description,
        reporter_name="Carl",
        reporter_email="carl@acme.example",
        now=T0,
        **kw,
    )


def _find(svc, q, **filters) -> list[str]:
    f = queries.TicketFilter(q=q, **filters)
    with svc.engine.connect() as conn:
        total, items = queries.list_tickets(conn, svc.cfg, f, now=T0 + timedelta(hours=1), limit=50)
    assert total == len(items)
    return sorted(t["number"] for t in items)


def test_search_finds_every_field_and_combines_with_filters(svc):
    bridge = _open(svc, "Bridge drops callers", "Every conference drops after ten minutes").number
    prompts = _open(svc, "Wrong prompts", "Greeting in Dutch instead of English").number
    other = _open(svc, "Echo on the line", "Heavy echo", customer="globex").number
    svc.respond(prompts, actor="lena", body="Rerouting to the spare SBC in Frankfurt", now=T0)
    svc.note(other, actor="lena", body="Suspect the carrier kestrel trunk", now=T0)

    assert _find(svc, "bridge") == [bridge]  # subject
    assert _find(svc, "CONFERENCE minutes") == [bridge]  # description, every word, any case
    assert _find(svc, "frankfurt") == [prompts]  # a public update
    assert _find(svc, "kestrel") == [other]  # an internal note
    assert _find(svc, "bri") == [bridge]  # the last word as a prefix
    assert _find(svc, bridge) == [bridge]  # the number
    assert _find(svc, "drops nonsenseword") == []
    assert _find(svc, "echo", customer="globex") == [other]
    assert _find(svc, "echo", customer="acme") == []
    assert _find(svc, "echo", states=("closed",)) == []
    # an edit of the subject is found under its new words only (SQLite: the update trigger)
    with svc.engine.begin() as conn:
        conn.execute(sa.update(tickets).where(tickets.c.number == bridge).values(subject="Conference outage"))
    assert _find(svc, "outage") == [bridge] and _find(svc, "callers") == []
    # deleting a ticket removes it from the index (SQLite: the delete triggers)
    with svc.engine.begin() as conn:
        conn.execute(sa.delete(tickets).where(tickets.c.number == other))
    assert _find(svc, "kestrel") == []


def test_query_words_are_tokens_never_syntax(svc):
    _open(svc, 'Quote "test" AND OR NOT * : & | ! (x)')
    assert tokens('"test" AND (x) *') == ["test", "and", "x"]
    assert len(_find(svc, 'test" OR "x')) == 1  # operators are plain words
    assert _find(svc, "'; DROP TABLE tickets; --") == []
    for bad in ("", "  *** ", "x" * 201):
        with pytest.raises(InvalidInput):
            matches("sqlite", bad)
