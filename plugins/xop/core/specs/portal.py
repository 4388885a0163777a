"""Configuration of the customer portal (``portal:`` in the YAML config; every key optional).

The portal's address comes from ``support.ticket_url`` (``https://myxop.com/tickets/{number}``):
its base is that URL without ``/tickets/{number}``, unless ``base_url`` names it. Links in the
emails are ``<base>/tickets/XOP-000123?k=<signed token>``, one per recipient.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from xop.core.specs.common import TimeZoneName

TICKET_PATH = "/tickets/{number}"
#: Logs, traces, captures, recordings, screenshots, documents and archives of them.
DEFAULT_ATTACHMENT_TYPES = (
    "txt", "log", "csv", "json", "xml", "yaml", "yml", "conf", "cfg", "ini",
    "pcap", "pcapng", "cap", "wav", "mp3", "gsm",
    "png", "jpg", "jpeg", "gif", "webp", "pdf",
    "doc", "docx", "xls", "xlsx", "odt", "ods", "eml", "msg",
    "zip", "gz", "tgz", "7z",
)  # fmt: skip


class RateLimit(BaseModel):
    """At most ``count`` requests per ``minutes`` (a fixed window counted in the database)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(ge=1, le=100_000)
    minutes: int = Field(ge=1, le=24 * 60)


class PortalSpec(BaseModel):
    """Links, sign-in, sessions and limits of the customer portal (``xop.portal``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: e.g. ``https://myxop.com``; derived from ``support.ticket_url`` when unset.
    base_url: str | None = None
    #: How long the link in an email works.
    link_days: int = Field(30, ge=1, le=366)
    #: The one-time sign-in link: lifetime in minutes, used once.
    signin_minutes: int = Field(15, ge=1, le=24 * 60)
    #: A signed-in session (idle or not) ends after this many hours.
    session_hours: int = Field(12, ge=1, le=24 * 30)
    #: The signing key: Airflow connection (password = current key, extra ``previous_keys``)...
    key_conn_id: str = "xop_portal"
    #: ... or these environment variables (current key; JSON list of retired keys).
    key_env: str = "XOP_PORTAL_KEY"
    previous_keys_env: str = "XOP_PORTAL_PREVIOUS_KEYS"
    #: A retired key still verifies links for this many days after ``retired_at``.
    key_grace_days: int = Field(30, ge=0, le=366)
    #: Sign-in and fresh-link requests, per email address and per client address.
    per_address: RateLimit = RateLimit(count=5, minutes=60)
    per_client: RateLimit = RateLimit(count=30, minutes=60)
    #: The customer's own time zone, shown beside the support calendar's (customer id → zone).
    customer_timezones: dict[str, TimeZoneName] = {}
    #: Files on one new ticket or reply; their bytes are limited by the intake's limits
    #: (``intake.max_message_attachment_bytes`` per form, ``max_ticket_attachment_bytes`` per ticket).
    max_attachments: int = Field(10, ge=0, le=50)
    #: File types accepted from the portal, by extension (empty: any). Downloads are always
    #: served as ``attachment`` (never shown inline), so this keeps out what support cannot use.
    attachment_types: tuple[str, ...] = DEFAULT_ATTACHMENT_TYPES

    @field_validator("base_url")
    @classmethod
    def _base(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not v.startswith(("https://", "http://")):
            raise ValueError(f"must start with https:// (or http:// on a loopback test), got {v!r}")
        return v.rstrip("/")

    @field_validator("attachment_types")
    @classmethod
    def _types(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(t.strip().lower().lstrip(".") for t in v)
        if any(not t or not t.isalnum() for t in cleaned):
            raise ValueError(f"each type is a file extension like 'pdf', got {list(v)!r}")
        return cleaned

    def base(self, ticket_url: str) -> str:
        """The portal's base URL: ``base_url``, else ``ticket_url`` without ``/tickets/{number}``."""
        if self.base_url:
            return self.base_url
        if ticket_url.endswith(TICKET_PATH):
            return ticket_url[: -len(TICKET_PATH)].rstrip("/")
        raise ValueError(
            f"support.ticket_url {ticket_url!r} does not end with {TICKET_PATH!r}: "
            "set portal.base_url to the customer portal's address"
        )
