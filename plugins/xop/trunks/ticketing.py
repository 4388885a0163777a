"""What the trunk check writes on a monitoring ticket: the figures, the trend of the last checks.

Classification follows the seed (service affecting → critical, needs correction → major): a
trunk whose check failed (no answer, no audio, MOS below the failed threshold) is critical; one
whose test call passed with degraded quality (MOS, loss, jitter or level over a threshold) is
major. Both share the trunk's one ticket (``dedup_key`` ``trunk:<id>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select
from tabulate import tabulate

from xop.trunks.result import TrunkCheckResult
from xop.trunks.tables import format_results, trunk_checks

LOCAL = ZoneInfo("America/Chicago")
Health = Literal["ok", "degraded", "failed"]


def health(results: Sequence[TrunkCheckResult]) -> Health:
    """A trunk's state from one run's checks: any failure fails it; a degraded call degrades it."""
    if any(not r.ok for r in results):
        return "failed"
    if any(r.degraded for r in results):
        return "degraded"
    return "ok"


def when(now: datetime) -> str:
    return f"{now.astimezone(LOCAL):%Y-%m-%d %H:%M %Z} ({now:%H:%M} UTC)"


def recent_calls(connection: Connection, system: str, trunk: str, *, before: datetime, limit: int) -> list:
    """The trunk's last ``limit`` test calls before ``before``, oldest first."""
    c = trunk_checks.c
    rows = connection.execute(
        select(c.checked_at, c.ok, c.quality, c.mos, c.r_factor, c.loss_pct, c.jitter_ms, c.rtt_ms, c.error)
        .where(c.system == system, c.trunk == trunk, c.kind == "call", c.checked_at < before)
        .order_by(c.checked_at.desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))


def _figure(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_trend(history: Sequence, current: Sequence[TrunkCheckResult]) -> str:
    """A table of the previous test calls and this one: MOS, R, loss, jitter, round trip."""
    calls = [r for r in current if r.kind == "call"]
    rows = [
        [
            f"{row.checked_at.astimezone(LOCAL):%m-%d %H:%M}",
            row.quality or ("ok" if row.ok else "failed"),
            _figure(row.mos, 2),
            _figure(row.r_factor),
            _figure(row.loss_pct),
            _figure(row.jitter_ms),
            _figure(row.rtt_ms),
        ]
        for row in history
    ]
    rows += [
        [
            f"{r.checked_at.astimezone(LOCAL):%m-%d %H:%M} (now)",
            r.quality or ("ok" if r.ok else "failed"),
            _figure(r.mos, 2),
            _figure(r.r_factor),
            _figure(r.loss_pct),
            _figure(r.jitter_ms),
            _figure(r.rtt_ms),
        ]
        for r in calls
    ]
    if not rows:
        return "No test call figures yet."
    headers = ["checked (local)", "quality", "MOS", "R", "loss %", "jitter ms", "rtt ms"]
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)


def _figures(call: TrunkCheckResult | None) -> str:
    if call is None or call.mos is None:
        return ""
    return (
        f"Test call: MOS {call.mos:.2f} (R {call.r_factor:.1f}), loss {_figure(call.loss_pct)} % "
        f"({call.rtp_lost} of {call.rtp_sent} lost, {call.rtp_late} late, {call.rtp_duplicates} duplicated, "
        f"{call.rtp_reordered} reordered), jitter {_figure(call.jitter_ms)} ms, round trip "
        f"{_figure(call.rtt_ms)} ms, echo correlation {_figure(call.audio_correlation, 2)} at "
        f"{_figure(call.audio_level_db)} dBFS.\n"
    )


def problem_text(
    system: str, trunk: str, results: Sequence[TrunkCheckResult], now: datetime, trend: str
) -> tuple[str, str]:
    """Subject and description of a failed trunk's ticket (critical)."""
    failed = [r for r in results if not r.ok]
    first = failed[0]
    call = next((r for r in results if r.kind == "call"), None)
    subject = f"Trunk {trunk} on {system} failed its dial check: {first.kind} {first.error or 'failed'}"
    description = (
        f"The trunk dial check of {trunk} ({first.target}) on system {system} failed at {when(now)}.\n"
        "Voice service through this trunk is affected (critical).\n\n"
        f"{_figures(call)}"
        f"{format_results(results)}\n\n"
        f"Trend of the last test calls:\n{trend}\n"
    )
    return subject[:200], description


def degraded_text(
    system: str, trunk: str, results: Sequence[TrunkCheckResult], now: datetime, trend: str
) -> tuple[str, str]:
    """Subject and description of a trunk whose test call passed with degraded quality (major)."""
    call = next(r for r in results if r.degraded)
    subject = f"Trunk {trunk} on {system}: call quality degraded ({call.quality_note})"
    description = (
        f"The test call through {trunk} ({call.target}) on system {system} at {when(now)} was "
        f"answered and its audio came back, but its quality is degraded: {call.quality_note}.\n"
        "Callers can still hear each other; the trunk needs correction (major).\n\n"
        f"{_figures(call)}"
        f"{format_results(results)}\n\n"
        f"Trend of the last test calls:\n{trend}\n"
    )
    return subject[:200], description


def recovery_text(trunk: str, results: Sequence[TrunkCheckResult], now: datetime) -> str:
    parts = []
    for r in results:
        if r.kind == "options":
            parts.append(f"OPTIONS answered {r.sip_code} in {r.rtt_ms} ms")
        elif r.kind == "call":
            quality = f", MOS {r.mos:.2f}" if r.mos is not None else ""
            parts.append(
                f"test call answered {r.sip_code}, setup {r.setup_ms} ms, "
                f"{r.rtp_received}/{r.rtp_sent} RTP packets echoed{quality}"
            )
        else:
            parts.append(f"PRI {r.target.rsplit('/', 1)[-1]} up and active")
    return (
        f"Recovered: trunk {trunk} passed its dial check at {when(now)} ({'; '.join(parts)}). "
        "The ticket stays open until a person closes it."
    )


__all__ = [
    "Health",
    "degraded_text",
    "format_trend",
    "health",
    "problem_text",
    "recent_calls",
    "recovery_text",
    "when",
]
