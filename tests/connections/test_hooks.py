"""Each connection type's Test button against the real peer of the suite.

The hooks are built the way Airflow's UI builds them (``Connection.get_hook()`` → the hook class
with the connection id), from connections given as ``AIRFLOW_CONN_*`` variables.
"""

from __future__ import annotations

import json

import pytest

from xop.demo.peers import free_port
from xop.hooks import XopAmiHook, XopFtpsHook, XopSipTrunkHook, XopSystemDbHook


def define(monkeypatch, conn_id: str, **fields) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))
    return conn_id


# -- FTPS: login (AUTH TLS, PROT P) and PWD ------------------------------------------------------


def test_ftps_test_button_logs_in_and_asks_pwd_on_vsftpd(vsftpd, monkeypatch):
    s = vsftpd.settings
    conn_id = define(
        monkeypatch,
        "xop_ftp_hook_ok",
        conn_type="xop_ftps",
        host=s.host,
        port=s.port,
        login=s.login,
        password=s.password,
        extra={"ca_file": s.ca_file, "timeout": None},  # an empty form field counts as not set
    )
    ok, message = XopFtpsHook(ftp_conn_id=conn_id).test_connection()
    assert ok, message
    assert "PWD /" in message and "explicit TLS" in message
    assert s.password not in message


def test_ftps_test_button_reports_a_wrong_password(vsftpd, monkeypatch):
    s = vsftpd.settings
    conn_id = define(
        monkeypatch,
        "xop_ftp_hook_bad",
        conn_type="xop_ftps",
        host=s.host,
        port=s.port,
        login=s.login,
        password="not-the-password",
        extra={"ca_file": s.ca_file},
    )
    ok, message = XopFtpsHook(ftp_conn_id=conn_id).test_connection()
    assert not ok
    assert "530" in message and "not-the-password" not in message


def test_ftps_test_button_refuses_an_unverifiable_certificate(vsftpd, monkeypatch):
    s = vsftpd.settings  # no ca_file: the self-signed certificate cannot be verified
    conn_id = define(
        monkeypatch,
        "xop_ftp_hook_ca",
        conn_type="xop_ftps",
        host=s.host,
        port=s.port,
        login=s.login,
        password=s.password,
    )
    ok, message = XopFtpsHook(ftp_conn_id=conn_id).test_connection()
    assert not ok and "CERTIFICATE_VERIFY_FAILED" in message


# -- SIP trunk: OPTIONS ---------------------------------------------------------------------------


def test_sip_test_button_sends_options(sipp, monkeypatch):
    far = sipp.get("options_200.xml", "udp")
    conn_id = define(monkeypatch, "xop_trunk_hook", conn_type="xop_sip_trunk", host=far.host, port=far.port)
    ok, message = XopSipTrunkHook(sip_conn_id=conn_id).test_connection()
    assert ok, message
    assert f"OPTIONS to udp:{far.host}:{far.port}: answered 200 in " in message


def test_sip_test_button_answers_a_digest_challenge(sipp, monkeypatch):
    far = sipp.get("options_auth_401.xml", "udp")  # SIPp verifies the digest (verifyauth)
    good = define(
        monkeypatch,
        "xop_trunk_auth_ok",
        conn_type="xop_sip_trunk",
        host=far.host,
        port=far.port,
        login="monitor",
        password="s3cret",
    )
    ok, message = XopSipTrunkHook(sip_conn_id=good).test_connection()
    assert ok, message
    assert "answered 200" in message and "s3cret" not in message
    bad = define(
        monkeypatch,
        "xop_trunk_auth_bad",
        conn_type="xop_sip_trunk",
        host=far.host,
        port=far.port,
        login="monitor",
        password="not-the-secret-9f",
    )
    ok, message = XopSipTrunkHook(sip_conn_id=bad).test_connection()
    assert not ok and "403" in message and "not-the-secret-9f" not in message


def test_sip_test_button_over_tcp_and_to_nobody(sipp, monkeypatch):
    far = sipp.get("options_200.xml", "tcp")
    tcp = define(
        monkeypatch,
        "xop_trunk_tcp",
        conn_type="xop_sip_trunk",
        host=far.host,
        port=far.port,
        extra={"transport": "tcp"},
    )
    ok, message = XopSipTrunkHook(sip_conn_id=tcp).test_connection()
    assert ok, message
    dead = define(
        monkeypatch,
        "xop_trunk_dead",
        conn_type="xop_sip_trunk",
        host="127.0.0.1",
        port=free_port(),
        extra={"transport": "tcp", "timeout": 2},
    )
    ok, message = XopSipTrunkHook(sip_conn_id=dead).test_connection()
    assert not ok and "refused" in message.lower()


# -- AMI: Login / Logoff --------------------------------------------------------------------------


