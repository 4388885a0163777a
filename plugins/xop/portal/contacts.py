"""Who may sign in to the portal: the known contacts of each customer.

A contact is known when the config names it (a customer's ``management_contacts``) or when it
reported one of the customer's tickets (the reporter of a ticket opened by email or by staff on
the customer's behalf). The intake's contact list (``core/specs/intake.py``) joins here when it
lands. An address is matched case-insensitively; an address known to two customers signs in to
the first one in the config.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from xop.core.config import XopConfig
from xop.tickets.tables import tickets


@dataclass(frozen=True)
class Contact:
    email: str
    name: str
    customer: str


def find_contact(cfg: XopConfig, engine: Engine, email: str) -> Contact | None:
    """The known contact with this address, or None."""
    address = email.strip().lower()
    for c in cfg.customers:
        for m in c.management_contacts:
            if str(m.email).lower() == address:
                return Contact(address, m.name, c.id)
    known = {c.id for c in cfg.customers}
    with engine.connect() as conn:
        row = conn.execute(
            select(tickets.c.customer, tickets.c.reporter_name)
            .where(func.lower(tickets.c.reporter_email) == address, tickets.c.source != "monitoring")
            .order_by(tickets.c.id.desc())
            .limit(1)
        ).first()
    if row is None or row.customer not in known:
        return None
    return Contact(address, row.reporter_name, row.customer)


def is_contact_of(cfg: XopConfig, engine: Engine, email: str, customer: str) -> Contact | None:
    """The contact if ``email`` is (still) a known contact of ``customer``."""
    c = find_contact(cfg, engine, email)
    return c if c is not None and c.customer == customer else None
