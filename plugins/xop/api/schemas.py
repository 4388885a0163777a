"""Request and response bodies of the ticket API (pydantic; they are the OpenAPI schema).

Request bodies check types and reject what no database can store (NUL characters, lone UTF-16
surrogates); the ticket service checks the rest (lengths, known customers, transitions), so the
rules live in one place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Urgency = Literal["critical", "major", "minor"]
State = Literal["open", "waiting_customer", "recovered", "resolved", "closed"]
Source = Literal["customer", "monitoring", "staff"]
ClockName = Literal["l2_response", "l3_response", "l3_recovery", "l3_rca", "l4_resolution"]
ClockStatus = Literal["running", "paused", "breached", "met", "met_late", "stopped"]

#: Ticket numbers as printed (XOP-000123); the service also accepts lower case.
NUMBER_PATTERN = r"^[Xx][Oo][Pp]-[0-9]{1,12}$"


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


Text = Annotated[str, AfterValidator(_storable)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenTicketBody(_Body):
    """A new ticket. Opened at level 2 unless the customer keeps it at level 1 (own staff)."""

    customer: Text = Field(description="Customer id from the configuration, e.g. `acme`.")
    subject: Text = Field(description="One line; at most 200 characters.")
    reporter_name: Text
    reporter_email: Text
    description: Text = ""
    system: Text | None = Field(default=None, description="System id of the customer, if known.")
    level: Literal[1, 2] = 2
    urgency: Urgency | None = Field(default=None, description="Set by XOP staff when classifying.")
    proposed_urgency: Urgency | None = Field(default=None, description="The reporter's proposal.")
    source: Source = "customer"


class BodyText(_Body):
    body: Text


class OptionalBodyText(_Body):
    body: Text = ""


class ClassifyBody(_Body):
    urgency: Urgency
    reason: Text = ""


class EscalateBody(_Body):
    to_level: int | None = Field(default=None, description="2, 3 or 4; default: the next level up.")
    reason: Text = ""


class ReasonBody(_Body):
    reason: Text = ""


class RequiredReasonBody(_Body):
    reason: Text


class EmptyBody(_Body):
    pass


class AssignBody(_Body):
    to: Annotated[str, Field(min_length=1, max_length=120, description="A staff user of the owning level.")]


class RcaBody(_Body):
    """Root cause analysis: the four parts the seed's RCA email carries."""

    cause: Text
    extent: Text
    actions: Text = Field(description="Actions taken.")
    plan: Text = Field(description="Resolution plan.")


class CloseBody(_Body):
    report: Text = Field(description="Closing summary sent to the reporter and the customer's management.")


class ClockView(BaseModel):
    """One SLA clock with its standing at the time of the request (business time)."""

    name: ClockName
    cycle: int
    calendar: str
    status: ClockStatus
    started_at: datetime
    due_at: datetime | None
    target_seconds: int
    used_seconds: int = Field(description="Business seconds used so far, pauses excluded.")
    remaining_seconds: int = Field(description="Target minus used; negative once overdue.")
    percent_used: float
    ticking: bool = Field(description="True while the clock runs and its calendar is in business hours.")
    paused_at: datetime | None
    met_at: datetime | None
    breached_at: datetime | None
    stopped_at: datetime | None


class TicketSummary(BaseModel):
    number: str
    customer: str
    system: str | None
    subject: str
    source: Source
    urgency: Urgency | None
    proposed_urgency: Urgency | None
    level: int
    state: State
    opened_at: datetime
    updated_at: datetime
    next_due_at: datetime | None = Field(description="Next instant the SLA sweep acts (warning or breach).")
    breached: bool = Field(description="A running clock is past its due date.")
    next_clock: ClockView | None = Field(description="The running clock closest to breach, if any.")
    owner: str | None = Field(default=None, description="The XOP staff member working the ticket.")


class AttachmentView(BaseModel):
    """A file that came with an event (download: ``GET /api/attachments/{id}``)."""

    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    inline: bool
    via: Literal["email", "portal"] = Field(description="by email (the intake) or uploaded in the portal")


class EventView(BaseModel):
    at: datetime
    actor: str
    kind: str
    public: bool
    body: str
    payload: dict[str, Any]
    attachments: list[AttachmentView] = Field(default_factory=list)


class RefusedAction(BaseModel):
    action: str
    why: str


class TicketDetail(TicketSummary):
    description: str
    reporter_name: str
    reporter_email: str
    escalated_at: datetime | None
    recovered_at: datetime | None
    rca_sent_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    reopen_count: int
    clocks: list[ClockView]
    events: list[EventView]
    actions: list[str] = Field(description="Actions the requesting user may take now (hints for forms).")
    refused_actions: list[RefusedAction] = Field(
        default_factory=list, description="The other actions, each with why this user may not take it now."
    )
    ownership_actions: list[str] = Field(
        default_factory=list, description="take / assign / unassign, as far as this user may now."
    )
    colleagues: list[str] = Field(
        default_factory=list, description="Configured staff of the owning level (choices for assign)."
    )
    watchers: list[str] = Field(
        default_factory=list, description="Staff who get the ticket's updates by email."
    )
    watching: bool = Field(default=False, description="The requesting user watches the ticket.")
    may_watch: bool = Field(default=False, description="The user may watch (staff with an address).")


class ClockChange(BaseModel):
    name: ClockName
    label: str
    cycle: int
    change: Literal["starts", "starts paused", "met", "stops", "pauses", "resumes", "retargeted"]
    due_at: datetime | None
    was_due_at: datetime | None


class EmailPreview(BaseModel):
    recipient: str
    audience: Literal["customer", "internal"]
    kind: str
    subject: str


class ActionPreview(BaseModel):
    """What an action would do, from a dry run of the action itself (nothing written)."""

    action: str
    number: str
    state_before: State
    state_after: State
    level_before: str
    level_after: str
    owner: str | None
    clocks: list[ClockChange] = Field(description="Each clock the action starts, meets, stops, pauses...")
    emails: list[EmailPreview] = Field(description="Every email the action would queue, with its recipient.")


class TicketPage(BaseModel):
    total: int = Field(description="Matching tickets; with `q`, counted up to 1,000 (see `total_exact`).")
    total_exact: bool = Field(
        description="False when a search (`q`) matches more than `total` tickets: the board says 'more than'."
    )
    limit: int
    offset: int
    now: datetime
    items: list[TicketSummary]


class Me(BaseModel):
    name: str
    roles: list[str] = Field(description="The user's Airflow roles, as the auth manager names them.")
    level: int = Field(description="The support level the user acts at (``staff:`` in the config).")
    may_act: bool = Field(description="May open tickets and act on them (else read only).")
    why_not: str | None = Field(description="When ``may_act`` is false: the permission missing.")
    support_zone: str = Field(default="UTC", description="The support calendar's time zone (IANA name).")


class ErrorBody(BaseModel):
    detail: Any