def test_ami_test_button_logs_in(ami_server, monkeypatch):
    conn_id = define(
        monkeypatch,
        "xop_ami_hook",
        conn_type="xop_ami",
        host=ami_server.host,
        port=ami_server.port,
        login=ami_server.username,
        password=ami_server.secret,
    )
    ok, message = XopAmiHook(ami_conn_id=conn_id).test_connection()
    assert ok, message
    assert "Asterisk Call Manager" in message
    assert ami_server.actions_seen[0] == "Login"


def test_ami_test_button_reports_a_refused_login(ami_server, monkeypatch):
    conn_id = define(
        monkeypatch,
        "xop_ami_hook_bad",
        conn_type="xop_ami",
        host=ami_server.host,
        port=ami_server.port,
        login=ami_server.username,
        password="wrong-secret",
    )
    ok, message = XopAmiHook(ami_conn_id=conn_id).test_connection()
    assert not ok
    assert "Authentication failed" in message and "wrong-secret" not in message


# -- system database: SELECT 1 --------------------------------------------------------------------


def test_system_db_test_button_selects_one(monkeypatch):
    conn_id = define(
        monkeypatch,
        "xop_sysdb_hook",
        conn_type="xop_sysdb",
        host="127.0.0.1",
        port=5432,
        login="postgres",
        schema="postgres",
    )
    ok, message = XopSystemDbHook(sysdb_conn_id=conn_id).test_connection()
    assert ok, message
    assert "SELECT 1 answered by PostgreSQL" in message


def test_system_db_test_button_reports_a_closed_port(monkeypatch):
    conn_id = define(
        monkeypatch,
        "xop_sysdb_dead",
        conn_type="xop_sysdb",
        host="127.0.0.1",
        port=free_port(),
        login="postgres",
        schema="postgres",
        extra={"connect_timeout": 2},
    )
    ok, message = XopSystemDbHook(sysdb_conn_id=conn_id).test_connection()
    assert not ok and "cannot connect" in message


def test_unknown_connection_is_a_clear_failure():
    ok, message = XopSystemDbHook(sysdb_conn_id="xop_no_such_connection").test_connection()
    assert not ok and "xop_no_such_connection" in message and "not found" in message


@pytest.mark.parametrize("hook", [XopFtpsHook, XopSipTrunkHook, XopAmiHook, XopSystemDbHook])
def test_each_hook_labels_its_fields(hook):
    behaviour = hook.get_ui_field_behaviour()
    assert set(behaviour) == {"hidden_fields", "relabeling", "placeholders"}
    assert behaviour["relabeling"], hook


def test_sip_test_button_names_a_bad_setting(monkeypatch):
    conn_id = define(
        monkeypatch,
        "xop_trunk_bad_timeout",
        conn_type="xop_sip_trunk",
        host="127.0.0.1",
        extra={"timeout": 600},
    )
    ok, message = XopSipTrunkHook(sip_conn_id=conn_id).test_connection()
    assert not ok and "xop_trunk_bad_timeout" in message and "options_timeout_s" in message


def test_the_hooks_run_the_trunk_check_s_own_sip_and_ami_clients():
    """One SIP and one AMI implementation (issue 20): the connections layer has no protocol code."""
    import xop.connections.ami as ami_settings
    import xop.connections.sip as sip_settings

    for module in (sip_settings, ami_settings):
        names = set(vars(module))
        assert not names & {"options_probe", "check_trunk", "login_probe", "_digest", "_Channel"}, module
        assert "socket" not in names and "ssl" not in names, module


def test_system_db_test_button_reports_a_wrong_password(password_postgres, monkeypatch):
    pg = password_postgres
    fields = dict(conn_type="xop_sysdb", host=pg.host, port=pg.port, login=pg.user, schema=pg.database)
    good = define(monkeypatch, "xop_sysdb_scram_ok", password=pg.password, **fields)
    ok, message = XopSystemDbHook(sysdb_conn_id=good).test_connection()
    assert ok, message
    bad = define(monkeypatch, "xop_sysdb_scram_bad", password="not-the-db-password-7c", **fields)
    ok, message = XopSystemDbHook(sysdb_conn_id=bad).test_connection()
    assert not ok and "password authentication failed" in message
    assert "not-the-db-password-7c" not in message and pg.password not in message


def test_sip_test_button_works_from_inside_an_event_loop(sipp, monkeypatch):
    """A caller that already runs asyncio (a triggerer, a notebook) gets the probe on its own thread."""
    import asyncio

    far = sipp.get("options_200.xml", "udp")
    conn_id = define(
        monkeypatch, "xop_trunk_in_loop", conn_type="xop_sip_trunk", host=far.host, port=far.port
    )

    async def press() -> tuple[bool, str]:
        return XopSipTrunkHook(sip_conn_id=conn_id).test_connection()

    ok, message = asyncio.run(press())
    assert ok, message
