"""Limits of what a request may bring: the body size (413 while reading, not after) and the
validation errors it may provoke (422 that names where, never echoes what).

The body limit is plain ASGI middleware on the XOP app, so it acts before FastAPI reads a byte:
a declared ``Content-Length`` over the limit is refused at once, and a chunked body is counted
as it arrives and refused at the first chunk that crosses the limit; the rest is never read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import status
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _message(limit: int) -> str:
    return f"request body larger than {limit} bytes; not read"


class _TooLarge(StarletteHTTPException):
    """Raised from ``receive``: an HTTPException, so FastAPI's body parsing lets it through (it
    turns any other exception into a 400) and the app's handler answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(status.HTTP_413_CONTENT_TOO_LARGE, _message(limit), headers={"Connection": "close"})


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        {"detail": _message(limit)},
        status_code=status.HTTP_413_CONTENT_TOO_LARGE,
        headers={"Connection": "close"},
    )


class BodyLimit:
    """Refuse request bodies over ``limit()`` bytes with 413 (``limit`` is read per request)."""

    def __init__(self, app: ASGIApp, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False  # the server refuses a malformed length itself
            if too_big:
                await _too_large(limit)(scope, receive, send)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if started:  # a route that streams before reading cannot be answered again
                raise
            await _too_large(limit)(scope, receive, send)


def _printable(part: Any) -> Any:
    """A location part that JSON can carry: keys with lone surrogates are shown escaped."""
    if isinstance(part, str):
        try:
            part.encode("utf-8")
        except UnicodeEncodeError:
            return part.encode("utf-8", "backslashreplace").decode("ascii")
    return part


def safe_errors(errors: Any) -> list[dict[str, Any]]:
    """Validation errors with where and why, never the value: the value may be NaN, Infinity or a
    lone surrogate that JSON cannot carry, or simply something not worth echoing back."""
    out = []
    for err in errors:
        loc = [_printable(p) for p in err.get("loc", ())]
        msg = str(err.get("msg", "invalid value"))
        out.append({"loc": loc, "msg": _printable(msg), "type": str(err.get("type", "value_error"))})
    return out


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    body = {"detail": safe_errors(exc.errors())}
    return JSONResponse(body, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
