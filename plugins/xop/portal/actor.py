"""The actor the portal acts as: the customer contact (``Actor.customer``, agent i12's shared
interface in ``xop.tickets``). Until that lands the service takes a plain string, and the
contact's email address is what the history records."""

from __future__ import annotations

from typing import Any

try:
    from xop.tickets import Actor  # type: ignore[attr-defined]
except ImportError:  # i12's Actor is not merged yet
    Actor = None


def customer(email: str) -> Any:
    return Actor.customer(email) if Actor is not None else email
