"""Reading a posted form with limits, and the CSRF check every POST route starts with."""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import HTMLResponse
from pydantic import EmailStr, TypeAdapter, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from xop.portal.pages import message
from xop.portal.security import CSRF_FIELD
from xop.portal.state import LIMITS, portal_of
from xop.tickets.attachments import Content

_email = TypeAdapter(EmailStr)
_NEXT = re.compile(r"^/(new|tickets/XOP-\d{6,12})?$")
NUMBER = re.compile(r"^XOP-\d{6,12}$")


#: The file field of the new-ticket and reply forms.
FILES_FIELD = "attachments"
#: Files parsed at most from one form: beyond ``portal.max_attachments`` the form comes back
#: with its text and a clear error; beyond this the form is not read at all.
MAX_PARSED_FILES = 60


#: One file of a form (stored as it is by xop.tickets.attachments).
Upload = Content


class UnreadableForm(Exception):
    """The form could not be read (more files than :data:`MAX_PARSED_FILES`, a broken body)."""


async def read_form(request: Request) -> dict[str, str]:
    """The text fields of a form that has no file."""
    return (await _read(request, files=False))[0]


async def read_upload_form(request: Request) -> tuple[dict[str, str], list[Upload]]:
    """The text fields and the files of :data:`FILES_FIELD` (``UnreadableForm`` if unreadable)."""
    return await _read(request, files=True)


async def _read(request: Request, *, files: bool) -> tuple[dict[str, str], list[Upload]]:
    """The form's text fields and (with ``files``) the files of :data:`FILES_FIELD`.

    A file input left empty still sends a part without a name and without bytes: not a file.
    Starlette spools a large file to a temporary file that is gone once the form is closed;
    nothing reaches the ticket database or the attachments directory before the checks pass.
    """
    if not files:
        form = await request.form(max_files=0, max_fields=20)
        return {k: v for k, v in form.items() if isinstance(v, str)}, []
    try:
        form = await request.form(max_files=MAX_PARSED_FILES, max_fields=20)
    except HTTPException as exc:  # starlette's MultiPartException, as a 400
        raise UnreadableForm(str(exc.detail)) from exc
    try:
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        uploads = []
        for item in form.getlist(FILES_FIELD):
            if isinstance(item, UploadFile):
                data = await item.read()
                if item.filename or data:
                    uploads.append(
                        Upload(
                            item.filename or "attachment",
                            item.content_type or "application/octet-stream",
                            data,
                        )
                    )
        return fields, uploads
    finally:
        await form.close()


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
