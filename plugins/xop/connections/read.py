"""Reading an Airflow connection: the one function every connection of the pipeline goes through.

Airflow's SDK is imported on first use (it takes seconds), so importing this module stays cheap.
A connection that does not exist becomes a :class:`~xop.core.errors.ConfigError` that names the
connection id and what it is for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xop.core.errors import ConfigError

if TYPE_CHECKING:
    from airflow.sdk import Connection


def get_connection(conn_id: str, *, what: str) -> Connection:
    """The Airflow connection ``conn_id`` (``what`` says what it is for, in the error)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    if not conn_id:
        raise ConfigError(f"no Airflow connection id given for {what}")
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise ConfigError(f"Airflow connection {conn_id!r} ({what}) not found: {exc}") from exc


def extra_of(conn: Any, *, allowed: set[str] | None = None) -> dict[str, Any]:
    """The connection's extra as a dict; with ``allowed``, unknown keys are refused by name.

    Empty form fields (``null``, ``""``) count as not set, and the UI's prefixed form
    ``extra__<conn_type>__<key>`` is read as ``<key>``.
    """
    prefix = f"extra__{conn.conn_type}__"
    extra: dict[str, Any] = {}
    for key, value in (conn.extra_dejson or {}).items():
        if value is None or value == "":
            continue
        extra[key.removeprefix(prefix)] = value
    if allowed is not None:
        unknown = set(extra) - allowed
        if unknown:
            raise ConfigError(
                f"Airflow connection {conn.conn_id!r}: unknown extra keys {sorted(unknown)} "
                f"(known: {sorted(allowed)})"
            )
    return extra


def flag(value: Any, key: str, conn_id: str) -> bool:
    """A boolean extra given as JSON true/false or as the strings true/false/yes/no/1/0."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.lower() in ("true", "yes", "1")
    raise ConfigError(f"Airflow connection {conn_id!r}: extra {key!r} must be true or false, not {value!r}")
