"""The words every part of the pipeline shares: levels, urgencies, states, sources, clocks.

One home for each, so the schema's check constraints, the config's validation, the ticket
model, the API's schemas and the emails cannot disagree.
"""

from __future__ import annotations

from typing import Literal

Urgency = Literal["critical", "major", "minor"]
#: Most urgent first.
URGENCY_ORDER: tuple[Urgency, ...] = ("critical", "major", "minor")
URGENCIES = URGENCY_ORDER

#: Support levels (seed section 3): 1 is the customer's own staff, 2 and 3 XOP support,
#: 4 product development.
LEVELS: tuple[int, ...] = (1, 2, 3, 4)

State = Literal["open", "waiting_customer", "recovered", "resolved", "closed"]
STATES: tuple[State, ...] = ("open", "waiting_customer", "recovered", "resolved", "closed")
#: States in which a ticket is still being worked; monitoring de-duplicates against these.
ACTIVE_STATES: tuple[State, ...] = ("open", "waiting_customer", "recovered")

Source = Literal["customer", "monitoring", "staff"]
SOURCES: tuple[Source, ...] = ("customer", "monitoring", "staff")

ClockName = Literal["l2_response", "l3_response", "l3_recovery", "l3_rca", "l4_resolution"]
CLOCK_NAMES: tuple[ClockName, ...] = ("l2_response", "l3_response", "l3_recovery", "l3_rca", "l4_resolution")
CLOCK_LABELS: dict[str, str] = {
    "l2_response": "Level 2 response",
    "l3_response": "Level 3 response",
    "l3_recovery": "Level 3 recovery",
    "l3_rca": "Root cause analysis email",
    "l4_resolution": "Level 4 resolution",
}
