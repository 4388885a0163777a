"""One run of the monthly SLA report: plan it, compute every scope at once, save, email.

``plan_report`` settles the month (the ``month`` param, else the month before the run) and
the scopes (one customer, or every customer and XOP). ``send_reports`` reads the stored
clocks and events once for all scopes (:mod:`xop.reports.frames`), computes the figures
(:mod:`xop.reports.figures`), renders and saves each report (HTML, CSVs, PDF) under
``reports.report_dir/<month>/`` and writes one email per recipient to the outbox in one
transaction: the customer's report to its management contacts, XOP's to the management
(emergency) contact. The outbox keys are (run, scope, recipient): a retried task sends nothing
twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from xop.core.config import XopConfig
from xop.core.errors import InvalidInput
from xop.core.paths import REPO_ROOT
from xop.notify.mime import Attachment, InlineImage
from xop.notify.outbox import enqueue_rendered
from xop.reports.figures import ALL, Month, compute
from xop.reports.frames import load_frames
from xop.reports.render import render_sla_report, save_report
from xop.sla.policy import calendar

log = logging.getLogger(__name__)
XOP_NAME = "XOP Networks, all customers"


def first_business_day(cfg: XopConfig, instant: datetime) -> bool:
    """Whether ``instant``'s local day (support calendar) is the first business day of its month."""
    tz = ZoneInfo(cfg.calendar.timezone)
    local = instant.astimezone(tz)
    month_start = datetime(local.year, local.month, 1, tzinfo=tz)
    first = calendar(cfg, "business").add(month_start, timedelta(0)).astimezone(tz)
    return first.date() == local.date()


def plan_report(
    cfg: XopConfig,
    *,
    run_id: str,
    month_param: str | None,
    customer_param: str | None,
    now: datetime,
    logical_date: datetime | None = None,
) -> dict[str, Any]:
    tz = cfg.calendar.timezone
    if month_param:
        try:
            month = Month.parse(month_param, tz)
        except ValueError as exc:
            raise InvalidInput("month", str(exc)) from None
    else:
        month = Month.before(logical_date or now, tz)
    known = [c.id for c in cfg.customers]
    customer = (customer_param or "all").strip()
    if customer != "all" and customer not in known:
        raise InvalidInput(
            "customer", f"unknown customer {customer!r} (known: {', '.join(known) or 'none'}, or all)"
        )
    if month.start > now:
        raise InvalidInput("month", f"{month.label} has not started yet at {now.isoformat()}")
    return {
        "run_id": run_id,
        "month": month.label,
        "tz": tz,
        "customers": known if customer == "all" else [customer],
        "xop": customer == "all",
        "now": now.isoformat(),
    }


def _recipients(cfg: XopConfig, scope: str) -> tuple[str, list[str]]:
    if scope == ALL:
        return "internal", list(cfg.reports.management_recipients or (cfg.escalation.emergency.email,))
    return "customer", [c.email for c in cfg.customer(scope).management_contacts]


def report_dir(cfg: XopConfig, month: Month) -> Path:
    base = cfg.reports.report_dir
    return (base if base.is_absolute() else REPO_ROOT / base) / month.label


def send_reports(cfg: XopConfig, engine: Engine, plan: Mapping[str, Any]) -> dict[str, Any]:
    """Compute, save and queue the reports of ``plan``; returns what was written and queued."""

    month = Month.parse(plan["month"], plan["tz"])
    now = datetime.fromisoformat(plan["now"])
    as_of = now  # clocks still running are judged as they stand when the report is made
    only = plan["customers"][0] if not plan["xop"] else None
    first = month.shift(1 - cfg.reports.trend_months)
    with engine.connect() as conn:
        frames = load_frames(conn, first.start, month.end, customer=only)
    figures = compute(cfg, frames, month, as_of=as_of, scopes=list(plan["customers"]))
    scopes = list(plan["customers"]) + ([ALL] if plan["xop"] else [])
    directory = report_dir(cfg, month)
    written: dict[str, Any] = {}
    queued = 0
    with engine.begin() as conn:
        for scope in scopes:
            name = XOP_NAME if scope == ALL else cfg.customer(scope).name
            report = render_sla_report(figures[scope], name=name, subject_prefix=cfg.reports.subject_prefix)
            paths = save_report(report, directory, pdf=cfg.reports.pdf, chromium=cfg.reports.chromium)
            audience, recipients = _recipients(cfg, scope)
            attachments = [Attachment(n, c, "text/csv") for n, c in report.csv_files.items()]
            if "pdf" in paths:
                attachments.append(
                    Attachment(paths["pdf"].name, paths["pdf"].read_bytes(), "application/pdf")
                )
            image = InlineImage(report.chart_cid, report.chart_png, "image/png", "compliance-trend.png")
            queued += enqueue_rendered(
                conn,
                kind="sla_report",
                audience=audience,
                recipients=[(r, f"sla_report:{plan['run_id']}:{scope}:{r}") for r in recipients],
                subject=report.subject,
                text=report.text,
                html=report.html_email,
                now=now,
                attachments=attachments,
                inline_images=[image],
            )
            written[scope] = {k: str(v) for k, v in paths.items()} | {"recipients": recipients}
    log.info(
        "SLA reports of %s: %d saved under %s, %d email(s) queued",
        month.label,
        len(written),
        directory,
        queued,
    )
    return {"month": month.label, "reports": written, "queued": queued}


__all__ = ["first_business_day", "plan_report", "report_dir", "send_reports"]
