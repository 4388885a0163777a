"""Credentials of trunks and AMIs, as the trunk check uses them (read by :mod:`xop.connections.sip`)."""

from __future__ import annotations

from xop.connections.sip import trunk_credentials
from xop.trunks.target import DigestCredentials


def connection_credentials(conn_id: str) -> DigestCredentials:
    """Login and password of the Airflow connection ``conn_id``; both must be set."""
    login, password = trunk_credentials(conn_id)
    return DigestCredentials(login, password)


__all__ = ["connection_credentials"]
