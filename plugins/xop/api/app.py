"""The FastAPI app the Airflow plugin mounts at ``/xop``: the REST API, its OpenAPI document and
the ticket page (static files in ``xop/web``, no build step, nothing fetched from elsewhere).

Every route, the page and the OpenAPI document included, needs an authenticated Airflow user.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from xop.api import export, intake_routes, limits, routes, sla_reports
from xop.api.deps import UserDep
from xop.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from xop.api.idempotency import IdempotencyKeyInProgress
from xop.core.config import load_config
from xop.core.errors import InvalidInput, InvalidTransition, TicketError, TicketNotFound

WEB = Path(__file__).resolve().parents[1] / "web"
#: The page's files; nothing else in the folder is served.
STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "reports.js": "text/javascript; charset=utf-8",
    "intake.js": "text/javascript; charset=utf-8",  # i14: quarantine, a ticket's mail
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
#: Same-origin everything: no CDN, no inline script; the Airflow UI may frame the page.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'self'; base-uri 'self'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

DESCRIPTION = """\
Trouble tickets of XOP Networks with their SLA clocks.

Authenticate with an Airflow token: `Authorization: Bearer <token>` (get one from the auth
manager, e.g. `POST /auth/token` with the simple auth manager) or the Airflow UI's `_token`
cookie. Add an `Idempotency-Key` header to POSTs so a retried request acts only once.
"""


def _where(field: str) -> str:
    if field == "number":
        return "path"
    if field == IDEMPOTENCY_HEADER:
        return "header"
    return "body"


def _install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, limits.validation_error)  # type: ignore[arg-type]

    @app.exception_handler(InvalidInput)
    async def invalid_input(_: Request, exc: InvalidInput) -> JSONResponse:
        return JSONResponse(
            {"detail": [{"loc": [_where(exc.field), exc.field], "msg": str(exc), "type": "invalid_input"}]},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(TicketNotFound)
    async def not_found(_: Request, exc: TicketNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)

    @app.exception_handler(IdempotencyKeyInProgress)
    @app.exception_handler(InvalidTransition)
    @app.exception_handler(TicketError)
    async def refused(_: Request, exc: TicketError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # A person opening the page without an Airflow session gets a way to sign in, not JSON.
        if exc.status_code == status.HTTP_401_UNAUTHORIZED and request.url.path.rstrip("/") == (
            request.scope.get("root_path", "").rstrip("/")
        ):
            return HTMLResponse(_sign_in_page(request), status_code=401, headers=PAGE_HEADERS)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _sign_in_page(request: Request) -> str:
    try:
        from airflow.api_fastapi.app import get_auth_manager

        login = get_auth_manager().get_url_login(next_url=str(request.url))
    except Exception:  # no auth manager initialised: still tell the person what to do
        login = "/"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>XOP tickets: sign in</title>"
        "</head><body><main><h1>XOP tickets</h1><p>Sign in to Airflow to see the tickets.</p>"
        f"<p><a href='{html.escape(login, quote=True)}'>Sign in</a></p></main></body></html>"
    )


def _max_body_bytes(app: FastAPI) -> int:
    if app.state.max_body_bytes is None:
        service = app.state.ticket_service
        cfg = service.cfg if service is not None else load_config()
        app.state.max_body_bytes = cfg.api.max_body_bytes
    return app.state.max_body_bytes


def create_app() -> FastAPI:
    """The ticket app. ``app.state.ticket_service`` and ``app.state.clock`` may be set by tests;
    by default the service is built from the ``xop_db`` connection on first use."""
    app = FastAPI(
        title="XOP tickets",
        description=DESCRIPTION,
        version="1",
        openapi_url=None,  # served below, behind authentication
        docs_url=None,  # Swagger UI would load scripts from a CDN
        redoc_url=None,
    )
    app.state.ticket_service = None
    app.state.clock = None
    app.state.max_body_bytes = None  # None: ``api.max_body_bytes`` of the service's config
    app.add_middleware(limits.BodyLimit, limit=lambda: _max_body_bytes(app))
    _install_error_handlers(app)
    app.include_router(routes.router)
    app.include_router(export.router)  # i16: the filtered board as CSV
    app.include_router(sla_reports.router)  # i17: clock timeline and compliance view
    app.include_router(intake_routes.router)  # i14: mail quarantine, attachments, bounces

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(request: Request, _user: UserDep) -> dict[str, Any]:
        doc = dict(app.openapi())
        if root := request.scope.get("root_path", "").rstrip("/"):
            doc["servers"] = [{"url": root}]
        return doc

    @app.get("/", include_in_schema=False)
    def page(_user: UserDep) -> FileResponse:
        return FileResponse(WEB / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str, _user: UserDep) -> FileResponse:
        if name not in STATIC:
            raise StarletteHTTPException(status.HTTP_404_NOT_FOUND, f"no file {name!r}")
        return FileResponse(WEB / name, media_type=STATIC[name], headers=PAGE_HEADERS)

    return app
