"""Configuration of XOP staff: which user or Airflow role works at which support level.

``staff:`` in the config maps user names and Airflow roles to levels 2, 3 or 4::

    staff:
      users: {omar: 3, priya: 4}
      roles: {"XOP Level 3": 3}
      emails: {omar: omar@xopnetworks.com}

``emails`` gives a staff user's own (XOP) address: an owner's SLA warnings and the updates of
the tickets a user watches go there. A user without one cannot watch tickets, and the owning
level's mailbox receives what the owner would have.

A user named under ``users`` has that level; otherwise the highest level of their roles;
otherwise ``default_level`` (2: a staff user of no configured level acts as Level 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr

StaffLevel = Literal[2, 3, 4]


class StaffSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    users: dict[str, StaffLevel] = {}
    roles: dict[str, StaffLevel] = {}
    default_level: StaffLevel = 2
    emails: dict[str, EmailStr] = {}

    def email_of(self, username: str | None) -> str | None:
        """The staff user's own address (``emails``), or None."""
        return str(self.emails[username]) if username in self.emails else None

    def level_of(self, username: str, roles: Iterable[str] = ()) -> int:
        """The support level ``username`` (with Airflow ``roles``) acts at."""
        if username in self.users:
            return self.users[username]
        levels = [self.roles[r] for r in roles if r in self.roles]
        return max(levels, default=self.default_level)
