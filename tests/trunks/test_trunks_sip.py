"""The SIP probe and test call against real SIPp far ends (UDP, TCP, IPv6, TLS through a terminator)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.trunks.trunk_farends import NOW, SippPool, TlsCertificates, TlsTerminator, free_port
from xop.core.specs.trunks import QualitySpec, TlsSpec, TrunkSpec
from xop.trunks import place_call, sip
from xop.trunks.sip import DigestCredentials, SipTarget, run_sip_checks

CREDENTIALS = DigestCredentials("monitor", "s3cret")
QUALITY_IGNORED = QualitySpec(degraded_mos=1.0, failed_mos=1.0, max_loss_pct=100.0, max_jitter_ms=10_000.0)


def trunk_for(host: str, port: int, transport: str = "udp", **overrides: object) -> TrunkSpec:
    settings: dict[str, object] = {
        "id": f"t-{transport}-{port}",
        "host": host,
        "port": port,
        "transport": transport,
        "dial_number": "+15125550100",
        "options_timeout_s": 2.0,
        "call_timeout_s": 4.0,
        "media_seconds": 1.0,
        # These tests are about SIP; the call quality has its own tests (test_trunks_quality.py) with
        # bands for this loaded machine, where SIPp's echo thread may wait for a core long enough
        # for the jitter buffer to discard packets. No MOS can fail or degrade these calls.
        "quality": QUALITY_IGNORED,
    }
    settings.update(overrides)
    return TrunkSpec.model_validate(settings)


def check(trunk: TrunkSpec, credentials: DigestCredentials | None = None) -> dict[str, sip.TrunkCheckResult]:
    results = run_sip_checks([SipTarget("acme-conf1", trunk, credentials)], checked_at=NOW)
    return {result.kind: result for result in results}


def call_only(trunk: TrunkSpec, credentials: DigestCredentials | None = None) -> sip.TrunkCheckResult:
    return asyncio.run(
        sip.place_test_call(trunk, system="acme-conf1", checked_at=NOW, credentials=credentials)
    )


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_answered_call_with_echo_passes(sipp: SippPool, transport: str) -> None:
    far = sipp.get("answer_echo.xml", transport)
    results = check(trunk_for(far.host, far.port, transport))

    options, call = results["options"], results["call"]
    assert options.ok and options.sip_code == 200 and options.rtt_ms is not None and options.error is None
    assert call.ok, call.error
    assert call.sip_code == 200
    assert call.rtp_sent == 50
    assert call.rtp_received is not None and call.rtp_received >= 45  # SIPp's -rtp_echo
    assert call.pdd_ms is not None and call.setup_ms is not None and call.setup_ms >= call.pdd_ms
    assert call.checked_at == NOW and call.system == "acme-conf1"
    assert call.target == f"{transport}:127.0.0.1:{far.port}"


def test_ipv6_target(sipp: SippPool) -> None:
    far = sipp.get("answer_echo.xml", "udp", host="::1")
    results = check(trunk_for("[::1]", far.port))
    assert results["options"].ok and results["options"].target == f"udp:[::1]:{far.port}"
    assert results["call"].ok, results["call"].error
    assert results["call"].rtp_received


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_busy_486_fails_as_busy(sipp: SippPool, transport: str) -> None:
    far = sipp.get("busy_486.xml", transport)
    results = check(trunk_for(far.host, far.port, transport))
    assert results["options"].ok
    call = results["call"]
    assert not call.ok and call.sip_code == 486
    assert call.error == "busy (486 Busy Here)"
    assert call.setup_ms is None and call.rtp_sent is None


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_503_fails_as_rejected(sipp: SippPool, transport: str) -> None:
    far = sipp.get("reject_503.xml", transport)
    call = check(trunk_for(far.host, far.port, transport))["call"]
    assert not call.ok and call.sip_code == 503
    assert call.error == "rejected 503 Service Unavailable"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_unanswered_call_times_out_and_is_cancelled(sipp: SippPool, transport: str) -> None:
    far = sipp.get("no_answer.xml", transport)
    call = call_only(trunk_for(far.host, far.port, transport, call_timeout_s=1.0))
    assert not call.ok
    assert call.sip_code == 180 and call.pdd_ms is not None
    assert call.error.startswith("no answer: no final response in 1 s (last 180 Ringing)")
    assert "Unexpected" not in far.errors()  # SIPp saw the CANCEL and our ACK of its 487


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_slow_ringing_measures_post_dial_delay_and_setup(sipp: SippPool, transport: str) -> None:
    far = sipp.get("slow_answer.xml", transport)
    call = call_only(trunk_for(far.host, far.port, transport, media_seconds=0.2))
    assert call.ok, call.error
    assert call.pdd_ms is not None and 950 <= call.pdd_ms < 3000
    assert call.setup_ms is not None and call.setup_ms >= call.pdd_ms + 450


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_401_digest_verified_by_sipp(sipp: SippPool, transport: str) -> None:
    far = sipp.get("auth_401.xml", transport)
    good = call_only(trunk_for(far.host, far.port, transport), CREDENTIALS)
    assert good.ok and good.sip_code == 200 and good.rtp_received, good.error

    wrong = call_only(trunk_for(far.host, far.port, transport), DigestCredentials("monitor", "wrong"))
    assert not wrong.ok and wrong.error == "rejected 403 Forbidden"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_407_challenge_then_answer(sipp: SippPool, transport: str) -> None:
    far = sipp.get("auth_407.xml", transport)
    results = check(trunk_for(far.host, far.port, transport, conn_id="trunk_auth"), CREDENTIALS)
    assert results["options"].ok
    assert results["call"].ok, results["call"].error

    no_credentials = call_only(trunk_for(far.host, far.port, transport))
    assert not no_credentials.ok and no_credentials.sip_code == 407
    assert no_credentials.error == "authentication required (407) but the trunk has no conn_id"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_options_404_is_down_unless_accepted(sipp: SippPool, transport: str) -> None:
    far = sipp.get("options_404.xml", transport)
    probe = asyncio.run(
        sip.probe_options(trunk_for(far.host, far.port, transport), system="s", checked_at=NOW)
    )
    assert not probe.ok and probe.sip_code == 404 and probe.error == "rejected 404 Not Found"
    assert probe.rtt_ms is not None

    accepting = trunk_for(far.host, far.port, transport, accepted_codes=[200, 404])
    probe = asyncio.run(sip.probe_options(accepting, system="s", checked_at=NOW))
    assert probe.ok and probe.sip_code == 404 and probe.error is None


def test_closed_udp_port_is_icmp_unreachable() -> None:
    results = check(trunk_for("127.0.0.1", free_port()))
    assert not results["options"].ok
    assert results["options"].error == "ICMP unreachable: port closed"
    assert results["options"].sip_code is None
    assert results["call"].error == "not attempted: OPTIONS failed (ICMP unreachable: port closed)"


def test_closed_tcp_port_is_connection_refused() -> None:
    results = check(trunk_for("127.0.0.1", free_port(), "tcp"))
    assert results["options"].error == "transport error: connection refused"
    assert not results["call"].ok


def test_silent_trunk_times_out_without_delaying_the_others(sipp: SippPool) -> None:
    good = sipp.get("answer_echo.xml", "udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # receives, never answers
        silent.bind(("127.0.0.1", 0))
        dead = trunk_for("127.0.0.1", silent.getsockname()[1], id="dead", options_timeout_s=1.0)
        alive = trunk_for(good.host, good.port, id="alive")
        results = run_sip_checks([SipTarget("s", dead), SipTarget("s", alive)], checked_at=NOW)
    by_key = {(result.trunk, result.kind): result for result in results}
    assert by_key[("dead", "options")].error == "timeout: no response in 1 s"
    assert by_key[("dead", "call")].error.startswith("not attempted")
    assert by_key[("alive", "options")].ok and by_key[("alive", "call")].ok


def test_tls_call_through_terminator(tls_far_end: TlsTerminator, tls_certs: TlsCertificates) -> None:
    trunk = trunk_for(tls_far_end.host, tls_far_end.port, "tls", tls=TlsSpec(ca_file=str(tls_certs.ca_file)))
    results = check(trunk)
    assert results["options"].ok, results["options"].error
    assert results["call"].ok, results["call"].error
    assert results["call"].rtp_received


def test_tls_untrusted_certificate_is_a_transport_error(tls_far_end: TlsTerminator) -> None:
    results = check(trunk_for(tls_far_end.host, tls_far_end.port, "tls"))
    assert results["options"].error.startswith("transport error: TLS certificate rejected")


def test_tls_wrong_name_is_rejected(tls_far_end: TlsTerminator, tls_certs: TlsCertificates) -> None:
    tls = TlsSpec(ca_file=str(tls_certs.ca_file), server_name="other.test")
    results = check(trunk_for(tls_far_end.host, tls_far_end.port, "tls", tls=tls))
    assert results["options"].error.startswith("transport error: TLS certificate rejected")
    # verify: false accepts it (documented as unsafe, for lab trunks only)
    relaxed = TlsSpec(verify=False)
    results = check(trunk_for(tls_far_end.host, tls_far_end.port, "tls", tls=relaxed))
    assert results["options"].ok


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_challenged_options_reports_the_authenticated_round_trip(sipp: SippPool, transport: str) -> None:
    # The far end answers the 401 at once and the authenticated OPTIONS only after 400 ms.
    far = sipp.get("options_auth_401.xml", transport)
    trunk = trunk_for(far.host, far.port, transport, test_call=False)
    probe = asyncio.run(sip.probe_options(trunk, system="s", checked_at=NOW, credentials=CREDENTIALS))
    assert probe.ok and probe.sip_code == 200, probe.error
    assert probe.rtt_ms is not None and probe.rtt_ms >= 400  # the 401 alone came back in far less

    wrong = asyncio.run(
        sip.probe_options(trunk, system="s", checked_at=NOW, credentials=DigestCredentials("monitor", "x"))
    )
    assert not wrong.ok and wrong.sip_code == 403 and wrong.rtt_ms >= 400


def test_place_call_sends_the_given_audio_and_records_the_echo(sipp: SippPool) -> None:
    # The emergency call's use: our own G.711 payload (here 0.5 s of a PCMU ramp), the echo recorded.
    far = sipp.get("answer_echo.xml", "udp")
    audio = bytes(range(256)) * 3 + bytes(32)  # 800 bytes = 5 packets of 160
    outcome = place_call(
        SipTarget("acme-conf1", trunk_for(far.host, far.port)), None, audio=audio, record_received=True
    )
    assert outcome.answered and outcome.error is None, outcome.error
    assert outcome.sip_code == 200 and outcome.reason == "OK" and outcome.payload_type == 0
    assert outcome.answered_at is not None and outcome.answered_at.tzinfo is not None
    assert outcome.rtp_sent == 5 and outcome.duration_s > 0
    assert outcome.received == audio  # SIPp echoes every packet on loopback, in order


def test_place_call_reports_a_busy_far_end(sipp: SippPool) -> None:
    far = sipp.get("busy_486.xml", "udp")
    outcome = place_call(SipTarget("acme-conf1", trunk_for(far.host, far.port)), None, audio=bytes(160))
    assert not outcome.answered and outcome.sip_code == 486 and outcome.reason == "Busy Here"
    assert outcome.error == "busy (486 Busy Here)" and outcome.rtp_sent == 0 and outcome.answered_at is None
