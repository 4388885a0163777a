"""SSH to a monitored host: the SSH provider's hook for an Airflow connection of type ``ssh``.

Host, port, login, password or private key (the provider's extra: ``key_file``,
``private_key``, ``no_host_key_check``, ``host_key``...) come from the connection. One attempt:
an unreachable host is a finding of the audit now, not three tries with sleeps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.providers.ssh.hooks.ssh import SSHHook


def ssh_hook(ssh_conn_id: str, *, timeout: float = 15) -> SSHHook:
    """The provider's :class:`SSHHook` for ``ssh_conn_id``, one connection attempt of ``timeout`` s."""
    from airflow.providers.ssh.hooks.ssh import SSHHook

    return SSHHook(ssh_conn_id=ssh_conn_id, conn_timeout=int(max(1, timeout)), conn_retry_attempts=1)
