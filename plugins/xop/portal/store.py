"""The portal's own rows: one-time sign-in tokens, sessions, rate-limit counters, access log.

Tokens and session ids are random (256 bits) and stored only as their SHA-256, so a copy of the
database does not sign anyone in. Every function takes ``now``: tests drive the clock.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from xop.core.specs.portal import RateLimit
from xop.portal.tables import portal_access_log, portal_rate_limits, portal_sessions, portal_signin_tokens


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Session:
    """Who is signed in: a contact of ``customer``; ``ticket`` set when the session came from
    the link of one ticket (it then shows only that ticket)."""

    session_hash: str
    email: str
    customer: str
    ticket: str | None
    expires_at: datetime

    @property
    def full(self) -> bool:
        return self.ticket is None

    def may_see(self, customer: str, number: str) -> bool:
        return customer == self.customer and (self.ticket is None or self.ticket == number)


# -- sign-in tokens ----------------------------------------------------------------------------


def issue_signin(
    engine: Engine, *, email: str, customer: str, next_path: str, now: datetime, minutes: int
) -> str:
    """A new one-time sign-in token (returned once; only its hash is stored)."""
    token = new_secret()
    with engine.begin() as conn:
        conn.execute(
            insert(portal_signin_tokens).values(
                token_hash=digest(token),
                email=email,
                customer=customer,
                next_path=next_path,
                created_at=now,
                expires_at=now + timedelta(minutes=minutes),
            )
        )
    return token


@dataclass(frozen=True)
class SigninUse:
    outcome: str  # ok | used | expired | invalid
    email: str | None = None
    customer: str | None = None
    next_path: str = "/"


def peek_signin(engine: Engine, token: str, *, now: datetime) -> SigninUse:
    """What using ``token`` now would give, without using it (for the confirmation page)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(portal_signin_tokens).where(portal_signin_tokens.c.token_hash == digest(token))
        ).first()
    return _state(row, now)


def _state(row, now: datetime) -> SigninUse:
    if row is None:
        return SigninUse("invalid")
    m = row._mapping
    if m["used_at"] is not None:
        return SigninUse("used", m["email"], m["customer"], m["next_path"])
    if now >= m["expires_at"]:
        return SigninUse("expired", m["email"], m["customer"], m["next_path"])
    return SigninUse("ok", m["email"], m["customer"], m["next_path"])


def use_signin(engine: Engine, token: str, *, now: datetime) -> SigninUse:
    """Use the token: succeeds once, atomically (a second use, also a concurrent one, is 'used')."""
    h = digest(token)
    t = portal_signin_tokens
    with engine.begin() as conn:
        claimed = conn.execute(
            update(t)
            .where(t.c.token_hash == h, t.c.used_at.is_(None), t.c.expires_at > now)
            .values(used_at=now)
            .returning(t.c.email, t.c.customer, t.c.next_path)
        ).first()
        if claimed is not None:
            return SigninUse("ok", claimed.email, claimed.customer, claimed.next_path)
        return _state(conn.execute(select(t).where(t.c.token_hash == h)).first(), now)


# -- sessions ----------------------------------------------------------------------------------


def start_session(
    engine: Engine, *, email: str, customer: str, ticket: str | None, now: datetime, hours: int
) -> tuple[str, Session]:
    """A new session; returns (the cookie value, the session)."""
    sid = new_secret()
    s = Session(digest(sid), email, customer, ticket, now + timedelta(hours=hours))
    with engine.begin() as conn:
        conn.execute(
            insert(portal_sessions).values(
                session_hash=s.session_hash,
                email=email,
                customer=customer,
                ticket=ticket,
                created_at=now,
                expires_at=s.expires_at,
            )
        )
    return sid, s


def find_session(engine: Engine, sid: str | None, *, now: datetime) -> Session | None:
    if not sid or len(sid) > 100:
        return None
    t = portal_sessions
    with engine.connect() as conn:
        row = conn.execute(
            select(t).where(t.c.session_hash == digest(sid), t.c.ended_at.is_(None), t.c.expires_at > now)
        ).first()
    if row is None:
        return None
    m = row._mapping
    return Session(m["session_hash"], m["email"], m["customer"], m["ticket"], m["expires_at"])


def end_session(engine: Engine, session: Session, *, now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(portal_sessions)
            .where(portal_sessions.c.session_hash == session.session_hash)
            .values(ended_at=now)
        )


# -- rate limits -------------------------------------------------------------------------------


def hit(engine: Engine, scope: str, value: str, limit: RateLimit, *, now: datetime) -> bool:
    """Count one request of ``value`` (an address) in the current window; False once over the limit."""
    window = limit.minutes * 60
    start = int(now.timestamp()) // window * window
    bucket = f"{scope}:{digest(value.lower())[:40]}:{start}"
    t = portal_rate_limits
    with engine.begin() as conn:
        ins = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(t)
        stmt = ins.values(
            bucket=bucket, window_end=datetime.fromtimestamp(start + window, now.tzinfo), count=1
        ).on_conflict_do_update(index_elements=["bucket"], set_={"count": t.c.count + 1})
        count = conn.execute(stmt.returning(t.c.count)).scalar_one()
    return count <= limit.count


def prune(engine: Engine, *, now: datetime) -> None:
    """Drop finished rate windows, expired sign-in tokens and sessions (a day after their end)."""
    day = now - timedelta(days=1)
    with engine.begin() as conn:
        conn.execute(delete(portal_rate_limits).where(portal_rate_limits.c.window_end < now))
        conn.execute(delete(portal_signin_tokens).where(portal_signin_tokens.c.expires_at < day))
        conn.execute(delete(portal_sessions).where(portal_sessions.c.expires_at < day))


# -- access log --------------------------------------------------------------------------------


def record(
    engine: Engine,
    *,
    now: datetime,
    client: str,
    action: str,
    outcome: str,
    email: str | None = None,
    customer: str | None = None,
    ticket: str | None = None,
    detail: str = "",
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(portal_access_log).values(
                at=now,
                client=client[:64],
                email=(email or None) and email[:254],
                customer=customer,
                ticket=(ticket or None) and ticket[:16],
                action=action,
                outcome=outcome,
                detail=detail[:300],
            )
        )
