"""What every route of the portal shares: config, database, ticket service, keys, CSRF, clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy import Engine

from xop.connections.portal_keys import SigningKeys
from xop.core.config import XopConfig
from xop.portal import store
from xop.portal.security import Csrf, client_of
from xop.tickets.service import TicketService

#: Largest request body accepted (forms only: attachments are not offered yet).
MAX_BODY = 64 * 1024
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


def portal_of(request: Request) -> Portal:
    return request.app.state.portal
