"""The connection types of the pipeline as Admin → Connections shows them: fields, labels, hints.

One table, read twice: :func:`xop.connections.provider.get_provider_info` hands it to Airflow
declaratively (``conn-fields`` and ``ui-field-behaviour``: what Airflow 3.2+ reads, without
importing the hooks), and each hook's ``get_ui_field_behaviour`` / ``get_connection_form_widgets``
answers from it (what older Airflow versions call). Extra fields are stored under their own name
in the connection's extra.
"""

from __future__ import annotations

from typing import Any

_STR = {"type": ["string", "null"]}


def _bool(default: bool) -> dict[str, Any]:
    return {"type": ["boolean", "null"], "default": default}


def _int(default: int) -> dict[str, Any]:
    return {"type": ["integer", "null"], "default": default}


#: conn_type → hook class, display name, extra fields, and how the standard fields are shown.
CONNECTION_TYPES: dict[str, dict[str, Any]] = {
    "xop_ftps": {
        "hook-class-name": "xop.connections.hooks.XopFtpsHook",
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
        "hook-class-name": "xop.connections.hooks.XopSipTrunkHook",
        "hook-name": "XOP SIP trunk",
        "conn-fields": {
            "transport": {
                "label": "Transport",
                "schema": {"type": ["string", "null"], "enum": ["udp", "tcp", "tls"], "default": "udp"},
            },
            "domain": {"label": "Request-URI domain (default: the host)", "schema": _STR},
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
        "hook-class-name": "xop.connections.hooks.XopAmiHook",
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
        "hook-class-name": "xop.connections.hooks.XopSystemDbHook",
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


def ui_field_behaviour(conn_type: str) -> dict[str, Any]:
    """The hook-method form of ``ui-field-behaviour`` (snake_case keys)."""
    behaviour = CONNECTION_TYPES[conn_type]["ui-field-behaviour"]
    return {
        "hidden_fields": list(behaviour.get("hidden-fields", [])),
        "relabeling": dict(behaviour.get("relabeling", {})),
        "placeholders": dict(behaviour.get("placeholders", {})),
    }


def form_widgets(conn_type: str) -> dict[str, Any]:
    """The hook-method form of ``conn-fields``: wtforms fields (for UIs built on Flask-AppBuilder).

    Airflow 3.2+ reads ``conn-fields`` from the provider info instead and never calls this; the
    imports are those of the older UI, which Airflow 3 no longer installs.
    """
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from wtforms import BooleanField, IntegerField, StringField

    widgets: dict[str, Any] = {}
    for name, spec in CONNECTION_TYPES[conn_type]["conn-fields"].items():
        kinds = spec["schema"]["type"]
        label = spec["label"]
        if "boolean" in kinds:
            widgets[name] = BooleanField(label, default=spec["schema"].get("default"))
        elif "integer" in kinds:
            widgets[name] = IntegerField(
                label, widget=BS3TextFieldWidget(), default=spec["schema"].get("default")
            )
        else:
            widgets[name] = StringField(label, widget=BS3TextFieldWidget())
    return widgets
