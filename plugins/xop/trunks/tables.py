"""The ``trunk_checks`` table (one row per check of one trunk), batch recording, and a log table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from tabulate import tabulate

from xop.db.meta import metadata
from xop.db.types import UTCDateTime
from xop.trunks.result import TrunkCheckResult

_BigId = BigInteger().with_variant(Integer(), "sqlite")

trunk_checks = Table(
    "trunk_checks",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("trunk", String(100), nullable=False),
    Column("system", String(64), nullable=False),
    Column("checked_at", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("target", String(200), nullable=False, server_default=""),
    Column("sip_code", Integer),
    Column("rtt_ms", Float),
    Column("pdd_ms", Float),
    Column("setup_ms", Float),
    Column("rtp_sent", Integer),
    Column("rtp_received", Integer),
    Column("error", Text),
    # The test call's quality (issue 19, migration 0008_trunk_call_quality)
    Column("rtp_lost", Integer),
    Column("rtp_duplicates", Integer),
    Column("rtp_reordered", Integer),
    Column("rtp_late", Integer),
    Column("loss_pct", Float),
    Column("jitter_ms", Float),
    Column("delay_ms", Float),
    Column("r_factor", Float),
    Column("mos", Float),
    Column("audio_correlation", Float),
    Column("audio_level_db", Float),
    Column("quality", String(16)),
    Column("quality_note", Text),
    # The ticket this check opened or added a note to (human number, e.g. XOP-000123).
    Column("ticket_number", String(16)),
    CheckConstraint("kind IN ('options', 'call', 'pri')", name="kind_known"),
    CheckConstraint("quality IN ('good', 'degraded', 'failed')", name="quality_known"),
)
Index("ix_trunk_checks_trunk_checked_at", trunk_checks.c.trunk, trunk_checks.c.checked_at)
Index("ix_trunk_checks_system_checked_at", trunk_checks.c.system, trunk_checks.c.checked_at)

_ERROR_LIMIT = 2000
QUALITY_COLUMNS = (
    *("rtp_lost", "rtp_duplicates", "rtp_reordered", "rtp_late", "loss_pct", "jitter_ms", "delay_ms"),
    *("r_factor", "mos", "audio_correlation", "audio_level_db", "quality", "quality_note"),
)


def result_row(result: TrunkCheckResult, ticket_number: str | None = None) -> dict[str, object]:
    return {
        "trunk": result.trunk,
        "system": result.system,
        "checked_at": result.checked_at,
        "ok": result.ok,
        "kind": result.kind,
        "target": result.target,
        "sip_code": result.sip_code,
        "rtt_ms": result.rtt_ms,
        "pdd_ms": result.pdd_ms,
        "setup_ms": result.setup_ms,
        "rtp_sent": result.rtp_sent,
        "rtp_received": result.rtp_received,
        "error": result.error[:_ERROR_LIMIT] if result.error else None,
        **{name: getattr(result, name) for name in QUALITY_COLUMNS},
        "ticket_number": ticket_number,
    }


def record_results(
    connection: Connection,
    results: Sequence[TrunkCheckResult],
    *,
    ticket_numbers: Mapping[tuple[str, str], str] | None = None,
) -> int:
    """Insert all results in one (executemany) INSERT; ``ticket_numbers`` maps (system, trunk) → ticket.

    Runs in the caller's transaction. Returns the number of rows written.
    """
    if not results:
        return 0
    tickets = ticket_numbers or {}
    rows = [result_row(result, tickets.get((result.system, result.trunk))) for result in results]
    connection.execute(trunk_checks.insert(), rows)
    return len(results)


def _number(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def format_results(results: Sequence[TrunkCheckResult]) -> str:
    """The results as a fixed-width text table for the task log (failures, then degraded, first)."""
    ordered = sorted(results, key=lambda r: (r.ok, not r.degraded, r.system, r.trunk, r.kind))
    rows = [
        [
            r.system,
            r.trunk,
            r.kind,
            "OK" if r.ok and not r.degraded else "DEGRADED" if r.ok else "FAIL",
            r.target,
            _number(r.sip_code),
            _number(r.rtt_ms),
            _number(r.pdd_ms),
            _number(r.setup_ms),
            "-" if r.rtp_sent is None else f"{r.rtp_received or 0}/{r.rtp_sent}",
            _number(r.loss_pct),
            _number(r.jitter_ms),
            "-" if r.mos is None else f"{r.mos:.2f}",
            r.error or r.quality_note or "",
        ]
        for r in ordered
    ]
    headers = [
        *("system", "trunk", "kind", "result", "target", "code"),
        *("rtt ms", "pdd ms", "setup ms", "rtp", "loss %", "jitter ms", "MOS", "error"),
    ]
    failed = sum(not r.ok for r in results)
    degraded = sum(r.degraded for r in results)
    table = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)
    tail = f", {degraded} degraded" if degraded else ""
    return f"{table}\n{len(results)} checks, {failed} failed{tail}"


__all__ = ["format_results", "record_results", "result_row", "trunk_checks"]
