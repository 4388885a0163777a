"""What every route of the portal shares: config, database, ticket service, keys, CSRF, clock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy import Engine

from xop.connections.portal_keys import SigningKeys
from xop.core.config import XopConfig
from xop.portal import store
from xop.portal.security import Csrf, client_of
from xop.tickets.service import TicketService

#: Largest request body of a form without files; the forms with files (:data:`UPLOAD_PATHS`)
#: may add ``intake.max_message_attachment_bytes`` (see :func:`body_limit`).
MAX_BODY = 64 * 1024
#: The forms that take files: a new ticket, a reply.
UPLOAD_PATHS = re.compile(r"^/(new|tickets/[^/]{1,40}/reply)$")
#: Input limits, as in the ticket API.
LIMITS = {"body": 20000, "note": 2000, "subject": 200, "description": 20000, "email": 254}


@dataclass
class Portal:
    cfg: XopConfig
    engine: Engine
    service: TicketService
    keys: SigningKeys
    csrf: Csrf

    def now(self) -> datetime:
        return datetime.now(UTC)

    def company_name(self, session: store.Session | None) -> str | None:
        if session is None:
            return None
        for c in self.cfg.customers:
            if c.id == session.customer:
                return c.name
        return None

    def log(self, request: Request, action: str, outcome: str, **kw: str | None) -> None:
        s = getattr(request.state, "session", None)
        kw.setdefault("email", s.email if s else None)
        kw.setdefault("customer", s.customer if s else None)
        store.record(
            self.engine, now=self.now(), client=client_of(request), action=action, outcome=outcome, **kw
        )


def body_limit(cfg: XopConfig, path: str) -> int:
    """The largest body a POST to ``path`` may have (the multipart framing fits in MAX_BODY)."""
    if UPLOAD_PATHS.match(path):
        return MAX_BODY + cfg.intake.max_message_attachment_bytes
    return MAX_BODY


def portal_of(request: Request) -> Portal:
    return request.app.state.portal
