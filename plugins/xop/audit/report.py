"""The audit report: one HTML email for all systems, and the same report saved as a file.

Top, before any table: why the report is red or amber, one line per reason (each finding with
its ticket, a failed backup, missing usage figures, a trunk that failed or degraded on the day),
red first; then one short block per system: its light, usage in one line, its backup status and
its trunk results of the day. Then per system: health findings with their tickets, trunks (with a
14-day MOS chart of the trunk check's test calls), backup, usage with the calls-per-hour chart
(PNG; ``cid:`` in the email, a ``data:`` URI in the saved file so it stands alone), and last the
per-conference table (the longest part, in a box that scrolls sideways on a narrow screen).
The HTML reads on a phone: a viewport, one column at most 800 px wide, tables of at most four
narrow columns. Usage CSVs go as attachments.

Ticket links come from ``link`` (:func:`xop.notify.links.staff_ticket_url` in the audit run):
the report goes to XOP's internal recipients (``audit.recipients`` or
``support.internal_recipients``) and covers every customer's systems, so it carries the plain
ticket URL, never a customer's signed portal link.
Templates: ``include/templates/audit/report.{html,txt}.j2``.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from xop.audit.days import AuditDay
from xop.audit.findings import SEVERITY_RANK, Finding, worst
from xop.audit.usage import UsageReport
from xop.notify.render import environment
from xop.trunks.report import TrunkQuality, mos_chart_png

Light = Literal["green", "amber", "red"]
LIGHT_COLOURS: dict[Light, str] = {"green": "#1f7a3a", "amber": "#b7791f", "red": "#c53030"}


@dataclass(frozen=True)
class BackupStatus:
    """What the report says about one system's backup. ``ok=None``: no backup configured."""

    ok: bool | None
    summary: str
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reason:
    """One line of "why this colour" at the top of the report."""

    light: Light
    system: str
    text: str
    ticket: str | None = None


@dataclass(frozen=True)
class SystemAudit:
    """Everything the audit learnt about one system in one run."""

    system: str
    name: str
    customer: str
    usage: UsageReport | None = None
    usage_error: str | None = None
    findings: Sequence[Finding] = ()
    #: ticket number per probe name, for the findings that opened or updated one
    tickets: Mapping[str, str] = field(default_factory=dict)
    backup: BackupStatus = BackupStatus(None, "no backup configured")
    #: the trunk check's figures of the last 14 days (issue 19); None when no trunk was checked
    trunks: TrunkQuality | None = None

    @property
    def light(self) -> Light:
        """Red: a critical finding, a failed backup, no usage figures or a trunk whose latest check
        failed. Amber: any other finding, or a trunk whose latest test call was degraded."""
        severity = worst(list(self.findings))
        trunks = self.trunks.worst if self.trunks else "ok"
        if severity == "critical" or self.backup.ok is False or self.usage_error or trunks == "failed":
            return "red"
        return "amber" if severity != "ok" or trunks == "degraded" else "green"

    @property
    def problems(self) -> list[Finding]:
        return sorted((f for f in self.findings if f.is_problem), key=lambda f: -SEVERITY_RANK[f.severity])

    def reasons(self, tz: str) -> list[Reason]:
        """Why this system is not green, one line each, red ones first (times shown in ``tz``)."""
        out: list[Reason] = []
        if self.usage_error:
            out.append(Reason("red", self.system, f"usage figures missing: {self.usage_error}"))
        for f in self.problems:
            light: Light = "red" if f.severity == "critical" else "amber"
            out.append(
                Reason(
                    light, self.system, f"{f.severity} · {f.probe}: {f.summary}", self.tickets.get(f.probe)
                )
            )
        if self.backup.ok is False:
            out.append(Reason("red", self.system, f"backup failed: {self.backup.summary}"))
        for t in self.trunks.lines if self.trunks else ():
            if t.status == "ok":
                continue
            at = t.checked_at.astimezone(ZoneInfo(tz)).strftime("%H:%M %Z")
            figures = f"MOS {t.mos:.2f}" if t.mos is not None else ""
            detail = "; ".join(x for x in (t.error, figures) if x)
            out.append(
                Reason(
                    "red" if t.status == "failed" else "amber",
                    self.system,
                    f"trunk {t.trunk} {t.status} at {at}{f': {detail}' if detail else ''} · {_day_checks(t)}",
                )
            )
        return sorted(out, key=lambda r: r.light != "red")

    def backup_line(self) -> str:
        """The backup status in one line."""
        if self.backup.ok is None:
            return f"backup: {self.backup.summary}"
        return f"backup: {'verified' if self.backup.ok else 'FAILED'} – {self.backup.summary}"

    def trunks_line(self) -> str:
        """The trunk results of the audited day in one line."""
        if not self.trunks:
            return "trunks: none checked"
        lines = self.trunks.lines
        counts = {s: sum(1 for t in lines if t.status == s) for s in ("failed", "degraded", "ok")}
        states = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        runs, failed = sum(t.day_checks for t in lines), sum(t.day_failed for t in lines)
        day = f"{runs - failed} of {runs} checks passed on the day" if runs else "no check on the day"
        return f"trunks: {states} (latest checks); {day}"

    def summary(self) -> dict[str, Any]:
        """JSON-ready line for ``audit_runs.summary``."""
        return {
            "system": self.system,
            "customer": self.customer,
            "light": self.light,
            "worst_severity": worst(list(self.findings)),
            "problems": len(self.problems),
            "tickets": dict(self.tickets),
            "backup_ok": self.backup.ok,
            "backup": self.backup.summary,
            "usage": self.usage.summary() if self.usage else None,
            "usage_error": self.usage_error,
            "trunks": self.trunks.worst if self.trunks else None,
        }


