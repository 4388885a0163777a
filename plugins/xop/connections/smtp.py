"""The SMTP outbox's connection (default ``smtp_default``): the SMTP provider's hook, one attempt.

The provider's :class:`~airflow.providers.smtp.hooks.smtp.SmtpHook` owns host, port, login,
SSL/STARTTLS, timeout and the ``from_email`` extra. :func:`make_hook` gives one whose retry
count is zero: retrying is the outbox's job (backoff, attempts, ``failed`` status); two layers
would multiply the attempts. :func:`hook_for_server` reads the same settings from an in-memory
connection (tests, local runs without an Airflow connection).
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.providers.smtp.hooks.smtp import SmtpHook
    from airflow.sdk import Connection

DEFAULT_CONN_ID = "smtp_default"


@functools.cache
def _hook_class() -> type[SmtpHook]:
    """The provider's hook class, adapted; imported on first use (Airflow imports are slow)."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    class SingleAttemptSmtpHook(SmtpHook):
        """The provider hook with its retries turned off: the outbox is the one retry layer.

        ``preset_connection`` (tests, local runs) replaces the Airflow connection look-up; the
        hook's own properties still read every setting from it.
        """

        preset_connection: Connection | None = None

        @property
        def smtp_retry_limit(self) -> int:
            return 0

        def get_connection(self, conn_id: str) -> Connection:  # type: ignore[override]
            if self.preset_connection is not None:
                return self.preset_connection
            return super().get_connection(conn_id)

    return SingleAttemptSmtpHook


def make_hook(conn_id: str = DEFAULT_CONN_ID, *, connection: Connection | None = None) -> SmtpHook:
    """A single-attempt :class:`SmtpHook` for ``conn_id`` (or for a given Connection object)."""
    hook = _hook_class()(smtp_conn_id=conn_id)
    hook.preset_connection = connection
    return hook


def hook_for_server(
    host: str,
    port: int,
    *,
    timeout: int = 10,
    starttls: bool = False,
    ssl: bool = False,
    from_email: str | None = None,
) -> SmtpHook:
    """A single-attempt hook for ``host:port`` from an in-memory connection (no Airflow lookup)."""
    from airflow.sdk import Connection

    extra: dict[str, object] = {"disable_tls": not starttls, "disable_ssl": not ssl, "timeout": timeout}
    if from_email:
        extra["from_email"] = from_email
    connection = Connection(
        conn_id=f"xop_smtp_{host}_{port}",
        conn_type="smtp",
        host=host,
        port=port,
        extra=json.dumps(extra),
    )
    return make_hook(connection.conn_id, connection=connection)
