"""Cookies, CSRF tokens and response headers of the portal.

- Cookies are ``HttpOnly; Secure; SameSite=Lax``. Browsers treat the loopback address as a
  secure context, so ``Secure`` cookies work on ``http://127.0.0.1`` (the tests, the demo) and
  nowhere else without TLS: the production portal sits behind HTTPS.
- Every form carries a CSRF token: an itsdangerous signature (portal key, its own salt, timed)
  over a hash of the visitor's cookie (the session's, or before sign-in an anonymous one). A
  form posted without it, with another visitor's, or with an old one is refused.
- Pages get a strict Content-Security-Policy: no script at all, styles and images from the
  portal only, forms post to the portal only, never framed.
"""

from __future__ import annotations

import hmac
from datetime import datetime

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from xop.connections.portal_keys import SigningKeys
from xop.core.config import XopConfig
from xop.notify.links import serializer
from xop.portal.store import digest, new_secret

SESSION_COOKIE = "xop_portal_session"
ANON_COOKIE = "xop_portal_visitor"
CSRF_SALT = "xop-portal-csrf"
CSRF_FIELD = "csrf"

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def set_cookie(response: Response, name: str, value: str, *, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="lax")


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="lax")


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class Csrf:
    """Issues and checks the CSRF token bound to the visitor's cookie."""

    def __init__(self, cfg: XopConfig, keys: SigningKeys, *, max_age_s: int) -> None:
        self.cfg, self.keys, self.max_age_s = cfg, keys, max_age_s

    def _serializer(self, now: datetime) -> URLSafeTimedSerializer:
        base = serializer(self.cfg, self.keys, CSRF_SALT, now=now)
        return URLSafeTimedSerializer(base.secret_keys, salt=CSRF_SALT)

    @staticmethod
    def binding(request: Request) -> str | None:
        value = request.cookies.get(SESSION_COOKIE) or request.cookies.get(ANON_COOKIE)
        return digest(value)[:32] if value else None

    def token(self, binding: str, now: datetime) -> str:
        return self._serializer(now).dumps(binding)

    def valid(self, request: Request, token: str | None, now: datetime) -> bool:
        binding = self.binding(request)
        if not token or not binding or len(token) > 500:
            return False
        try:
            value = self._serializer(now).loads(token, max_age=self.max_age_s)
        except BadSignature:
            return False
        return isinstance(value, str) and hmac.compare_digest(value, binding)


def ensure_visitor(request: Request) -> str:
    """The anonymous cookie value of this visitor (a new one if it has none); stored on the
    request so the response sets it and the page's forms are bound to it."""
    existing = request.cookies.get(SESSION_COOKIE) or request.cookies.get(ANON_COOKIE)
    if existing:
        return existing
    fresh = getattr(request.state, "new_visitor", None) or new_secret()
    request.state.new_visitor = fresh
    return fresh
