"""Trouble tickets: the ticket model (transition table, actors), the lifecycle service and the
emails its events cause."""

from xop.tickets.model import EMERGENCY, Actor, Decision, actions_for, allowed, decide
from xop.tickets.records import Ticket, format_number
from xop.tickets.service import TicketService

__all__ = [
    "EMERGENCY",
    "Actor",
    "Decision",
    "Ticket",
    "TicketService",
    "actions_for",
    "allowed",
    "decide",
    "format_number",
]
