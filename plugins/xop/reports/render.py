"""The SLA report as a page: HTML (email and file), plain text, the trend chart, CSVs and a PDF.

Templates: ``include/templates/reports/sla_report.{html,txt}.j2``, rendered by the one Jinja2
environment of the notifications (:func:`xop.notify.render.environment`: its ``duration`` and
``pct`` filters, autoescaped HTML, strict undefined). The chart is a matplotlib PNG
(Agg backend, as the audit report's): ``cid:`` in the email, a ``data:`` URI in the saved file.
The CSVs are formula-safe (a cell starting with ``= + - @`` or a control character gets a
leading apostrophe, so a spreadsheet shows it as text instead of running it). The PDF is the
saved page printed by Debian's headless Chromium (``--print-to-pdf``): nothing is downloaded at
run time, and it is the same browser the page tests use.

A customer's report shows only its own tickets, and never an internal note, an actor or a
staff name: the figures carry none (ticket number, subject, clock, due, how late).
"""

from __future__ import annotations

import base64
import csv
import io
import math
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from xop.core.errors import XopError
from xop.core.vocabulary import CLOCK_LABELS, CLOCK_NAMES
from xop.notify.render import environment, local_time
from xop.reports.figures import ALL, SlaFigures

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


class PdfError(XopError):
    """The PDF of a report could not be printed."""


@dataclass(frozen=True)
class RenderedSlaReport:
    scope: str
    subject: str
    text: str
    html_email: str
    html_file: str
    chart_cid: str
    chart_png: bytes
    csv_files: dict[str, bytes]


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not evaluate: text starting like a formula gets a quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(str(c)) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        writer.writerow(["" if v is None or v is pd.NaT else safe_cell(v) for v in row])
    return buffer.getvalue().encode("utf-8")


