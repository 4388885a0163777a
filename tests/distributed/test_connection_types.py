"""Admin → Connections on the real API server: the XOP types and their Test buttons (issue 20).

The stack is the one of this package (``conftest.deployment``): the API server has the plugins
folder and the installed ``xop-provider-info`` declaration, like the compose image. The form's
metadata comes from ``GET /ui/connections/hook_meta`` (what the UI's connection form reads), the
Test button is ``POST /api/v2/connections/test`` (``[core] test_connection = Enabled``), run by
the API server against the real peers of the suite: SIPp, vsftpd, the AMI test server and
PostgreSQL (the suite's, and a password-checking one for the wrong-password case).
"""

from __future__ import annotations

import json

from xop_provider_info import CONNECTION_TYPES

from tests.connections.conftest import ami_server, password_postgres  # noqa: F401  (the peers)
from tests.distributed.conftest import Deployment
from tests.publish.conftest import tls_cert, vsftpd  # noqa: F401  (real vsftpd)
from tests.trunks.ami_server import AmiServer
from tests.trunks.conftest import sipp  # noqa: F401  (SIPp far ends)


def press_test(deployment: Deployment, conn_type: str, **fields) -> tuple[bool, str]:
    """The UI's Test button: the form's fields posted to the API server, which runs the hook."""
    body = {"connection_id": f"e2e_{conn_type}", "conn_type": conn_type, **fields}
    if "extra" in body:
        body["extra"] = json.dumps(body["extra"])
    answer = deployment.api.call("POST", "/api/v2/connections/test", json=body)
    return answer["status"], answer["message"]


def test_the_connection_form_offers_the_xop_types_with_their_fields(deployment: Deployment) -> None:
    meta = {m["connection_type"]: m for m in deployment.api.call("GET", "/ui/connections/hook_meta")}
    for conn_type, spec in CONNECTION_TYPES.items():
        assert conn_type in meta, f"{conn_type} missing from Admin -> Connections"
        entry = meta[conn_type]
        assert entry["hook_name"] == spec["hook-name"]
        assert entry["hook_class_name"] == spec["hook-class-name"]
        standard = entry["standard_fields"]
        for name, title in spec["ui-field-behaviour"]["relabeling"].items():
            assert standard[{"schema": "url_schema"}.get(name, name)]["title"] == title, (conn_type, name)
        for name in spec["ui-field-behaviour"]["hidden-fields"]:
            assert standard[{"schema": "url_schema"}.get(name, name)]["hidden"] is True, (conn_type, name)
        extra = entry["extra_fields"]
        assert set(extra) == set(spec["conn-fields"]), conn_type
        for name, field in spec["conn-fields"].items():
            assert extra[name]["schema"]["title"] == field["label"], (conn_type, name)
    assert meta["xop_sip_trunk"]["standard_fields"]["login"]["title"] == "Auth user"
    assert meta["xop_sip_trunk"]["extra_fields"]["transport"]["schema"]["enum"] == ["udp", "tcp", "tls"]


def test_sip_trunk_test_button_sends_options_to_sipp(deployment: Deployment, sipp) -> None:  # noqa: F811
    plain = sipp.get("options_200.xml", "udp")
    ok, message = press_test(deployment, "xop_sip_trunk", host=plain.host, port=plain.port)
    assert ok, message
    assert f"OPTIONS to udp:{plain.host}:{plain.port}: answered 200" in message
    auth = sipp.get("options_auth_401.xml", "udp")  # SIPp checks the digest (verifyauth)
    fields = {"host": auth.host, "port": auth.port, "login": "monitor"}
    ok, message = press_test(deployment, "xop_sip_trunk", password="s3cret", **fields)
    assert ok, message
    ok, message = press_test(deployment, "xop_sip_trunk", password="wrong-sip-secret-1", **fields)
    assert ok is False
    assert "403" in message and "wrong-sip-secret-1" not in message


def test_ftps_test_button_logs_in_to_vsftpd(deployment: Deployment, vsftpd) -> None:  # noqa: F811
    s = vsftpd.settings
    fields = {"host": s.host, "port": s.port, "login": s.login, "extra": {"ca_file": s.ca_file}}
    ok, message = press_test(deployment, "xop_ftps", password=s.password, **fields)
    assert ok, message
    assert "explicit TLS" in message and "PWD /" in message and s.password not in message
    ok, message = press_test(deployment, "xop_ftps", password="wrong-ftp-pass-2", **fields)
    assert ok is False
    assert "530" in message and "wrong-ftp-pass-2" not in message


def test_ami_test_button_logs_in(deployment: Deployment, ami_server: AmiServer) -> None:  # noqa: F811
    fields = {"host": ami_server.host, "port": ami_server.port, "login": ami_server.username}
    ok, message = press_test(deployment, "xop_ami", password=ami_server.secret, **fields)
    assert ok, message
    assert "logged in as 'monitor'" in message and ami_server.secret not in message
    ok, message = press_test(deployment, "xop_ami", password="wrong-ami-secret-3", **fields)
    assert ok is False
    assert "login refused" in message and "wrong-ami-secret-3" not in message


def test_system_db_test_button_selects_one(deployment: Deployment, password_postgres) -> None:  # noqa: F811
    from sqlalchemy.engine import make_url

    system = make_url(deployment.peers.system_db_url)  # the suite's PostgreSQL (trusts 127.0.0.1)
    ok, message = press_test(
        deployment,
        "xop_sysdb",
        host=system.host,
        port=system.port,
        login=system.username,
        schema=system.database,
    )
    assert ok, message
    assert "SELECT 1 answered by PostgreSQL" in message
    pg = password_postgres  # checks passwords (scram-sha-256)
    fields = {"host": pg.host, "port": pg.port, "login": pg.user, "schema": pg.database}
    ok, message = press_test(deployment, "xop_sysdb", password=pg.password, **fields)
    assert ok, message
    ok, message = press_test(deployment, "xop_sysdb", password="wrong-db-pass-4", **fields)
    assert ok is False
    assert "password authentication failed" in message
    assert "wrong-db-pass-4" not in message and pg.password not in message
