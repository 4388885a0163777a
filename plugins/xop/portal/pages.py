"""Server-rendered pages: one Jinja2 environment over ``portal/templates`` (autoescaped)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from xop.portal.security import ANON_COOKIE, CSRF_FIELD, HEADERS, ensure_visitor, set_cookie
from xop.portal.store import digest

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)  # compiled once at start, not on a customer's first request
    return env


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    """Render ``template`` with the visitor's CSRF token; sets the visitor cookie when new."""
    portal = request.app.state.portal
    visitor = ensure_visitor(request)
    now = datetime.now(UTC)
    values = {
        "csrf_field": CSRF_FIELD,
        "csrf": portal.csrf.token(digest(visitor)[:32], now),
        "session": getattr(request.state, "session", None),
        "company": portal.company_name(getattr(request.state, "session", None)),
        "support": portal.cfg.escalation.level2,
        **(context or {}),
    }
    html = environment().get_template(template).render(values)
    # The headers also here: an error page answered outside the middleware must carry them too.
    response = HTMLResponse(html, status_code=status, headers=HEADERS)
    if getattr(request.state, "new_visitor", None):
        set_cookie(
            response, ANON_COOKIE, request.state.new_visitor, max_age=portal.cfg.portal.session_hours * 3600
        )
    return response


def message(
    request: Request,
    title: str,
    text: str,
    *,
    status: int = 200,
    form: str | None = None,
    **extra: Any,
) -> HTMLResponse:
    """A page that says one thing (and may offer one form: ``signin``, ``renew`` or ``consume``)."""
    return render(
        request, "message.html", {"title": title, "text": text, "form": form, **extra}, status=status
    )
