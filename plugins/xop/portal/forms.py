"""Reading a posted form with limits, and the CSRF check every POST route starts with."""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import HTMLResponse
from pydantic import EmailStr, TypeAdapter, ValidationError

from xop.portal.pages import message
from xop.portal.security import CSRF_FIELD
from xop.portal.state import LIMITS, portal_of

_email = TypeAdapter(EmailStr)
_NEXT = re.compile(r"^/(new|tickets/XOP-\d{6,12})?$")
NUMBER = re.compile(r"^XOP-\d{6,12}$")


async def read_form(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=20)
    return {k: v for k, v in form.items() if isinstance(v, str)}


def csrf_refusal(
    request: Request, form: dict[str, str], action: str, ticket: str | None = None
) -> HTMLResponse | None:
    """None when the form carries this visitor's CSRF token; else the refusal page (logged)."""
    portal = portal_of(request)
    if portal.csrf.valid(request, form.get(CSRF_FIELD), portal.now()):
        return None
    portal.log(request, action, "csrf", ticket=ticket)
    return message(
        request,
        "This form has expired",
        "The form was not sent from this page, or it is too old. Go back, reload the page and try again.",
        status=403,
    )


def clean_email(value: str | None) -> str | None:
    """The address in lower case, or None if it is not one."""
    value = (value or "").strip()
    if not value or len(value) > LIMITS["email"]:
        return None
    try:
        return str(_email.validate_python(value)).lower()
    except ValidationError:
        return None


def clean_next(value: str | None) -> str:
    value = (value or "/").strip()
    return value if _NEXT.match(value) else "/"


def clean_number(value: str) -> str | None:
    value = value.strip().upper()
    return value if NUMBER.match(value) else None
