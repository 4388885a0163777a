"""Credentials of trunks and AMIs, read only from Airflow connections (login + password)."""

from __future__ import annotations

from xop.core.errors import ConfigError
from xop.trunks.target import DigestCredentials


def connection_credentials(conn_id: str) -> DigestCredentials:
    """Login and password of the Airflow connection ``conn_id``; both must be set."""
    from airflow.sdk import BaseHook  # heavy: imported only when a task needs it

    try:
        connection = BaseHook.get_connection(conn_id)
    except Exception as exc:  # Airflow raises AirflowNotFoundException (and others by backend)
        raise ConfigError(f"conn_id {conn_id!r}: Airflow connection not found ({exc})") from exc
    if not connection.login or connection.password is None:
        raise ConfigError(f"conn_id {conn_id!r}: the connection needs a login and a password")
    return DigestCredentials(connection.login, connection.password)


__all__ = ["connection_credentials"]
