"""The customer portal: a FastAPI app of server-rendered pages, run by uvicorn as its own process
(``python -m xop.portal``), never inside Airflow's API server.

Customers are never Airflow users: they sign in by a one-time email link, or follow the signed
per-recipient link in a ticket email (:mod:`xop.notify.links`). Every access and action is in
``portal_access_log`` with the contact. See ``security`` for cookies, CSRF and headers.
"""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from xop.core.config import XopConfig
from xop.core.errors import ConfigError
from xop.notify.links import keys_of
from xop.portal import routes_auth, routes_tickets, store
from xop.portal.pages import STATIC, environment, message
from xop.portal.security import HEADERS, SESSION_COOKIE, Csrf
from xop.portal.state import MAX_BODY, UPLOAD_PATHS, Portal, body_limit
from xop.tickets.attachments import human_size
from xop.tickets.service import TicketService

log = logging.getLogger(__name__)


async def _discard(request: Request, length: int, limit: int) -> None:
    """Read and drop a body a little over its limit, so that a browser still sending it gets
    the page instead of a reset connection; far over (4x), it is not read at all."""
    if length > 4 * limit:
        return
    async for _ in request.stream():
        pass


def _too_large(request: Request, portal: Portal, length: int) -> Response:
    """The page for a form over its limit, read no further; it names the field to fix."""
    if UPLOAD_PATHS.match(request.url.path):
        limit = portal.cfg.intake.max_message_attachment_bytes
        text = (
            f"Attachments: the form is {human_size(length)}; the files on one ticket or reply may be "
            f"{human_size(limit)} together. Nothing was saved. Go back and attach smaller or fewer files."
        )
    else:
        text = f"The form is {human_size(length)}; the limit is {human_size(MAX_BODY)}. Nothing was saved."
    page = message(request, "The form is too large", text, status=413)
    page.headers["Connection"] = "close"  # the unread body is not waited for
    return page


def create_app(cfg: XopConfig, engine: Engine) -> FastAPI:
    """The portal app over the XOP database ``engine`` (already migrated)."""
    keys = keys_of(cfg)
    if keys is None:
        raise ConfigError(
            f"portal: no signing key: set the Airflow connection {cfg.portal.key_conn_id!r} "
            f"(password = key) or the environment variable {cfg.portal.key_env}"
        )
    cfg.portal.base(cfg.support.ticket_url)  # a ticket_url the portal cannot serve fails here
    environment()
    app = FastAPI(title="XOP Networks customer portal", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.portal = Portal(
        cfg,
        engine,
        TicketService(engine, cfg),
        keys,
        Csrf(cfg, keys, max_age_s=cfg.portal.session_hours * 3600),
    )

    @app.middleware("http")
    async def guard(request: Request, call_next) -> Response:
        """Body limit, the visitor's session, security headers and the server time of the page.

        The body limit acts on the declared length, before a byte is read: uvicorn (h11) never
        passes on more body than the Content-Length said, and a POST without one is refused."""
        started = time.perf_counter()
        portal: Portal = request.app.state.portal
        length = request.headers.get("content-length")
        if request.method == "POST" and (length is None or not length.isdigit()):
            response: Response = PlainTextResponse("Length required", status_code=411)
        else:
            sid = request.cookies.get(SESSION_COOKIE)
            request.state.session = (
                await run_in_threadpool(store.find_session, portal.engine, sid, now=portal.now())
                if sid
                else None
            )
            if request.method == "POST" and int(length) > body_limit(portal.cfg, request.url.path):
                what = "upload" if UPLOAD_PATHS.match(request.url.path) else "form"
                await run_in_threadpool(portal.log, request, what, "too_large", detail=f"{length} bytes")
                await _discard(request, int(length), body_limit(portal.cfg, request.url.path))
                response = _too_large(request, portal, int(length))
            else:
                response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.scheme == "https":  # behind the TLS proxy (uvicorn's proxy headers)
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return message(
                request, "Not found", "There is nothing here, or it is not yours to see.", status=404
            )
        if exc.status_code == 405:
            return message(request, "Not allowed", "That is not something this page does.", status=405)
        return message(
            request, "Request refused", "The request could not be handled.", status=exc.status_code
        )

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        ref = store.new_secret()[:10]
        log.exception("portal: error %s on %s %s", ref, request.method, request.url.path)
        return message(
            request,
            "Something went wrong",
            f"We could not complete this request (reference {ref}). Please try again, or call support.",
            status=500,
        )

    @app.get("/static/portal.css", include_in_schema=False)
    def stylesheet() -> FileResponse:
        return FileResponse(
            STATIC / "portal.css",
            media_type="text/css; charset=utf-8",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    app.include_router(routes_auth.router)
    app.include_router(routes_tickets.router)
    return app
