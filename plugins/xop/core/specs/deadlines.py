"""``deadlines:``: who hears about a DAG that is late, and under which customer its ticket opens.

Example::

    deadlines:
      ticket_customer: xop        # a customer id of the config: XOP itself, for pipeline tickets
      recipients: [ops@xopnetworks.com]   # default: support.internal_recipients

The deadlines themselves (the audit's report by 05:30 in the support calendar's zone, a trunk
check within 30 minutes, the sweep no more than 15 minutes behind) are set where the DAGs are
defined (``xop.tasks.deadlines``): Airflow reads them when it parses the DAG files.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class DeadlinesSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ticket_customer: str | None = Field(
        None, min_length=1, description="customer id the pipeline's own monitoring tickets open under"
    )
    recipients: tuple[EmailStr, ...] = Field((), description="default: support.internal_recipients")


__all__ = ["DeadlinesSpec"]
