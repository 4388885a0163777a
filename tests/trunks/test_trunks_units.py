"""Config validation, SIP parsing, digest auth, and the results table on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from tests.trunks.trunk_farends import NOW
from xop.core.specs.trunks import AmiSpec, TrunkSpec
from xop.trunks.result import TrunkCheckResult
from xop.trunks.sip import parse_sdp_answer, reason_for_final
from xop.trunks.sipmsg import StreamFramer, digest_authorization, parse_challenge, parse_message
from xop.trunks.tables import format_results, record_results, trunk_checks

# --- spec ---------------------------------------------------------------------------------------


def test_trunk_defaults_and_normalised_hosts() -> None:
    trunk = TrunkSpec(id="acme-sip-1", host="[2001:DB8::1]", dial_number="+15125550100")
    assert trunk.host == "2001:db8::1"
    assert trunk.effective_port == 5060 and trunk.accepted_codes == [200]
    assert trunk.target == "udp:[2001:db8::1]:5060"
    tls = TrunkSpec(id="t", host="sip.example.com.", transport="tls", dial_number="100")
    assert tls.host == "sip.example.com" and tls.effective_port == 5061 and tls.tls.verify


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"id": "x", "host": "a", "dial_number": "1", "colour": "red"}, "Extra inputs are not permitted"),
        (
            {"id": "x", "host": "bad host!", "dial_number": "1"},
            "host must be an IPv4/IPv6 address or a DNS name",
        ),
        ({"id": "x", "dial_number": "1"}, "kind 'sip' needs host"),
        ({"id": "x", "host": "a"}, "test_call needs dial_number"),
        ({"id": "x", "host": "a", "dial_number": "12ab"}, "dial_number must be digits"),
        ({"id": "x", "host": "a", "dial_number": "1", "accepted_codes": [180]}, "final SIP codes 200-699"),
        ({"id": "x", "host": "a", "dial_number": "1", "transport": "sctp"}, "Input should be 'udp', 'tcp'"),
        ({"id": "x", "kind": "pri"}, "kind 'pri' needs span"),
        ({"id": "x", "host": "a", "dial_number": "1", "span": 1}, "span is only for kind 'pri'"),
        ({"id": "bad id", "host": "a", "dial_number": "1"}, "trunk id must be letters"),
    ],
)
def test_trunk_validation_names_the_problem(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        TrunkSpec.model_validate(settings)
    assert message in str(error.value)


def test_ami_spec() -> None:
    ami = AmiSpec(host="10.0.0.5", conn_id="acme_ami", spans=[1, 2])
    assert ami.port == 5038
    with pytest.raises(ValidationError, match="Extra inputs"):
        AmiSpec.model_validate({"host": "h", "conn_id": "c", "secret": "x"})
    with pytest.raises(ValidationError, match="span numbers 1-1024"):
        AmiSpec(host="h", conn_id="c", spans=[0])


# --- SIP messages and digest --------------------------------------------------------------------


def test_digest_matches_rfc2617_example() -> None:
    challenge = (
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    header = digest_authorization(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle Of Life",
        cnonce="0a4f113b",
    )
    assert 'response="6629fae49393a05397450978507c4ef1"' in header
    assert "qop=auth, nc=00000001" in header and 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header


def test_digest_sha256_rfc7616_example() -> None:
    challenge = (
        'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    header = digest_authorization(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle of Life",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )
    assert 'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"' in header


def test_challenge_parsing_refuses_other_schemes() -> None:
    assert parse_challenge('Digest realm="a", nonce="b", stale=FALSE')["stale"] == "FALSE"
    with pytest.raises(ValueError, match="only Digest"):
        parse_challenge('Basic realm="a"')


def test_stream_framer_splits_and_joins_messages() -> None:
    first = b"SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\nl: 4\r\n\r\nbody"
    second = b"SIP/2.0 180 Ringing\r\nv: SIP/2.0/TCP h;branch=z9hG4bKx\r\nContent-Length: 0\r\n\r\n"
    framer = StreamFramer()
    stream = b"\r\n\r\n" + first + second
    messages = framer.feed(stream[:20]) + framer.feed(stream[20:70]) + framer.feed(stream[70:])
    assert [m.status for m in messages] == [200, 180]
    assert messages[0].body == b"body" and messages[0].method == "OPTIONS"
    assert messages[1].branch == "z9hG4bKx"


def test_parse_folded_headers_and_compact_names() -> None:
    message = parse_message(
        b"BYE sip:a@b SIP/2.0\r\nf: <sip:x@y>;tag=1\r\nSubject: one\r\n two\r\ni: abc\r\n\r\n"
    )
    assert message.method == "BYE" and message.header("From") == "<sip:x@y>;tag=1"
    assert message.header("subject") == "one two" and message.header("call-id") == "abc"


def test_sdp_answer_media_level_connection_wins() -> None:
    sdp = b"v=0\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 0\r\nc=IN IP4 10.0.0.2\r\n"
    assert parse_sdp_answer(sdp) == ("10.0.0.2", 4000, 8)
    assert parse_sdp_answer(b"v=0\r\nc=IN IP6 ::1\r\nm=video 5000 RTP/AVP 96\r\n") is None


def test_reasons_for_final_codes() -> None:
    assert reason_for_final(600, "Busy Everywhere") == "busy (600 Busy Everywhere)"
    assert reason_for_final(480, "Temporarily Unavailable") == "no answer (480 Temporarily Unavailable)"
    assert reason_for_final(404, "Not Found") == "rejected 404 Not Found"


# --- table --------------------------------------------------------------------------------------

RESULTS = [
    TrunkCheckResult("acme-sip-1", "acme-conf1", "options", True, NOW, "udp:10.0.0.1:5060", 200, 12.5),
    TrunkCheckResult(
        "acme-sip-1",
        "acme-conf1",
        "call",
        False,
        NOW,
        "udp:10.0.0.1:5060",
        486,
        pdd_ms=812.0,
        error="busy (486 Busy Here)",
    ),
    TrunkCheckResult("acme-pri-1", "acme-conf1", "pri", True, NOW, "ami:10.0.0.5:5038/span 1"),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'trunks.db'}")
        trunk_checks.create(engine)
        yield engine
        engine.dispose()
        return
    name = f"xop_trunks_{secrets.token_hex(4)}"
    admin = sa.create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    try:
        trunk_checks.create(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_record_results_in_one_batch(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        written = record_results(conn, RESULTS, ticket_numbers={("acme-conf1", "acme-sip-1"): "XOP-000042"})
    assert written == 3
    with engine.connect() as conn:
        rows = conn.execute(sa.select(trunk_checks).order_by(trunk_checks.c.id)).mappings().all()
    assert [(r["trunk"], r["kind"], r["ok"], r["sip_code"], r["ticket_number"]) for r in rows] == [
        ("acme-sip-1", "options", True, 200, "XOP-000042"),
        ("acme-sip-1", "call", False, 486, "XOP-000042"),
        ("acme-pri-1", "pri", True, None, None),
    ]
    assert rows[0]["checked_at"] == NOW and rows[0]["checked_at"].tzinfo is not None
    assert rows[1]["error"] == "busy (486 Busy Here)" and rows[1]["pdd_ms"] == 812.0
    with engine.begin() as conn:
        assert record_results(conn, []) == 0


def test_unknown_kind_is_refused_by_the_database(engine: sa.Engine) -> None:
    bad = TrunkCheckResult("t", "s", "ping", True, NOW)  # type: ignore[arg-type]
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        record_results(conn, [bad])


def test_format_results_lists_failures_first() -> None:
    text = format_results(RESULTS)
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["system", "trunk", "kind", "result"]
    assert "FAIL" in lines[2] and "busy (486 Busy Here)" in lines[2] and "812.0" in lines[2]
    assert lines[-1] == "3 checks, 1 failed"


# --- schedule and run planning ------------------------------------------------------------------


def test_schedule_times_to_crons(monkeypatch: pytest.MonkeyPatch) -> None:
    from xop.core.schedule import configured_times, crons_for, timetable

    assert crons_for(["09:00", "15:00"]) == ["0 9,15 * * *"]
    assert crons_for(["08:30", "15:00", "14:30"]) == ["0 15 * * *", "30 8,14 * * *"]
    with pytest.raises(ValueError, match="HH:MM"):
        crons_for(["9am"])
    monkeypatch.delenv("XOP_TRUNK_CHECK_TIMES", raising=False)
    assert configured_times("xop_trunk_check") == ("09:00", "15:00")
    assert timetable("xop_trunk_check").summary == "0 9,15 * * *"
    monkeypatch.setenv("XOP_TRUNK_CHECK_TIMES", "08:30, 14:30")
    assert configured_times("xop_trunk_check") == ("08:30", "14:30")
    monkeypatch.delenv("XOP_DAILY_AUDIT_TIME", raising=False)
    assert timetable("xop_daily_audit").summary == "0 4 * * *"
    monkeypatch.setenv("XOP_DAILY_AUDIT_TIME", "4:00")
    with pytest.raises(ValueError, match=r"XOP_DAILY_AUDIT_TIME .*HH:MM"):
        timetable("xop_daily_audit")


def _config(tmp_path, customers: list[dict]):
    import yaml

    from tests.conftest import REPO
    from xop.core.config import load_config

    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "xop.yaml"
    path.write_text(
        yaml.safe_dump({"extends": str(REPO / "include/config/xop.yaml"), "customers": customers})
    )
    return load_config(path)


def _customer(cid: str, monitoring: bool, trunks: list[dict], **system: object) -> dict:
    return {
        "id": cid,
        "name": cid,
        "monitoring": monitoring,
        "systems": [{"id": f"{cid}-conf1", "name": "bridge", "trunks": trunks, **system}],
    }


SIP = {"host": "127.0.0.1", "port": 5060, "dial_number": "100"}


def test_plan_respects_consent_params_and_credentials(tmp_path) -> None:
    from xop.core.errors import ConfigError
    from xop.trunks.run import plan_checks
    from xop.trunks.sip import DigestCredentials

    config = _config(
        tmp_path,
        [
            _customer(
                "acme",
                True,
                [{"id": "a-sip", "conn_id": "a_trunk", **SIP}, {"id": "a-pri", "kind": "pri", "span": 1}],
                ami={"host": "127.0.0.1", "conn_id": "a_ami", "spans": [2]},
            ),
            _customer("globex", False, [{"id": "g-sip", **SIP}]),
        ],
    )
    asked: list[str] = []

    def credentials(conn_id: str) -> DigestCredentials:
        asked.append(conn_id)
        return DigestCredentials(conn_id, "pw")

    plans = plan_checks(config, credentials=credentials)
    assert [p.system for p in plans] == ["acme-conf1"]  # globex has no consent
    assert [t.trunk.id for t in plans[0].sip] == ["a-sip"] and plans[0].sip[
        0
    ].credentials.username == "a_trunk"
    assert [t.id for t in plans[0].pri] == ["a-pri"] and plans[0].ami.spans == [2]
    assert asked == ["a_trunk", "a_ami"]

    only = plan_checks(config, credentials=credentials, trunk="a-sip")
    assert [t.trunk.id for t in only[0].sip] == ["a-sip"] and not only[0].pri and not only[0].reads_ami

    with pytest.raises(ConfigError, match="has not consented to monitoring"):
        plan_checks(config, credentials=credentials, system="globex-conf1")
    with pytest.raises(ConfigError, match="no such trunk"):
        plan_checks(config, credentials=credentials, trunk="nope")
    with pytest.raises(ConfigError, match="no system with id"):
        plan_checks(config, credentials=credentials, system="nope")


def test_plan_refuses_pri_without_ami_and_shared_trunk_ids(tmp_path) -> None:
    from xop.core.errors import ConfigError
    from xop.trunks.run import plan_checks

    no_ami = _config(tmp_path, [_customer("acme", True, [{"id": "a-pri", "kind": "pri", "span": 1}])])
    with pytest.raises(ConfigError, match="need an 'ami' section"):
        plan_checks(no_ami, credentials=lambda c: None)
    shared = _config(
        tmp_path / "shared",
        [_customer("acme", True, [{"id": "x", **SIP}]), _customer("initech", True, [{"id": "x", **SIP}])],
    )
    with pytest.raises(ConfigError, match="trunk ids must be unique"):
        plan_checks(shared, credentials=lambda c: None)
