"""The ticket REST API and page, as a FastAPI app that the Airflow plugin mounts at ``/xop``.

Public names: :func:`create_app` (the app), :data:`~xop.api.tables.idempotency_keys` (the table
the API needs besides the ticket store).
"""

from __future__ import annotations

from xop.api.app import create_app

__all__ = ["create_app"]
