"""A SIP trunk's Airflow connection (type ``xop_sip_trunk``): far end, transport, digest credentials.

Fields: host and port of the far end (5060; 5061 for tls), login and password (digest
credentials, when the trunk challenges). Extra (all optional)::

    {"transport": "udp",          # udp, tcp or tls
     "from_domain": "xop.example",  # domain of the From URI; default the local address
     "ca_file": "/path.pem",      # CA bundle for tls (default: the system's)
     "timeout": 5}                # OPTIONS timeout in seconds

This module only reads the connection. The OPTIONS probe is the trunk check's own
(:func:`xop.trunks.options.probe_options`); the connection's Test button
(:class:`xop.hooks.XopSipTrunkHook`) runs that one implementation. The trunk check takes only the
credentials from here (:func:`trunk_credentials`): its targets come from the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xop.connections.read import extra_of, get_connection
from xop.core.errors import ConfigError

CONN_TYPE = "xop_sip_trunk"
EXTRA_KEYS = {"transport", "from_domain", "ca_file", "timeout"}


@dataclass(frozen=True)
class SipTrunkSettings:
    host: str | None
    port: int = 5060
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    transport: str = "udp"
    from_domain: str | None = None
    ca_file: str | None = None
    timeout: float = 5.0

    @classmethod
    def from_connection(cls, conn_id: str) -> SipTrunkSettings:
        conn = get_connection(conn_id, what="a SIP trunk")
        extra = extra_of(conn, allowed=EXTRA_KEYS)
        transport = str(extra.get("transport", "udp")).lower()
        if transport not in ("udp", "tcp", "tls"):
            raise ConfigError(
                f"Airflow connection {conn_id!r}: transport {transport!r} is not udp, tcp or tls"
            )
        try:
            timeout = float(extra.get("timeout", 5))
        except (TypeError, ValueError):
            raise ConfigError(
                f"Airflow connection {conn_id!r}: timeout must be a number of seconds, "
                f"not {extra['timeout']!r}"
            ) from None
        return cls(
            host=conn.host or None,
            port=int(conn.port or (5061 if transport == "tls" else 5060)),
            login=conn.login or None,
            password=conn.password,
            transport=transport,
            from_domain=extra.get("from_domain"),
            ca_file=extra.get("ca_file"),
            timeout=timeout,
        )


def trunk_credentials(conn_id: str) -> tuple[str, str]:
    """Login and password of the Airflow connection ``conn_id`` (trunk or AMI); both must be set."""
    conn = get_connection(conn_id, what="trunk or AMI credentials")
    if not conn.login or conn.password is None:
        raise ConfigError(f"conn_id {conn_id!r}: the connection needs a login and a password")
    return conn.login, conn.password
