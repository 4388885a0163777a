"""Who may do what through the ticket API: Airflow's auth manager decides, the ticket model adds
its level rules.

Reading needs an authenticated Airflow user, nothing more. Acting (opening a ticket, any
lifecycle action) needs **both** of these, asked of whatever auth manager Airflow runs:

1. ``is_authorized_custom_view(method=..., resource_name="XOP Tickets")``: the plugin's own
   resource. FAB and Keycloak-style managers decide this per method from their permission
   store, so an operator can grant or withhold ticket actions separately from anything else.
   Airflow's simple auth manager, though, ignores ``method`` here and allows every role,
   viewers included, so this check alone would let viewers write.
2. ``is_authorized_dag(method="POST", access_entity=DagAccessEntity.RUN)``: "may trigger DAG
   runs", a permission every manager knows and none grants to a read-only viewer (simple auth
   manager: role User and above; FAB: the User, Op and Admin roles).

Asking both is right for both kinds of manager: the simple manager's answer comes from (2),
a permission-based manager's from (1) and (2) together. A refusal names the permission that is
missing (403), and nothing is changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity

#: The plugin's resource name in the auth manager (a custom view, like other plugins' views).
RESOURCE = "XOP Tickets"

Method = Literal["GET", "POST", "PUT", "DELETE"]


@dataclass(frozen=True)
class Refusal:
    """Why a user may not act: the permission missing, in words an operator can grant."""

    permission: str
    message: str


def user_roles(user: Any) -> tuple[str, ...]:
    """The user's Airflow role names, whatever the manager's user class calls them.

    Simple auth manager: ``user.role`` (a string); FAB: ``user.roles`` (Role objects with a
    ``name``); Keycloak-style users may carry plain strings.
    """
    names: list[str] = []
    role = getattr(user, "role", None)
    if isinstance(role, str) and role:
        names.append(role)
    for r in getattr(user, "roles", None) or ():
        name = r if isinstance(r, str) else getattr(r, "name", None)
        if isinstance(name, str) and name:
            names.append(name)
    return tuple(dict.fromkeys(names))


def refusal_to_act(manager: Any, user: Any, *, method: Method = "POST") -> Refusal | None:
    """``None`` when ``user`` may change tickets with ``method``; else the missing permission."""
    who = user.get_name()
    if not manager.is_authorized_custom_view(method=method, resource_name=RESOURCE, user=user):
        permission = f"{method} on {RESOURCE}"
        return Refusal(
            permission,
            f"{who} may read tickets but not change them: missing permission {permission!r} "
            f"(the custom view {RESOURCE!r} in the auth manager)",
        )
    if not manager.is_authorized_dag(method="POST", access_entity=DagAccessEntity.RUN, user=user):
        permission = "POST on DAG Runs"
        roles = ", ".join(user_roles(user)) or "none"
        return Refusal(
            permission,
            f"{who} may read tickets but not change them: missing permission {permission!r} "
            f"(trigger DAG runs: Airflow role User, Op or Admin; {who} has role {roles})",
        )
    return None
