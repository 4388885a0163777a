"""The support mailbox: who may write to it, how mail finds its system, limits.

The contract between the configuration (``intake:`` in ``include/config``) and the mail intake
(:mod:`xop.intake`). Shape and consistency only; which customer and system ids exist is checked
against the rest of the config by :func:`xop.intake.steps.sender.check_intake_config` when a run starts.

Example::

    intake:
      conn_id: xop_imap                 # IMAPS (or STARTTLS) account of the support mailbox
      reopen_window: 14d                # a reply to a closed ticket within this reopens it
      own_addresses: [support@xopnetworks.com]
      customers:
        - customer: acme
          contacts: [{email: noc@acme.example, name: Acme NOC}]
          domains: [acme.example]       # anyone at these domains is a contact of acme
      systems:
        - system: acme-conf1
          aliases: [conf1@support.xopnetworks.com]   # mail to this alias is about acme-conf1
          subject_tags: ["[conf1]"]
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from xop.core.specs.safepaths import LocalPath

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_WINDOW = re.compile(r"^\s*(\d+)\s*(h|d)\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntakeContact(_Strict):
    email: EmailStr
    name: str | None = None


class IntakeCustomer(_Strict):
    """The people (and whole mail domains) whose mail opens tickets for ``customer``."""

    customer: str
    contacts: tuple[IntakeContact, ...] = ()
    domains: tuple[str, ...] = ()

    @field_validator("domains")
    @classmethod
    def _domains(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(d.strip().lower().lstrip("@") for d in v)
        bad = [d for d in out if not _DOMAIN.match(d)]
        if bad:
            raise ValueError(f"not a mail domain: {bad[0]!r} (write it like acme.example)")
        return out


class SystemRoute(_Strict):
    """Mail to one of ``aliases`` (To/Cc/Delivered-To) or with a tag in its subject is about ``system``."""

    system: str
    aliases: tuple[EmailStr, ...] = ()
    subject_tags: tuple[str, ...] = ()

    @field_validator("subject_tags")
    @classmethod
    def _tags(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not t.strip() for t in v):
            raise ValueError("a subject tag must not be blank")
        return tuple(t.strip() for t in v)


class IntakeSpec(_Strict):
    """Settings of the ``xop_mail_intake`` DAG."""

    conn_id: str = "xop_imap"
    folder: str = "INBOX"
    #: Where a message goes once its outcome is committed (created when missing).
    processed_folder: str = "Processed"
    #: A reply to a ticket closed less than this ago reopens it; later, it opens a new ticket.
    reopen_window: str = "14d"
    #: Addresses that are us (besides ``support.sender``): their mail never opens a ticket.
    own_addresses: tuple[EmailStr, ...] = ()
    #: Attachments of one message, and of all messages of one ticket, in bytes.
    max_message_attachment_bytes: int = Field(25_000_000, gt=0)
    max_ticket_attachment_bytes: int = Field(200_000_000, gt=0)
    #: Where attachment files are kept; unset: in the ticket database.
    attachments_dir: LocalPath | None = None
    #: Messages fetched per IMAP round trip, and at most per run (the next run takes the rest).
    fetch_batch: int = Field(50, ge=1, le=1000)
    max_per_run: int = Field(20_000, ge=1)
    customers: tuple[IntakeCustomer, ...] = ()
    systems: tuple[SystemRoute, ...] = ()

    @field_validator("reopen_window")
    @classmethod
    def _window(cls, v: str) -> str:
        if not _WINDOW.match(v):
            raise ValueError(f"must look like '14d' or '48h', got {v!r}")
        return v

    @property
    def reopen_window_seconds(self) -> int:
        n, unit = _WINDOW.match(self.reopen_window).groups()
        return int(n) * (86400 if unit == "d" else 3600)

    @model_validator(mode="after")
    def _unique(self) -> IntakeSpec:
        seen: dict[str, str] = {}
        for c in self.customers:
            for key in [str(x.email).lower() for x in c.contacts] + [f"@{d}" for d in c.domains]:
                if seen.setdefault(key, c.customer) != c.customer:
                    raise ValueError(f"{key} belongs to both {seen[key]!r} and {c.customer!r}")
        routes: dict[str, str] = {}
        for r in self.systems:
            for key in [str(a).lower() for a in r.aliases] + [t.lower() for t in r.subject_tags]:
                if routes.setdefault(key, r.system) != r.system:
                    raise ValueError(f"{key} routes to both {routes[key]!r} and {r.system!r}")
        if self.processed_folder == self.folder:
            raise ValueError(f"processed_folder must differ from folder ({self.folder!r})")
        return self