def _day_checks(t: Any) -> str:
    if not t.day_checks:
        return "no check on the day"
    return f"{t.day_failed} of {t.day_checks} checks failed on the day"


@dataclass(frozen=True)
class Image:
    cid: str
    png: bytes


@dataclass(frozen=True)
class CsvFile:
    filename: str
    content: bytes


@dataclass(frozen=True)
class RenderedReport:
    subject: str
    text: str
    html_email: str  # images as cid: references (send with ``images`` inline)
    html_file: str  # images inlined as data: URIs
    images: tuple[Image, ...]
    csv_files: tuple[CsvFile, ...]


# --------------------------------------------------------------------------------------------


def calls_per_hour_png(usage: UsageReport) -> bytes:
    """Bar chart of attempts and answered calls per local hour (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    hourly = usage.hourly
    figure = Figure(figsize=(8, 2.6), dpi=100)
    axes = figure.add_subplot()
    positions = range(len(hourly))
    axes.bar(positions, hourly["attempts"], color="#cbd2d9", label="attempts")
    axes.bar(positions, hourly["answered"], color="#2f6fb2", width=0.5, label="answered")
    axes.set_xticks(list(positions), [label.split(" ")[0][:2] for label in hourly["hour"]], fontsize=7)
    axes.set_xlabel(f"hour ({usage.day.tz})", fontsize=8)
    axes.set_ylabel("calls", fontsize=8)
    axes.tick_params(axis="y", labelsize=7)
    axes.set_title(f"{usage.system}: calls per hour, {usage.day}", fontsize=9)
    axes.legend(fontsize=7, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def render_report(
    day: AuditDay,
    systems: Sequence[SystemAudit],
    *,
    generated_at: datetime,
    subject_prefix: str = "[XOP audit]",
    ticket_url: str = "https://myxop.com/tickets/{number}",
    link: Callable[[str], str] | None = None,
) -> RenderedReport:
    """Render the report of one run. ``generated_at`` is aware (shown in the audited zone).

    ``link`` turns a ticket number into its URL (default: ``ticket_url`` filled in).
    """
    by_system = {
        s.system: Image(
            cid=f"calls-per-hour.{s.system}.{day.day.isoformat()}@xop-audit", png=calls_per_hour_png(s.usage)
        )
        for s in systems
        if s.usage is not None
    }
    mos_charts = {
        s.system: Image(cid=f"trunk-mos.{s.system}.{day.day.isoformat()}@xop-audit", png=png)
        for s in systems
        if s.trunks is not None and (png := mos_chart_png(s.trunks, tz=day.tz)) is not None
    }
    images = (*by_system.values(), *mos_charts.values())
    lights = [s.light for s in systems]
    overall: Light = "red" if "red" in lights else "amber" if "amber" in lights else "green"
    problems = sum(len(s.problems) for s in systems)
    subject = (
        f"{subject_prefix} {day.day.isoformat()}: {overall.upper()} – {len(systems)} system(s), "
        f"{problems} finding(s)"
    )
    reasons = sorted(
        (reason for s in systems for reason in s.reasons(day.tz)), key=lambda r: r.light != "red"
    )
    context = {
        "day": day,
        "systems": systems,
        "reasons": reasons,
        "overall": overall,
        "colours": LIGHT_COLOURS,
        "generated_at": generated_at,
        "subject": subject,
        "ticket_link": link or (lambda number: ticket_url.format(number=number)),
    }
    env = environment()
    html = env.get_template("audit/report.html.j2")
    cid_src = {name: f"cid:{image.cid}" for name, image in by_system.items()}
    data_src = {
        name: "data:image/png;base64," + base64.b64encode(image.png).decode()
        for name, image in by_system.items()
    }
    csv_files = tuple(
        CsvFile(name, content)
        for s in systems
        if s.usage is not None
        for name, content in s.usage.csv_files().items()
    )
    mos_cid = {name: f"cid:{image.cid}" for name, image in mos_charts.items()}
    mos_data = {
        name: "data:image/png;base64," + base64.b64encode(image.png).decode()
        for name, image in mos_charts.items()
    }
    return RenderedReport(
        subject=subject,
        text=env.get_template("audit/report.txt.j2").render(context),
        html_email=html.render(context, chart_src=cid_src, mos_chart_src=mos_cid),
        html_file=html.render(context, chart_src=data_src, mos_chart_src=mos_data),
        images=images,
        csv_files=csv_files,
    )


def save_report(report: RenderedReport, directory: Path, stem: str) -> Path:
    """Write the self-contained HTML (and the CSVs beside it); returns the HTML's path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.html"
    temporary = path.with_suffix(".html.tmp")
    temporary.write_text(report.html_file, encoding="utf-8")
    temporary.replace(path)  # a reader never sees half a report
    for csv in report.csv_files:
        (directory / csv.filename).write_bytes(csv.content)
    return path


