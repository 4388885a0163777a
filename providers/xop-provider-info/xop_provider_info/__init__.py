"""The XOP connection types as Airflow's providers manager reads them: fields, labels, hook classes.

Airflow 3.2+ builds Admin → Connections from this declaration alone (``conn-fields`` and
``ui-field-behaviour`` of each ``connection-types`` entry), without importing the hooks; it imports
a hook class (``hook-class-name``, in the ``xop`` package under the plugins folder) only when a
connection of that type is used: the Test button, ``Connection.get_hook()``. If that import fails
(a process without the plugins folder), the providers manager logs a warning and that type has no
hook: nothing else is affected, so every Airflow process starts with or without ``xop``.

This module therefore imports only the standard library, and it is the one table of the fields:
the hooks' ``get_ui_field_behaviour`` answer from :data:`CONNECTION_TYPES` too. Extra fields are
stored under their own name in the connection's extra.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

PACKAGE_NAME = "xop-provider-info"

_STR = {"type": ["string", "null"]}


def _bool(default: bool) -> dict[str, Any]:
    return {"type": ["boolean", "null"], "default": default}


def _int(default: int) -> dict[str, Any]:
    return {"type": ["integer", "null"], "default": default}


#: conn_type → hook class, display name, extra fields, and how the standard fields are shown.
CONNECTION_TYPES: dict[str, dict[str, Any]] = {
    "xop_ftps": {
        "hook-class-name": "xop.hooks.XopFtpsHook",
        "hook-name": "XOP FTPS site",
        "conn-fields": {
            "tls": {"label": "Explicit TLS (AUTH TLS)", "schema": _bool(True)},
            "ca_file": {"label": "CA bundle (PEM path)", "schema": _STR},
            "verify": {"label": "Verify the certificate", "schema": _bool(True)},
            "tls_max_version": {
                "label": "Highest TLS version",
                "schema": {"type": ["string", "null"], "enum": [None, "1.2", "1.3"]},
            },
            "passive": {"label": "Passive mode", "schema": _bool(True)},
            "timeout": {"label": "Timeout (s)", "schema": _int(60)},
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema"],
            "relabeling": {"host": "FTP host", "login": "User", "password": "Password"},
            "placeholders": {"host": "ftp.xopnetworks.com", "port": "21", "login": "publisher"},
        },
    },
    "xop_sip_trunk": {
        "hook-class-name": "xop.hooks.XopSipTrunkHook",
        "hook-name": "XOP SIP trunk",
        "conn-fields": {
            "transport": {
                "label": "Transport",
                "schema": {"type": ["string", "null"], "enum": ["udp", "tcp", "tls"], "default": "udp"},
            },
            "from_domain": {"label": "From domain (default: the local address)", "schema": _STR},
            "ca_file": {"label": "CA bundle for TLS (PEM path)", "schema": _STR},
            "timeout": {"label": "OPTIONS timeout (s)", "schema": _int(5)},
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema"],
            "relabeling": {"host": "Far end (proxy or gateway)", "login": "Auth user", "password": "Secret"},
            "placeholders": {"host": "sip.carrier.example", "port": "5060", "login": "monitor"},
        },
    },
    "xop_ami": {
        "hook-class-name": "xop.hooks.XopAmiHook",
        "hook-name": "XOP Asterisk AMI",
        "conn-fields": {
            "tls": {"label": "AMI over TLS (tlsenable)", "schema": _bool(False)},
            "ca_file": {"label": "CA bundle for TLS (PEM path)", "schema": _STR},
            "timeout": {"label": "Timeout (s)", "schema": _int(10)},
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema"],
            "relabeling": {"host": "Asterisk host", "login": "Manager user", "password": "Secret"},
            "placeholders": {"host": "pbx1.acme.example", "port": "5038", "login": "monitor"},
        },
    },
    "xop_sysdb": {
        "hook-class-name": "xop.hooks.XopSystemDbHook",
        "hook-name": "XOP system database (PostgreSQL)",
        "conn-fields": {
            "sslmode": {
                "label": "sslmode",
                "schema": {
                    "type": ["string", "null"],
                    "enum": [None, "disable", "prefer", "require", "verify-ca", "verify-full"],
                },
            },
            "sslrootcert": {"label": "CA bundle (sslrootcert)", "schema": _STR},
            "connect_timeout": {"label": "Connect timeout (s)", "schema": _int(10)},
        },
        "ui-field-behaviour": {
            "hidden-fields": [],
            "relabeling": {"schema": "Database", "login": "Role"},
            "placeholders": {"host": "db1.acme.example", "port": "5432", "schema": "confdb", "login": "xop"},
        },
    },
}


def _version() -> str:
    try:
        return version(PACKAGE_NAME)
    except PackageNotFoundError:  # imported from the source folder, not installed
        return "0.0.0"


def get_provider_info() -> dict[str, Any]:
    """The ``apache_airflow_provider`` entry point: ``package-name`` must equal the distribution's."""
    return {
        "package-name": PACKAGE_NAME,
        "name": "XOP operations pipeline",
        "description": "Connection types of the XOP pipeline: FTPS site, SIP trunk, Asterisk AMI, "
        "system database (each with a Test button).",
        "versions": [_version()],
        "connection-types": [
            {"connection-type": conn_type, **spec} for conn_type, spec in CONNECTION_TYPES.items()
        ],
    }


__all__ = ["CONNECTION_TYPES", "PACKAGE_NAME", "get_provider_info"]
