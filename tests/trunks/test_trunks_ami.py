"""PRI span status read through AMI from a protocol-honest AMI server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from tests.trunks.ami_server import AmiServer, Span
from tests.trunks.trunk_farends import NOW
from xop.core.specs.trunks import AmiSpec, TrunkSpec
from xop.trunks.ami import AmiError, check_pri_spans, read_pri_spans


@pytest.fixture
def ami_server() -> Iterator[AmiServer]:
    server = AmiServer().start()
    try:
        yield server
    finally:
        server.stop()


def spec(server: AmiServer, **overrides: object) -> AmiSpec:
    return AmiSpec.model_validate({"host": server.host, "port": server.port, "conn_id": "ami", **overrides})


PRI_TRUNKS = [
    TrunkSpec(id="acme-pri-1", kind="pri", span=1),
    TrunkSpec(id="acme-pri-2", kind="pri", span=2),
]


def run_check(server: AmiServer, *, secret: str = "amipass", **overrides: object):
    return asyncio.run(
        check_pri_spans(
            system="acme-conf1",
            ami=spec(server, **overrides),
            trunks=PRI_TRUNKS,
            username="monitor",
            secret=secret,
            checked_at=NOW,
        )
    )


def test_reads_spans_and_logs_off(ami_server: AmiServer) -> None:
    statuses = asyncio.run(read_pri_spans(spec(ami_server), username="monitor", secret="amipass"))
    assert [(s.span, s.dchannel, s.order, s.ok) for s in statuses] == [
        (1, 24, "Primary", True),
        (2, 24, "Primary", True),
    ]
    assert ami_server.actions_seen == ["Login", "PRIShowSpans", "Logoff"]


def test_all_spans_up_and_active_pass(ami_server: AmiServer) -> None:
    results = run_check(ami_server)
    assert [(r.trunk, r.kind, r.ok, r.error) for r in results] == [
        ("acme-pri-1", "pri", True, None),
        ("acme-pri-2", "pri", True, None),
    ]
    assert results[0].target == f"ami:127.0.0.1:{ami_server.port}/span 1"


def test_span_in_alarm_or_down_fails_with_its_state(ami_server: AmiServer) -> None:
    ami_server.spans = [Span(1, up=False, alarm=True), Span(2, up=True, active=False, order="Secondary")]
    results = {r.trunk: r for r in run_check(ami_server)}
    assert not results["acme-pri-1"].ok
    assert results["acme-pri-1"].error == "span 1 not up and active: D-channel 24 (Primary): In Alarm, Active"
    assert results["acme-pri-2"].error == "span 2 not up and active: D-channel 24 (Secondary): Up, Standby"


def test_backup_dchannel_active_keeps_span_up(ami_server: AmiServer) -> None:
    ami_server.spans = [
        Span(1, up=False, active=False, alarm=True, dchannel=24, order="Primary"),
        Span(1, up=True, active=True, dchannel=48, order="Secondary"),
        Span(2),
    ]
    assert all(r.ok for r in run_check(ami_server))


def test_missing_span_and_extra_expected_span_fail(ami_server: AmiServer) -> None:
    ami_server.spans = [Span(1)]
    results = {r.trunk: r for r in run_check(ami_server, spans=[3])}
    assert results["acme-pri-1"].ok
    assert results["acme-pri-2"].error == "span 2 not reported by Asterisk"
    assert results["acme-conf1-span-3"].error == "span 3 not reported by Asterisk"


def test_bad_secret_fails_every_span_with_the_servers_message(ami_server: AmiServer) -> None:
    results = run_check(ami_server, secret="wrong")
    assert {r.error for r in results} == {"AMI login refused: Authentication failed"}
    assert not any(r.ok for r in results)


def test_asterisk_without_pri_module(ami_server: AmiServer) -> None:
    ami_server.pri_loaded = False
    results = run_check(ami_server)
    assert results[0].error.startswith("PRIShowSpans refused: Invalid/unknown command: PRIShowSpans.")


def test_unreachable_ami_fails_every_span() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    server = AmiServer(port=port)  # not started: nothing listens
    results = run_check(server)
    assert {r.error for r in results} == {f"AMI 127.0.0.1:{port}: Connect call failed ('127.0.0.1', {port})"}


def test_not_an_ami_banner() -> None:
    async def scenario() -> str:
        async def fake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
            await writer.drain()

        server = await asyncio.start_server(fake, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            ami = AmiSpec(host="127.0.0.1", port=port, conn_id="ami")
            await read_pri_spans(ami, username="u", secret="s")
        except AmiError as exc:
            return str(exc)
        finally:
            server.close()
        return "no error"

    assert asyncio.run(scenario()) == "not an Asterisk Manager Interface (banner 'SSH-2.0-OpenSSH_9.2')"
