"""An Asterisk-style ``cdr`` table and generated call records, for the demo, tests and benchmark.

Column names and meanings follow Asterisk's ``cdr_pgsql`` schema (the subset the audit reads,
plus ``src``/``channel``/``uniqueid`` so rows look like the real thing).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table

from xop.audit.days import AuditDay

DISPOSITIONS = ("ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION")


def asterisk_cdr_table(metadata: MetaData, name: str = "cdr") -> Table:
    """Declare Asterisk's CDR table on ``metadata`` (a system database's, not ``xop.db``'s)."""
    table = Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("calldate", DateTime(timezone=True), nullable=False),
        Column("src", String(80), nullable=False, server_default=""),
        Column("dst", String(80), nullable=False, server_default=""),
        Column("channel", String(80), nullable=False, server_default=""),
        Column("disposition", String(45), nullable=False),
        Column("duration", Integer, nullable=False),
        Column("billsec", Integer, nullable=False),
        Column("uniqueid", String(150), nullable=False, server_default=""),
    )
    Index(f"ix_{name}_calldate", table.c.calldate)
    return table


def cdr_row(
    start: datetime,
    duration_s: int,
    *,
    answered_after_s: int | None,
    dst: str = "5000",
    src: str = "2145550100",
) -> dict:
    """One CDR row; ``answered_after_s=None`` is an unanswered attempt (``NO ANSWER``)."""
    if start.tzinfo is None:
        raise ValueError(f"naive datetime {start!r}: pass an aware datetime")
    answered = answered_after_s is not None
    return {
        "calldate": start.astimezone(UTC),
        "src": src,
        "dst": dst,
        "channel": f"SIP/trunk-{abs(hash((start, src))) % 10**8:08x}",
        "disposition": "ANSWERED" if answered else "NO ANSWER",
        "duration": duration_s,
        "billsec": duration_s - answered_after_s if answered else 0,
        "uniqueid": f"{start.timestamp():.6f}",
    }


def random_cdrs(day: AuditDay, n: int, *, seed: int = 6, conferences: int = 200) -> pd.DataFrame:
    """``n`` plausible legs starting in ``day`` (plus the previous evening's spill-over).

    Busy-hour shaped start times, ~80% answered, durations of a few minutes to an hour,
    conference numbers 7000..7000+conferences. Columns match :func:`asterisk_cdr_table`.
    """
    rng = np.random.default_rng(seed)
    length = day.end_epoch - day.start_epoch
    # Two business peaks (10:00 and 14:00 local-ish) over a flat base; 2% start the evening before.
    centre = rng.choice([0.42, 0.58], size=n) * length
    starts = np.where(rng.random(n) < 0.7, rng.normal(centre, 0.08 * length), rng.uniform(0, length, n))
    starts = np.clip(starts, -0.05 * length, length - 1) + day.start_epoch
    starts = np.floor(starts)
    disposition = rng.choice(np.array(DISPOSITIONS), size=n, p=[0.8, 0.1, 0.05, 0.03, 0.02])
    ring = rng.integers(1, 20, size=n)
    talk = np.where(disposition == "ANSWERED", rng.gamma(2.0, 300.0, size=n).astype(np.int64), 0)
    duration = ring + talk
    return pd.DataFrame(
        {
            "calldate": pd.to_datetime(starts, unit="s", utc=True),
            "src": "2145550100",
            "dst": (7000 + rng.integers(0, conferences, size=n)).astype(str),
            "channel": "SIP/trunk",
            "disposition": disposition,
            "duration": duration.astype(np.int64),
            "billsec": talk.astype(np.int64),
            "uniqueid": np.char.add("u", np.arange(n).astype(str)),
        }
    )


__all__ = ["DISPOSITIONS", "asterisk_cdr_table", "cdr_row", "random_cdrs"]
