"""Trouble tickets: the lifecycle service and the emails its events cause."""

from xop.tickets.service import Ticket, TicketService, format_number

__all__ = ["Ticket", "TicketService", "format_number"]
