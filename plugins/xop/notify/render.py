"""Rendering the notification emails from the Jinja2 templates in ``include/templates/email``.

Each kind of email has ``email/<kind>.txt.j2`` and ``email/<kind>.html.j2`` (sharing the
layouts ``email/base.*.j2`` and the macros ``email/macros.*.j2``) and one subject macro in
``email/subjects.j2``. The context variables of each kind are documented at the top of its
templates. HTML is autoescaped; a value that is already safe HTML must be passed as
``markupsafe.Markup`` (the audit report's prebuilt body is).

Missing context variables are errors (``StrictUndefined``), so a caller that forgets the
contact details fails in its tests instead of sending an email without them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import humanize
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from xop.core.config import load_config
from xop.core.paths import REPO_ROOT
from xop.notify.links import ticket_link

Audience = Literal["customer", "internal"]

#: Every kind of email and who reads it (customer or XOP staff).
KINDS: dict[str, Audience] = {
    "ticket_opened": "customer",
    "ticket_updated": "customer",
    "ticket_escalated": "customer",
    "ticket_recovered": "customer",
    "rca": "customer",
    "ticket_resolved": "customer",
    "ticket_closed": "customer",
    "ticket_note": "internal",
    "sla_warning": "internal",
    "sla_breach": "internal",
    "sla_escalations": "internal",
    "emergency": "internal",
    "emergency_call": "internal",
    "publication": "customer",
    "dag_failure": "internal",
    "portal_signin": "customer",
    "portal_link": "customer",
}

#: Business hours are US Central; every time in an email is shown there, with CST/CDT.
CENTRAL = ZoneInfo("America/Chicago")

_REPO_ROOT = REPO_ROOT


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def templates_dir() -> Path:
    """``$XOP_TEMPLATES`` if set, else ``<repo>/include/templates``."""
    return Path(os.environ.get("XOP_TEMPLATES") or _REPO_ROOT / "include" / "templates")


def central_time(value: datetime, fmt: str = "%a %Y-%m-%d %H:%M %Z") -> str:
    """``Mon 2026-03-09 09:00 CDT``: an aware time shown in America/Chicago with its abbreviation."""
    if not isinstance(value, datetime):
        raise TypeError(f"central: expected a datetime, got {value!r}")
    if value.tzinfo is None:
        raise ValueError(f"central: naive datetime {value!r}; pass an aware (UTC) datetime")
    return value.astimezone(CENTRAL).strftime(fmt)


def local_time(value: datetime | None, tz: str, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """An aware time in the zone ``tz`` with the zone named; empty for None."""
    return "" if value is None else value.astimezone(ZoneInfo(tz)).strftime(fmt)


def format_number(value: float | None, digits: int = 1) -> str:
    """``12,345.6``; an en dash for a figure that could not be computed."""
    return "–" if value is None else f"{value:,.{digits}f}"


def percent_or_dash(fraction: float | None) -> str:
    """0.987 → ``98.7 %``; an en dash for None (or NaN: a ratio of nothing)."""
    return "–" if fraction is None or math.isnan(fraction) else f"{fraction * 100:.1f} %"


def business_duration(seconds: float | None) -> str:
    """Seconds of business time as ``3 h 05 min`` (``45 s`` under a minute); an en dash for
    None or NaN (a median of nothing)."""
    if seconds is None or math.isnan(seconds):
        return "–"
    total = round(float(seconds))
    h, rest = divmod(total, 3600)
    m = rest // 60
    return f"{h} h {m:02d} min" if h else f"{m} min" if m else f"{total} s"


def human_size(size: int) -> str:
    """1536 → ``1.5 KiB`` (binary units, as ``ls -lh`` shows them)."""
    return humanize.naturalsize(size, binary=True, format="%.1f")


def percent(fraction: float) -> str:
    """0.75 → ``75 %``."""
    return f"{fraction * 100:.0f} %"


def nl2br(text: str) -> Markup:
    """Escape ``text`` and keep its line breaks in HTML."""
    return Markup("<br>\n").join(escape(line) for line in str(text).splitlines())


def paragraphs(text: str) -> list[str]:
    """Split free text (a reply, an RCA section) into paragraphs at blank lines."""
    blocks = [b.strip() for b in str(text).replace("\r\n", "\n").split("\n\n")]
    return [b for b in blocks if b]


def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith((".html.j2", ".html"))


@lru_cache(maxsize=4)
def _environment(path: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(path),
        autoescape=_autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        central=central_time,
        percent=percent,
        nl2br=nl2br,
        paragraphs=paragraphs,
        local=local_time,
        num=format_number,
        pct=percent_or_dash,
        duration=business_duration,
        size=human_size,
    )
    return env


def environment() -> Environment:
    """The Jinja2 environment over :func:`templates_dir` (cached per directory)."""
    return _environment(str(templates_dir()))


def _ticket_number(context: Mapping[str, Any]) -> str | None:
    ticket = context.get("ticket")
    return ticket.get("number") if isinstance(ticket, Mapping) else getattr(ticket, "number", None)


def render_email(
    kind: str, context: Mapping[str, Any], *, recipient: str | None = None, at: datetime | None = None
) -> RenderedEmail:
    """Render the subject, plain text and HTML of one email of ``kind``.

    With ``recipient``, a customer email about a ticket links to it with the recipient's own
    signed portal link (:func:`xop.notify.links.ticket_link`, valid from ``at``) instead of the
    plain ``ticket_url``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown email kind {kind!r}; known: {', '.join(KINDS)}")
    env = environment()
    cfg = load_config()
    # The footer signs with the configured support identity unless the email names its own
    # (a ticket's owning level).
    # A watcher's copy (xop.tickets.notices.watcher_copies) reads as internal: XOP's footer, the
    # owner named, and no customer portal link signed for a staff address; the footer says whose
    # copy it is (``copy_of``: who reads the original, "customer" or "internal").
    audience = "internal" if context.get("watching") else KINDS[kind]
    values = {
        "support": cfg.support.identity,
        **context,
        "audience": audience,
        "kind": kind,
        "copy_of": KINDS[kind],
    }
    number = _ticket_number(context)
    if recipient and number and audience == "customer":
        values["ticket_url"] = ticket_link(cfg, recipient, str(number), now=at)
    subjects = env.get_template("email/subjects.j2").make_module(values)
    subject = " ".join(str(getattr(subjects, kind)()).split())
    text = env.get_template(f"email/{kind}.txt.j2").render(values)
    html = env.get_template(f"email/{kind}.html.j2").render(values)
    return RenderedEmail(subject=subject, text=text, html=html)