# --------------------------------------------------------------------------------------------
# Between tasks: one system's results as JSON (the mapped task writes it, the report reads it)


def system_audit_to_json(audit: SystemAudit) -> dict[str, Any]:
    usage = None
    if audit.usage is not None:
        u = audit.usage
        usage = {
            "day": u.day.day.isoformat(),
            "tz": u.day.tz,
            "attempts": u.attempts,
            "answered": u.answered,
            "answered_seconds": u.answered_seconds,
            "acd_seconds": u.acd_seconds,
            "peak_ports": u.peak_ports,
            "peak_ports_at": u.peak_ports_at.isoformat() if u.peak_ports_at else None,
            "failures": u.failures.to_dict(orient="list"),
            "hourly": u.hourly.to_dict(orient="list"),
            "conferences": u.conferences.astype(object)
            .where(u.conferences.notna(), None)
            .to_dict(orient="list"),
        }
    return {
        "system": audit.system,
        "name": audit.name,
        "customer": audit.customer,
        "usage": usage,
        "usage_error": audit.usage_error,
        "findings": [f.as_dict() for f in audit.findings],
        "tickets": dict(audit.tickets),
        "backup": {
            "ok": audit.backup.ok,
            "summary": audit.backup.summary,
            "details": dict(audit.backup.details),
        },
        "trunks": audit.trunks.to_json() if audit.trunks else None,
    }


def system_audit_from_json(data: Mapping[str, Any]) -> SystemAudit:
    import pandas as pd

    usage = None
    if data.get("usage"):
        u = data["usage"]
        usage = UsageReport(
            system=data["system"],
            day=AuditDay.of(date.fromisoformat(u["day"]), u["tz"]),
            attempts=u["attempts"],
            answered=u["answered"],
            answered_seconds=u["answered_seconds"],
            acd_seconds=u["acd_seconds"],
            peak_ports=u["peak_ports"],
            peak_ports_at=datetime.fromisoformat(u["peak_ports_at"]) if u["peak_ports_at"] else None,
            failures=pd.DataFrame(u["failures"]),
            hourly=pd.DataFrame(u["hourly"]),
            conferences=pd.DataFrame(u["conferences"]),
        )
    backup = data.get("backup") or {}
    return SystemAudit(
        system=data["system"],
        name=data["name"],
        customer=data["customer"],
        usage=usage,
        usage_error=data.get("usage_error"),
        findings=[Finding(**f) for f in data.get("findings", [])],
        tickets=data.get("tickets", {}),
        backup=BackupStatus(backup.get("ok"), backup.get("summary", ""), backup.get("details", {})),
        trunks=TrunkQuality.from_json(data["trunks"]) if data.get("trunks") else None,
    )


__all__ = [
    "BackupStatus",
    "CsvFile",
    "Image",
    "Reason",
    "RenderedReport",
    "SystemAudit",
    "calls_per_hour_png",
    "render_report",
    "save_report",
    "system_audit_from_json",
    "system_audit_to_json",
]
