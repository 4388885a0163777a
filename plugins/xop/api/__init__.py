"""The ticket REST API and page, as a FastAPI app that the Airflow plugin mounts at ``/xop``.

Public names: :func:`create_app` (the app), :data:`~xop.api.tables.idempotency_keys` (the table
the API needs besides the ticket store). ``create_app`` is imported on first use, so a task that
only needs :mod:`xop.api.idempotency` (the sweep's key expiry) does not load FastAPI and
Airflow's API server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xop.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from xop.api.app import create_app

        return create_app
    raise AttributeError(f"module 'xop.api' has no attribute {name!r}")
