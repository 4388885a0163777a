"""Who may sign in to the portal: the known contacts of each customer.

A contact is known, in this order, when the config names it (a customer's
``management_contacts``; the intake's ``intake.customers[].contacts``), when it is at one of the
domains the intake assigns to a customer (``intake.customers[].domains``, subdomains included,
as the mail intake matches them), or when it reported one of the customer's tickets (opened by
email, through the portal or by staff on the customer's behalf; monitoring tickets do not count).
Addresses match case-insensitively; an address known to two customers signs in to the first.
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
    known = {c.id for c in cfg.customers}
    for c in cfg.customers:
        for m in c.management_contacts:
            if str(m.email).lower() == address:
                return Contact(address, m.name, c.id)
    for ic in cfg.intake.customers:
        for m in ic.contacts:
            if str(m.email).lower() == address and ic.customer in known:
                return Contact(address, m.name or address.split("@")[0], ic.customer)
    domain = address.rpartition("@")[2]
    for ic in cfg.intake.customers:
        if ic.customer in known and any(domain == d or domain.endswith("." + d) for d in ic.domains):
            return Contact(address, _reporter_name(engine, address) or address.split("@")[0], ic.customer)
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


def _reporter_name(engine: Engine, address: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            select(tickets.c.reporter_name)
            .where(func.lower(tickets.c.reporter_email) == address)
            .order_by(tickets.c.id.desc())
            .limit(1)
        ).scalar_one_or_none()


def is_contact_of(cfg: XopConfig, engine: Engine, email: str, customer: str) -> Contact | None:
    """The contact if ``email`` is (still) a known contact of ``customer``."""
    c = find_contact(cfg, engine, email)
    return c if c is not None and c.customer == customer else None