def trend_png(figures: SlaFigures, title: str) -> bytes:
    """Line chart: compliance per clock over the trend months (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    trend = figures.trend
    figure = Figure(figsize=(8, 3), dpi=100)
    axes = figure.add_subplot()
    x = range(len(trend.index))
    for name in CLOCK_NAMES:
        values = trend[name].to_numpy(dtype=float) * 100 if name in trend else []
        axes.plot(x, values, marker="o", markersize=3, linewidth=1.4, label=CLOCK_LABELS[name])
    axes.set_xticks(list(x), [label[2:] for label in trend.index], fontsize=7)
    axes.set_ylim(0, 105)
    axes.set_ylabel("compliance %", fontsize=8)
    axes.tick_params(axis="y", labelsize=7)
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=6, frameon=False, loc="lower left", ncol=3)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _local(value: Any, tz: str) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return ""
    return local_time(pd.Timestamp(value).to_pydatetime(), tz)


def _none(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def report_context(figures: SlaFigures, title: str) -> dict[str, Any]:
    tz = figures.month.tz
    rows = [
        {
            "clock": CLOCK_LABELS[r["name"]],
            "name": r["name"],
            "urgency": r["urgency"],
            "tickets": int(r["tickets"]),
            "met": int(r["met"]),
            "met_late": int(r["met_late"]),
            "missed": int(r["missed"]),
            "skipped": int(r["skipped"]),
            "compliance": _none(r["compliance"]),
            "median": _none(r["median_seconds"]),
            "p90": _none(r["p90_seconds"]),
            "total": r["urgency"] == "all",
        }
        for r in figures.by_clock.to_dict("records")
    ]
    breaches = [
        {
            "number": b["number"],
            "subject": b["subject"],
            "clock": CLOCK_LABELS[b["name"]],
            "urgency": b["urgency"],
            "status": "met late" if b["status"] == "met_late" else "missed",
            "due": _local(b["due_at"], tz),
            "late": int(b["late_seconds"]),
        }
        for b in figures.breaches.to_dict("records")
    ]
    trend = [
        {"month": label, "values": [_none(figures.trend.loc[label, n]) for n in CLOCK_NAMES]}
        for label in figures.trend.index
    ]
    return {
        "title": title,
        "f": figures,
        "tz": tz,
        "rows": rows,
        "breaches": breaches,
        "trend": trend,
        "trend_clocks": [CLOCK_LABELS[n] for n in CLOCK_NAMES],
        "by_system": figures.by_system.to_dict("records"),
        "by_source": figures.by_source.to_dict("records"),
        "generated": _local(pd.Timestamp(figures.as_of), tz),
        "internal": figures.scope == ALL,
    }


def csv_files(figures: SlaFigures, stem: str) -> dict[str, bytes]:
    tz = figures.month.tz
    clocks = figures.by_clock.rename(columns={"name": "clock"})
    breaches = figures.breaches.assign(
        due_at=figures.breaches["due_at"].map(lambda v: _local(v, tz)),
        met_at=figures.breaches["met_at"].map(lambda v: _local(v, tz)),
    ).rename(columns={"name": "clock"})
    trend = figures.trend.rename_axis("month").reset_index()
    return {
        f"{stem}-clocks.csv": csv_bytes(clocks),
        f"{stem}-breaches.csv": csv_bytes(breaches),
        f"{stem}-trend.csv": csv_bytes(trend),
        f"{stem}-tickets-by-system.csv": csv_bytes(figures.by_system),
        f"{stem}-tickets-by-source.csv": csv_bytes(figures.by_source),
    }


def render_sla_report(
    figures: SlaFigures, *, name: str, subject_prefix: str = "[XOP SLA]"
) -> RenderedSlaReport:
    """Render one scope's report; ``name`` is the customer's name (or "XOP Networks, all customers")."""
    label = figures.month.label
    title = f"SLA compliance {label}: {name}"
    stem = f"sla-{label}-{'xop' if figures.scope == ALL else figures.scope}"
    png = trend_png(figures, f"{name}: compliance per clock, last {len(figures.trend.index)} months")
    cid = f"{stem}.trend@xop-reports"
    context = report_context(figures, title)
    judged = figures.by_clock[figures.by_clock["urgency"] == "all"]
    met, total = int(judged["met"].sum()), int(judged[["met", "met_late", "missed"]].sum().sum())
    subject = (
        f"{subject_prefix} {label} {name}: {met}/{total} clocks met"
        if total
        else (f"{subject_prefix} {label} {name}: no clock decided")
    )
    env = environment()
    html = env.get_template("reports/sla_report.html.j2")
    data_uri = "data:image/png;base64," + base64.b64encode(png).decode()
    return RenderedSlaReport(
        scope=figures.scope,
        subject=subject,
        text=env.get_template("reports/sla_report.txt.j2").render(context),
        html_email=html.render(context, chart_src=f"cid:{cid}"),
        html_file=html.render(context, chart_src=data_uri),
        chart_cid=cid,
        chart_png=png,
        csv_files=csv_files(figures, stem),
    )


def print_pdf(
    html_path: Path, pdf_path: Path, *, chromium: str = "/usr/bin/chromium", timeout: float = 120
) -> Path:
    """Print a saved, self-contained HTML page to PDF with headless Chromium."""
    if not Path(chromium).exists():
        raise PdfError(f"reports.chromium: {chromium} does not exist; apt-get install -y chromium")
    tmp = pdf_path.with_suffix(".pdf.tmp")
    with tempfile.TemporaryDirectory(prefix="xop-pdf-") as profile:
        cmd = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-pdf-header-footer",
            f"--user-data-dir={profile}",
            f"--print-to-pdf={tmp}",
            html_path.resolve().as_uri(),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or not tmp.exists() or tmp.read_bytes()[:5] != b"%PDF-":
        raise PdfError(f"chromium could not print {html_path} (exit {done.returncode}): {done.stderr[-500:]}")
    tmp.replace(pdf_path)
    return pdf_path


def save_report(report: RenderedSlaReport, directory: Path, *, pdf: bool, chromium: str) -> dict[str, Path]:
    """Write the HTML (and the CSVs and the PDF beside it); returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = next(iter(report.csv_files)).rsplit("-clocks.csv", 1)[0]
    html_path = directory / f"{stem}.html"
    tmp = html_path.with_suffix(".html.tmp")
    tmp.write_text(report.html_file, encoding="utf-8")
    tmp.replace(html_path)
    paths = {"html": html_path}
    for name, content in report.csv_files.items():
        (directory / name).write_bytes(content)
    if pdf:
        paths["pdf"] = print_pdf(html_path, directory / f"{stem}.pdf", chromium=chromium)
    return paths


__all__ = [
    "PdfError",
    "RenderedSlaReport",
    "csv_bytes",
    "print_pdf",
    "render_sla_report",
    "safe_cell",
    "save_report",
    "trend_png",
]
