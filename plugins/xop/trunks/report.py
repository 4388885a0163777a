"""The trunk lines of the daily audit report: each trunk's latest check and a 14-day MOS chart.

Read from ``trunk_checks`` (what the twice-daily trunk check wrote) for the days that end with
the audited day. :mod:`xop.audit.report` renders them; this module only reads and draws.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from xop.trunks.tables import trunk_checks

MOS_CHART_DAYS = 14


@dataclass(frozen=True)
class TrunkLine:
    """One trunk in the report: its latest check in the window and how the window went."""

    trunk: str
    target: str
    checked_at: datetime
    ok: bool
    quality: str | None
    mos: float | None
    loss_pct: float | None
    jitter_ms: float | None
    rtt_ms: float | None
    error: str | None
    checks: int  # runs in the window
    failed: int  # runs with a failed check
    mean_mos: float | None
    day_checks: int = 0  # runs on the audited day (``trunk_quality``'s ``day_start`` .. ``end``)
    day_failed: int = 0

    @property
    def status(self) -> str:
        if not self.ok:
            return "failed"
        return "degraded" if self.quality == "degraded" else "ok"


@dataclass(frozen=True)
class TrunkQuality:
    """A system's trunk lines and each trunk's MOS over the window (oldest first)."""

    system: str
    start: datetime
    end: datetime
    lines: tuple[TrunkLine, ...]
    mos: Mapping[str, tuple[tuple[datetime, float], ...]]

    @property
    def worst(self) -> str:
        statuses = {line.status for line in self.lines}
        return "failed" if "failed" in statuses else "degraded" if "degraded" in statuses else "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "lines": [{**asdict(line), "checked_at": line.checked_at.isoformat()} for line in self.lines],
            "mos": {
                trunk: [[at.isoformat(), value] for at, value in points] for trunk, points in self.mos.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrunkQuality:
        return cls(
            data["system"],
            datetime.fromisoformat(data["start"]),
            datetime.fromisoformat(data["end"]),
            tuple(
                TrunkLine(**{**line, "checked_at": datetime.fromisoformat(line["checked_at"])})
                for line in data["lines"]
            ),
            {
                trunk: tuple((datetime.fromisoformat(at), float(value)) for at, value in points)
                for trunk, points in data["mos"].items()
            },
        )


def trunk_quality(
    connection: Connection,
    system: str,
    *,
    end: datetime,
    days: int = MOS_CHART_DAYS,
    day_start: datetime | None = None,
) -> TrunkQuality | None:
    """The trunk lines of ``system`` for the ``days`` before ``end``; None if no trunk was checked.

    With ``day_start`` each line also counts the runs from then to ``end`` (the audited day).
    """
    start = end - timedelta(days=days)
    c = trunk_checks.c
    rows = connection.execute(
        select(c.trunk, c.kind, c.target, c.checked_at, c.ok, c.quality, c.mos, c.loss_pct, c.jitter_ms)
        .add_columns(c.rtt_ms, c.error)
        .where(c.system == system, c.checked_at >= start, c.checked_at < end)
        .order_by(c.trunk, c.checked_at, c.id)
    ).all()
    if not rows:
        return None
    by_trunk: dict[str, list] = {}
    for row in rows:
        by_trunk.setdefault(row.trunk, []).append(row)
    lines = []
    series: dict[str, tuple[tuple[datetime, float], ...]] = {}
    for trunk, checks in sorted(by_trunk.items()):
        runs: dict[datetime, bool] = {}
        for row in checks:
            runs[row.checked_at] = runs.get(row.checked_at, True) and row.ok
        latest_at = max(runs)
        latest = [row for row in checks if row.checked_at == latest_at]
        main = next((row for row in latest if row.kind == "call"), None) or next(
            (row for row in latest if not row.ok), latest[-1]
        )
        calls = [(row.checked_at, row.mos) for row in checks if row.kind == "call" and row.mos is not None]
        series[trunk] = tuple(calls)
        lines.append(
            TrunkLine(
                trunk=trunk,
                target=main.target,
                checked_at=latest_at,
                ok=runs[latest_at],
                quality=main.quality,
                mos=main.mos,
                loss_pct=main.loss_pct,
                jitter_ms=main.jitter_ms,
                rtt_ms=main.rtt_ms if main.kind == "call" else None,
                error=next((row.error for row in latest if not row.ok and row.error), None),
                checks=len(runs),
                failed=sum(not ok for ok in runs.values()),
                day_checks=sum(1 for at in runs if day_start is not None and at >= day_start),
                day_failed=sum(
                    1 for at, ok in runs.items() if day_start is not None and at >= day_start and not ok
                ),
                mean_mos=round(sum(mos for _, mos in calls) / len(calls), 2) if calls else None,
            )
        )
    return TrunkQuality(system, start, end, tuple(lines), series)


def mos_chart_png(
    quality: TrunkQuality, *, tz: str, degraded: float = 3.6, failed: float = 3.1
) -> bytes | None:
    """Line chart of each trunk's test-call MOS over the window, with the two thresholds."""
    if not any(quality.mos.values()):
        return None
    import matplotlib

    matplotlib.use("Agg")
    from zoneinfo import ZoneInfo

    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    zone = ZoneInfo(tz)
    figure = Figure(figsize=(8, 2.6), dpi=100)
    axes = figure.add_subplot()
    for trunk, points in sorted(quality.mos.items()):
        if points:
            axes.plot(
                [at.astimezone(zone) for at, _ in points],
                [mos for _, mos in points],
                marker="o",
                markersize=3,
                label=trunk,
            )
    axes.axhline(degraded, color="#b7791f", linewidth=0.8, linestyle="--", label=f"degraded < {degraded:g}")
    axes.axhline(failed, color="#c53030", linewidth=0.8, linestyle="--", label=f"failed < {failed:g}")
    axes.set_ylim(1.0, 4.6)
    axes.set_xlim(quality.start.astimezone(zone), quality.end.astimezone(zone))
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d", tz=zone))
    axes.set_ylabel("MOS (G.107)", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.set_title(
        f"{quality.system}: test-call MOS, last {(quality.end - quality.start).days} days", fontsize=9
    )
    axes.legend(fontsize=7, frameon=False, loc="lower left", ncols=3)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


__all__ = ["MOS_CHART_DAYS", "TrunkLine", "TrunkQuality", "mos_chart_png", "trunk_quality"]
