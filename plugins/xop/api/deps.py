"""FastAPI dependencies of the ticket API: the Airflow user, the ticket service, ``now``.

Authentication is Airflow's own: :func:`airflow.api_fastapi.core_api.security.get_user` reads the
JWT from ``Authorization: Bearer`` or, for pages inside the Airflow UI, the same-origin ``_token``
cookie the UI sets at login. Plugin apps get no auth by default, so every route depends on
:func:`current_user`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Annotated

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import bearer_scheme, get_user, oauth2_scheme
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials

from xop.api import auth
from xop.connections.ticket_db import ticket_db
from xop.core.config import XopConfig, load_config
from xop.tickets import Actor, TicketService

_service_lock = threading.Lock()


async def current_user(
    request: Request,
    oauth_token: Annotated[str | None, Depends(oauth2_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> BaseUser:
    """The authenticated Airflow user. Any missing, expired or forged token is a 401.

    (Airflow's ``get_user`` answers 403 to a token it cannot decode; for this API that is
    simply "no valid credentials", which HTTP calls 401.)
    """
    try:
        return await get_user(request, oauth_token, bearer)
    except HTTPException as exc:
        if exc.status_code in (status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail=f"Not authenticated: {exc.detail}",
                headers={"WWW-Authenticate": "Bearer"},
            ) from None
        raise


UserDep = Annotated[BaseUser, Depends(current_user)]


def ticket_service(request: Request) -> TicketService:
    """The app's ticket service; built on first use from the ``xop_db`` connection and config."""
    state = request.app.state
    if getattr(state, "ticket_service", None) is None:
        with _service_lock:
            if getattr(state, "ticket_service", None) is None:
                state.ticket_service = TicketService(ticket_db(), load_config())
    return state.ticket_service


ServiceDep = Annotated[TicketService, Depends(ticket_service)]


def request_now(request: Request) -> datetime:
    """Wall clock, or the clock a test put on ``app.state.clock``."""
    clock = getattr(request.app.state, "clock", None)
    return clock() if clock is not None else datetime.now(UTC)


NowDep = Annotated[datetime, Depends(request_now)]


def staff_actor(user: BaseUser, cfg: XopConfig) -> Actor:
    """The Airflow user as the ticket model's staff actor: its level from ``staff:`` in the
    config (by user name, else by its Airflow roles, else the default level)."""
    name = user.get_name()
    return Actor.staff(name, cfg.staff_level(name, auth.user_roles(user)))


def _acting(method: auth.Method):
    def acting_staff(user: UserDep, svc: ServiceDep) -> Actor:
        """The staff actor of the request, once the auth manager allows the user to act."""
        refusal = auth.refusal_to_act(get_auth_manager(), user, method=method)
        if refusal is not None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=refusal.message)
        return staff_actor(user, svc.cfg)

    return acting_staff


#: The acting staff of a request that creates something (open a ticket).
CreatorDep = Annotated[Actor, Depends(_acting("POST"))]
#: The acting staff of a request that changes something that exists (a ticket, a message).
StaffDep = Annotated[Actor, Depends(_acting("PUT"))]


def actor_name(staff: StaffDep) -> str:
    """The name a permitted change is recorded with (for callers that record only a name)."""
    return staff.name


ActorDep = Annotated[str, Depends(actor_name)]


class Reader:
    """The user of a read: the staff actor whose actions are hinted, and why it may not act."""

    def __init__(self, actor: Actor, refusal: auth.Refusal | None) -> None:
        self.actor = actor
        self.refusal = refusal


def reader(user: UserDep, svc: ServiceDep) -> Reader:
    manager = get_auth_manager()
    refusal = auth.refusal_to_act(manager, user, method="PUT") or auth.refusal_to_act(
        manager, user, method="POST"
    )
    return Reader(staff_actor(user, svc.cfg), refusal)


ReaderDep = Annotated[Reader, Depends(reader)]
