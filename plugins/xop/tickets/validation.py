"""Input checks of the ticket service. Each raises :class:`~xop.core.errors.InvalidInput` naming
the field and showing the bad value, before anything is written."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import EmailStr, TypeAdapter, ValidationError

from xop.core.config import CustomerSpec, XopConfig
from xop.core.errors import ConfigError, InvalidInput
from xop.core.vocabulary import SOURCES, URGENCY_ORDER
from xop.tickets.model import Actor

_email = TypeAdapter(EmailStr)


def check_now(now: datetime) -> datetime:
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise InvalidInput("now", f"must be a timezone-aware datetime, got {now!r}")
    return now


def text(field: str, value: Any, *, max_len: int, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be text, got {type(value).__name__}")
    if "\x00" in value:  # no database stores it (PostgreSQL refuses NUL in text)
        raise InvalidInput(field, "must not contain NUL characters")
    value = value.strip()
    if required and not value:
        raise InvalidInput(field, "must not be empty")
    if len(value) > max_len:
        raise InvalidInput(field, f"is {len(value)} characters long; the limit is {max_len}")
    return value


def urgency(field: str, value: Any, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if value not in URGENCY_ORDER:
        raise InvalidInput(field, f"must be one of {', '.join(URGENCY_ORDER)}; got {value!r}")
    return value


def email(field: str, value: Any) -> str:
    try:
        return str(_email.validate_python(value))
    except ValidationError:
        raise InvalidInput(field, f"not a valid email address: {value!r}") from None


def customer(cfg: XopConfig, value: Any) -> CustomerSpec:
    if not isinstance(value, str):
        raise InvalidInput("customer", f"must be a customer id, got {value!r}")
    try:
        return cfg.customer(value)
    except ConfigError:
        known = ", ".join(c.id for c in cfg.customers) or "none configured"
        raise InvalidInput("customer", f"unknown customer {value!r} (known: {known})") from None


def actor(cfg: XopConfig, value: Actor | str) -> Actor:
    """An :class:`Actor`; a plain string is a staff user whose level comes from ``staff:``."""
    if isinstance(value, Actor):
        return value
    name = text("actor", value, max_len=120)
    return Actor.staff(name, cfg.staff_level(name))


def open_fields(
    cfg: XopConfig,
    who: Actor,
    *,
    source: str | None,
    level: Any,
    urgency_: Any,
    proposed: Any,
) -> tuple[str, str | None, str | None]:
    """Source and urgency of a new ticket by ``who``: set by staff and monitoring only; a customer
    may propose an urgency. Returns (source, urgency, proposed_urgency)."""
    if who.kind == "customer":
        if source not in (None, "customer"):
            raise InvalidInput(
                "source", f"is set by XOP staff or monitoring, not by a customer; got {source!r}"
            )
        if urgency_ is not None:
            raise InvalidInput(
                "urgency", "a customer proposes an urgency (proposed_urgency); XOP staff classify the ticket"
            )
        source = "customer"
    elif who.kind == "monitoring":
        if source not in (None, "monitoring"):
            raise InvalidInput("source", f"a monitoring actor opens monitoring tickets; got {source!r}")
        source = "monitoring"
    elif who.kind == "system":
        raise InvalidInput("actor", "the sweep does not open tickets")
    source = source or "customer"  # staff record what a customer reported, unless told otherwise
    if source not in SOURCES:
        raise InvalidInput("source", f"must be one of {', '.join(SOURCES)}; got {source!r}")
    if isinstance(level, bool) or level not in (1, 2):
        raise InvalidInput("level", f"a ticket opens at level 1 or 2 (escalate it afterwards); got {level!r}")
    return (
        source,
        urgency("urgency", urgency_, required=False),
        urgency("proposed_urgency", proposed, required=False),
    )
