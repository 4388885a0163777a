"""Who wrote: the From address against the configured contacts and domains of each customer.

A new message from a known contact (or anyone at a customer's domain) opens a ticket for that
customer; from anyone else it goes to quarantine. A reply must come from the ticket's reporter
or a contact of the ticket's customer: a ticket number in a subject is not a password.
"""

from __future__ import annotations

from xop.core.config import XopConfig
from xop.core.errors import ConfigError
from xop.intake.parse import Parsed
from xop.intake.steps.base import Context, Decision


def check_intake_config(cfg: XopConfig) -> None:
    """The customers and systems ``intake:`` names exist; raises :class:`ConfigError` naming the entry."""
    customers = {c.id for c in cfg.customers}
    for i, c in enumerate(cfg.intake.customers):
        if c.customer not in customers:
            known = ", ".join(sorted(customers))
            raise ConfigError(f"intake.customers[{i}].customer: no customer {c.customer!r} (known: {known})")
    systems = {s.id for _, s in cfg.systems()}
    for i, r in enumerate(cfg.intake.systems):
        if r.system not in systems:
            raise ConfigError(
                f"intake.systems[{i}].system: no system {r.system!r} (known: {', '.join(sorted(systems))})"
            )


def identify(cfg: XopConfig, address: str | None) -> tuple[str | None, str]:
    """(customer id, contact name) of ``address``; (None, "") when nobody knows it."""
    if not address:
        return None, ""
    address = address.lower()
    domain = address.rpartition("@")[2]
    for c in cfg.intake.customers:
        for contact in c.contacts:
            if str(contact.email).lower() == address:
                return c.customer, contact.name or ""
    for c in cfg.intake.customers:
        if any(domain == d or domain.endswith("." + d) for d in c.domains):
            return c.customer, ""
    return None, ""


def sender_check(msg: Parsed, d: Decision, ctx: Context) -> None:
    customer, name = identify(ctx.cfg, msg.sender)
    d.contact_name = name or msg.sender_name or (msg.sender or "").split("@")[0]
    if d.ticket is not None:
        t = d.ticket
        if msg.sender == str(t["reporter_email"]).lower() or customer == t["customer"]:
            d.customer = t["customer"]
            return
        d.settle(
            "quarantined",
            f"reply to {t['number']} from {msg.sender}, who is neither its reporter nor a contact of "
            f"customer {t['customer']!r}",
        )
        return
    if customer is None:
        d.settle(
            "quarantined", f"unknown sender {msg.sender}: not a contact of any customer (intake.customers)"
        )
        return
    d.customer = customer


def system_route(msg: Parsed, d: Decision, ctx: Context) -> None:
    if d.ticket is not None or d.customer is None:
        return
    own = {s.id for s in ctx.cfg.customer(d.customer).systems}
    subject = msg.subject.lower()
    for r in ctx.spec.systems:
        if r.system not in own:
            continue
        if any(str(a).lower() in msg.recipients for a in r.aliases) or any(
            t.lower() in subject for t in r.subject_tags
        ):
            d.system = r.system
            return
