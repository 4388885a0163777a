"""An Asterisk Manager Interface's Airflow connection (type ``xop_ami``): where it is, who logs in.

Fields: host, port (5038; 5039 is Asterisk's usual ``tlsbindport``), login (the manager user of
``manager.conf``), password (its secret). Extra (all optional)::

    {"tls": false,             # true: AMI over TLS (Asterisk's tlsenable), certificate verified
     "ca_file": "/path.pem",   # CA bundle for the AMI's certificate
     "timeout": 10}

:class:`xop.hooks.XopAmiHook` (the Test button) logs in with the trunk check's own AMI client
(:class:`xop.trunks.ami.AmiClient`), which takes its credentials from here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xop.connections.read import extra_of, flag, get_connection
from xop.core.errors import ConfigError

CONN_TYPE = "xop_ami"
EXTRA_KEYS = {"tls", "ca_file", "timeout"}


@dataclass(frozen=True)
class AmiSettings:
    host: str
    port: int = 5038
    login: str = ""
    password: str = field(default="", repr=False)
    tls: bool = False
    ca_file: str | None = None
    timeout: float = 10.0

    @classmethod
    def from_connection(cls, conn_id: str) -> AmiSettings:
        conn = get_connection(conn_id, what="an Asterisk AMI")
        extra = extra_of(conn, allowed=EXTRA_KEYS)
        if not conn.login or conn.password is None:
            raise ConfigError(f"Airflow connection {conn_id!r}: the AMI needs a login and a password")
        tls = flag(extra.get("tls", False), "tls", conn_id)
        return cls(
            host=conn.host or "127.0.0.1",
            port=int(conn.port or (5039 if tls else 5038)),
            login=conn.login,
            password=conn.password,
            tls=tls,
            ca_file=extra.get("ca_file"),
            timeout=float(extra.get("timeout", 10)),
        )
