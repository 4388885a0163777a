"""The audit's CDR queries: the ``legs`` CTE for a system's CDR mapping, and its parameters.

Every timestamp becomes Unix seconds (UTC) in the database, once per row. A CDR column with a
time zone (``timestamptz``), or a naive one holding UTC (Asterisk ``usegmtime=yes``), converts
directly. A naive column holding local wall time (Asterisk's default) names its zone in the
mapping (``timezone``): its seconds are read as if UTC and the zone's offset is subtracted, with
the offset of each stretch between the zone's transitions passed as bound parameters. So the
same SQL runs on PostgreSQL and SQLite (which has no time zones), and a DST day is exact except
for the repeated hour of a fall-back night, which a naive column cannot tell apart (read as its
first occurrence).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection, Engine

from xop.audit.days import AuditDay
from xop.core.paths import SQL_DIR
from xop.core.specs.audit import CdrMapping


@cache
def _sql_file(name: str) -> str:
    """The query without its ``--`` comment lines (they may mention ``:names`` and braces)."""
    lines = (SQL_DIR / name).read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("--"))


def _epoch_sql(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        # date_part returns double precision directly: twice as fast as EXTRACT's numeric.
        return f"date_part('epoch', {column})"
    if dialect == "sqlite":
        # strftime('%s') is whole seconds; '%f' - '%S' adds the milliseconds. Exact, unlike
        # julianday() arithmetic, so a call at 00:00:00 stays on the right side of midnight.
        return (
            f"(CAST(strftime('%s', {column}) AS REAL)"
            f" + CAST(strftime('%f', {column}) AS REAL) - CAST(strftime('%S', {column}) AS INTEGER))"
        )
    raise NotImplementedError(f"CDR usage supports postgresql and sqlite, not {dialect!r}")


def zone_stretches(tz: str, start: datetime, end: datetime) -> list[tuple[float, int]]:
    """``[(naive_until, offset_s), ...]`` for wall-clock seconds of ``tz`` between two instants.

    Wall-clock seconds (local time read as if UTC) below ``naive_until`` of the first stretch
    have its UTC offset, and so on; the last stretch's ``naive_until`` is infinity. A transition
    at UTC instant T from offset o to o' starts the next stretch at wall time T + o, so the
    skipped hour of spring-forward and the repeated hour of fall-back both take the old offset.
    """
    zone = ZoneInfo(tz)

    def offset(at: datetime) -> int:
        return int(at.astimezone(zone).utcoffset().total_seconds())  # type: ignore[union-attr]

    stretches: list[tuple[float, int]] = []
    step = timedelta(minutes=15)  # every zone in tzdata changes offset on a quarter hour
    at, current = start, offset(start)
    while at < end:
        nxt = at + step
        if offset(nxt) != current:
            stretches.append(((nxt - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() + current, current))
            current = offset(nxt)
        at = nxt
    stretches.append((float("inf"), current))
    return stretches


def _timestamp_sql(dialect: str, column: str, mapping: CdrMapping) -> str:
    seconds = _epoch_sql(dialect, column)
    if mapping.timezone is None:
        return seconds
    # The zone's offset by stretch: bound parameters tz_until_<i> / tz_offset_<i> (usage_params).
    cases = " ".join(f"WHEN {seconds} < :tz_until_{i} THEN :tz_offset_{i}" for i in range(_MAX_STRETCHES))
    return f"({seconds} - CASE {cases} ELSE :tz_offset_last END)"


#: Stretches a scan window may hold: a window is a few days, a zone changes at most twice a year.
_MAX_STRETCHES = 3


def render_legs_sql(mapping: CdrMapping, engine_or_conn: Engine | Connection) -> str:
    """The ``legs`` CTE for ``mapping`` on this database (quoted names, dialect's epochs)."""
    dialect = engine_or_conn.dialect
    quote = dialect.identifier_preparer.quote
    table = quote(mapping.table)
    if mapping.schema_:
        table = f"{dialect.identifier_preparer.quote_schema(mapping.schema_)}.{table}"

    def seconds(column: str) -> str:
        return _timestamp_sql(dialect.name, quote(column), mapping)

    # end_source / answer_source: a timestamp's seconds, or the seconds count to derive it from.
    if mapping.end is not None:
        end_source, end_s = seconds(mapping.end), "end_source"
    else:
        end_source, end_s = quote(mapping.duration), "(start_s + end_source)"  # type: ignore[arg-type]
    if mapping.answer is not None:
        answer_source, answer_s = seconds(mapping.answer), "answer_source"
    else:
        answer_source, answer_s = quote(mapping.billsec), f"({end_s} - answer_source)"  # type: ignore[arg-type]
    return _sql_file("audit_cdr_legs.sql").format(
        start_epoch=seconds(mapping.start),
        end_source=end_source,
        end_s=end_s,
        answer_source=answer_source,
        answer_s=answer_s,
        disposition=quote(mapping.disposition),
        conference=quote(mapping.conference) if mapping.conference else "NULL",
        table=table,
        start=quote(mapping.start),
        fence="LIMIT -1 OFFSET 0" if dialect.name == "sqlite" else "OFFSET 0",
    )


def render_usage_sql(name: str, mapping: CdrMapping, engine_or_conn: Engine | Connection) -> str:
    """One of the ``audit_usage_*.sql`` queries with the ``legs`` CTE filled in."""
    return _sql_file(name).format(legs=render_legs_sql(mapping, engine_or_conn))


def usage_params(day: AuditDay, mapping: CdrMapping, dialect: str) -> dict[str, Any]:
    """Bound parameters: the day in epochs, a one-day-wider index range on the raw column, and
    the offsets of a local-time CDR column's zone over that range."""
    scan_from = day.start - timedelta(hours=mapping.max_call_hours) - timedelta(days=1)
    scan_to = day.end + timedelta(days=1)
    if dialect == "sqlite":
        # SQLite stores timestamps as text; compare with the same text form (UTC). The range is
        # a day wider on each side, so a column in local time is covered too.
        scan_from_v: Any = scan_from.strftime("%Y-%m-%d %H:%M:%S")
        scan_to_v: Any = scan_to.strftime("%Y-%m-%d %H:%M:%S")
    else:
        scan_from_v, scan_to_v = scan_from, scan_to
    params: dict[str, Any] = {
        "day_start": day.start_epoch,
        "day_end": day.end_epoch,
        "scan_from": scan_from_v,
        "scan_to": scan_to_v,
        "answered": mapping.answered_value,
    }
    if mapping.timezone is not None:
        stretches = zone_stretches(
            mapping.timezone, scan_from - timedelta(days=1), scan_to + timedelta(days=1)
        )
        if len(stretches) > _MAX_STRETCHES:
            raise ValueError(f"{mapping.timezone}: more offset changes in a few days than supported")
        transitions, (_, last_offset) = stretches[:-1], stretches[-1]
        for i in range(_MAX_STRETCHES):
            # An unused branch never matches (its bound is below every timestamp): ELSE decides.
            until, offset = transitions[i] if i < len(transitions) else (-1e18, last_offset)
            params[f"tz_until_{i}"], params[f"tz_offset_{i}"] = until, offset
        params["tz_offset_last"] = last_offset
    return params
