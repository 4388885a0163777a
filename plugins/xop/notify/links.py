"""Signed per-recipient links to a ticket in the customer portal (the portal-link interface).

``ticket_link(cfg, "carl@acme.example", "XOP-000123")`` is the URL a customer email shows:
``<portal base>/tickets/XOP-000123?k=<token>``. The token is signed with itsdangerous under the
portal's current key (:mod:`xop.connections.portal_keys`) and carries the recipient, the ticket
and an expiry instant (``portal.link_days`` after ``now``, 30 days by default). The portal
verifies it with :func:`read_ticket_link`; a retired key still verifies during its grace period.

Without a configured key the link is the plain ticket URL (``support.ticket_url``): the portal
then asks the reader to sign in by email first. Nothing breaks, nothing is signed with a
made-up key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer

from xop.connections.portal_keys import SigningKeys, signing_keys
from xop.core.config import XopConfig
from xop.core.errors import ConfigError

log = logging.getLogger(__name__)

LINK_SALT = "xop-portal-ticket-link"


class LinkError(Exception):
    """A ticket link the portal cannot honour."""


class LinkInvalid(LinkError):
    """Tampered, truncated or signed with a key that no longer verifies."""


class LinkExpired(LinkError):
    """Genuine but past its expiry; ``claims`` says for whom and which ticket (for a fresh one)."""

    def __init__(self, claims: LinkClaims) -> None:
        super().__init__(f"the link to {claims.ticket} expired at {claims.expires_at:%Y-%m-%d %H:%M} UTC")
        self.claims = claims


@dataclass(frozen=True)
class LinkClaims:
    email: str
    ticket: str
    expires_at: datetime


def portal_base(cfg: XopConfig) -> str:
    try:
        return cfg.portal.base(cfg.support.ticket_url)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def keys_of(cfg: XopConfig) -> SigningKeys | None:
    p = cfg.portal
    return signing_keys(p.key_conn_id, p.key_env, p.previous_keys_env)


def serializer(cfg: XopConfig, keys: SigningKeys, salt: str, *, now: datetime) -> URLSafeSerializer:
    """An itsdangerous serializer that signs with the current key and verifies with every key
    still within its grace period at ``now``."""
    grace = timedelta(days=cfg.portal.key_grace_days)
    return URLSafeSerializer(keys.verifying(now, grace), salt=salt)


def staff_ticket_url(cfg: XopConfig, ticket_number: str) -> str:
    """The plain URL of a ticket (``support.ticket_url``) for XOP's own people: internal emails
    and the audit report. Never signed: a signed link is one customer contact's key to the portal."""
    return cfg.support.ticket_url.format(number=ticket_number)


def ticket_link(
    cfg: XopConfig, recipient_email: str, ticket_number: str, *, now: datetime | None = None
) -> str:
    """The signed URL of ``ticket_number`` for ``recipient_email`` (plain URL if no key is set)."""
    now = now or datetime.now(UTC)
    keys = keys_of(cfg)
    if keys is None:
        log.warning(
            "portal: no signing key configured (%s): emails carry the plain ticket URL", cfg.portal.key_env
        )
        return staff_ticket_url(cfg, ticket_number)
    plain = f"{portal_base(cfg)}/tickets/{quote(ticket_number)}"
    expires = int((now + timedelta(days=cfg.portal.link_days)).timestamp())
    token = serializer(cfg, keys, LINK_SALT, now=now).dumps(
        {"e": recipient_email.strip().lower(), "n": ticket_number, "x": expires}
    )
    return f"{plain}?k={token}"


def read_ticket_link(cfg: XopConfig, token: str, *, now: datetime) -> LinkClaims:
    """The claims of a link token; raises :class:`LinkInvalid` or :class:`LinkExpired`."""
    keys = keys_of(cfg)
    if keys is None:
        raise ConfigError(
            f"portal: no signing key (set the connection {cfg.portal.key_conn_id!r} or {cfg.portal.key_env})"
        )
    if not isinstance(token, str) or len(token) > 1000:
        raise LinkInvalid("not a ticket link")
    try:
        data = serializer(cfg, keys, LINK_SALT, now=now).loads(token)
        claims = LinkClaims(
            email=str(data["e"]),
            ticket=str(data["n"]),
            expires_at=datetime.fromtimestamp(int(data["x"]), UTC),
        )
    except (BadSignature, KeyError, TypeError, ValueError):
        raise LinkInvalid("the link is not one we signed, or it was changed") from None
    if now >= claims.expires_at:
        raise LinkExpired(claims)
    return claims
