"""Every error the ``xop`` package raises on purpose.

Hierarchy::

    XopError
    ├── ConfigError            bad or missing configuration (names the field and value)
    ├── TicketError            a ticket operation was refused; nothing was changed
    │   ├── TicketNotFound
    │   ├── InvalidInput       a value is malformed (unknown urgency, empty subject, ...)
    │   └── InvalidTransition  the ticket's state or level does not allow the operation
    ├── TransportError         talking to an external system failed
    │   ├── MailError
    │   │   ├── TransientMailError   retry later (4xx, refused, dropped)
    │   │   └── PermanentMailError   do not retry (5xx)
    │   ├── FtpError
    │   └── ProbeError     a health probe could not run (a SIP check's failure is a result, not an error)
    └── BackupError            a backup, verification or restore failed

Library errors are wrapped with ``raise ... from exc`` so the cause stays visible.
"""

from __future__ import annotations


class XopError(Exception):
    """Base class of all deliberate errors of the XOP pipeline."""


class ConfigError(XopError):
    """The configuration is invalid; the message names the field to fix."""


class TicketError(XopError):
    """A ticket operation was refused. Nothing was written."""


class TicketNotFound(TicketError):
    pass


class InvalidInput(TicketError):
    """A value given to a ticket operation is malformed."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class InvalidTransition(TicketError):
    """The operation is not allowed in the ticket's current state or level."""


class TransportError(XopError):
    """An external system could not be reached or answered wrongly."""


class MailError(TransportError):
    pass


class TransientMailError(MailError):
    pass


class PermanentMailError(MailError):
    pass


class FtpError(TransportError):
    pass


class ProbeError(TransportError):
    pass


class BackupError(XopError):
    pass


__all__ = [
    "BackupError",
    "ConfigError",
    "FtpError",
    "InvalidInput",
    "InvalidTransition",
    "MailError",
    "PermanentMailError",
    "ProbeError",
    "TicketError",
    "TicketNotFound",
    "TransientMailError",
    "TransportError",
    "XopError",
]
