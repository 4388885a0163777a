"""What a request body may be: JSON that Python parses but JSON cannot answer with (NaN, Infinity,
lone surrogates) is a 422 naming the field; a body over the limit is a 413 before it is read.
Over real HTTP (uvicorn serving Airflow's app), so connection handling is the server's own."""

from __future__ import annotations

import asyncio
import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api import harness
from tests.api.test_api import BASE, NEW, counts
from xop.api import limits

LIMIT = 1024 * 1024
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def live(live_url, client, tokens, airflow_app):
    """An HTTP client on the live server as alice, on the (emptied) database of ``client``."""
    app = harness.ticket_app_of(airflow_app)
    with httpx.Client(base_url=live_url, headers={"Authorization": f"Bearer {tokens['alice']}"}) as http:
        yield http
    app.state.max_body_bytes = None


def _raw(body: dict, **raw: str) -> bytes:
    """``body`` as JSON text with ``raw`` fields spliced in verbatim (NaN, escapes...)."""
    text = json.dumps(body)[:-1]
    for key, value in raw.items():
        text += f', "{key}": {value}'
    return (text + "}").encode()


@pytest.mark.parametrize(
    ("field", "raw", "loc"),
    [
        ("subject", "NaN", ["body", "subject"]),
        ("description", "Infinity", ["body", "description"]),
        ("reporter_name", "-Infinity", ["body", "reporter_name"]),
        ("subject", '"caller \\ud800 drops"', ["body", "subject"]),
        ("description", '"\\udfff"', ["body", "description"]),
        ("level", "NaN", ["body", "level"]),
    ],
)
def test_unrepresentable_json_values_are_a_422_naming_the_field(live, api_engine, field, raw, loc):
    base = {k: v for k, v in NEW.items() if k != field}
    for _ in range(2):  # the second request rides the same keep-alive connection
        r = live.post(f"{BASE}/tickets", content=_raw(base, **{field: raw}), headers=JSON)
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert [d["loc"] for d in detail] == [loc]
        assert set(detail[0]) == {"loc", "msg", "type"}  # no "input": the value is not echoed
        assert "NaN" not in r.text and "Infinity" not in r.text and "drops" not in r.text
        assert r.headers.get("connection") != "close"
    assert counts(api_engine)["tickets"] == 0


def test_a_lone_surrogate_in_a_key_is_a_422_on_the_body():
    """Pydantic refuses such a key before looking at fields; where it can name a part, the
    part is shown escaped."""
    assert limits.safe_errors([{"loc": ("body", "\ud800x"), "msg": "m", "type": "t", "input": 1}]) == [
        {"loc": ["body", "\\ud800x"], "msg": "m", "type": "t"}
    ]


def test_a_lone_surrogate_in_a_key_is_not_echoed(live):
    r = live.post(f"{BASE}/tickets", content=_raw(NEW, **{"\\ud800x": "1"}), headers=JSON)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body"] and "ud800" not in r.text


def test_a_surrogate_in_an_action_body_is_a_422_too(live):
    number = live.post(f"{BASE}/tickets", json=NEW).json()["number"]
    r = live.post(f"{BASE}/tickets/{number}/respond", content=b'{"body": "\\ud83d"}', headers=JSON)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "body"], r.text


def test_a_declared_length_over_the_limit_is_refused_before_the_body(live, live_url, tokens, api_engine):
    head = (
        f"POST {BASE}/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {{token}}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {100 * LIMIT}\r\n\r\n"
    )
    parts = urlsplit(live_url)
    with socket.create_connection((parts.hostname, parts.port)) as s:
        s.sendall(head.replace("{token}", tokens["alice"]).encode())  # and not one byte of body
        answer = b""
        while data := s.recv(65536):
            answer += data
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert f"larger than {LIMIT} bytes".encode() in answer
    assert counts(api_engine)["tickets"] == 0


def test_a_chunked_body_is_refused_at_the_limit_not_after_it(airflow_app, client, tokens, api_engine):
    """Driven at the ASGI boundary (what uvicorn calls), so the test sees exactly how many
    chunks of a 100 MiB upload the app pulled before it answered."""
    chunk, total = 65536, 100 * LIMIT
    pulled, messages = 0, []

    async def receive():
        nonlocal pulled
        pulled += 1
        if pulled * chunk > total:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": b"{" if pulled == 1 else b" " * chunk, "more_body": True}

    async def send(message):
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"{BASE}/tickets",
        "raw_path": f"{BASE}/tickets".encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {tokens['alice']}".encode()),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    asyncio.run(airflow_app(scope, receive, send))
    assert messages[0]["type"] == "http.response.start" and messages[0]["status"] == 413, messages[:1]
    assert pulled <= LIMIT // chunk + 2  # stopped at the first chunk past 1 MiB, of 1600
    assert counts(api_engine)["tickets"] == 0


def test_the_limit_is_configurable_and_bodies_under_it_pass(live, airflow_app, api_engine):
    app = harness.ticket_app_of(airflow_app)
    assert app.state.max_body_bytes in (None, LIMIT)  # the config's default: 1 MiB
    app.state.max_body_bytes = 4096
    small = NEW | {"description": "x" * 2000}
    assert live.post(f"{BASE}/tickets", json=small).status_code == 201
    r = live.post(f"{BASE}/tickets", json=NEW | {"description": "x" * 5000})
    assert r.status_code == 413 and "larger than 4096 bytes" in r.json()["detail"]
    assert counts(api_engine)["tickets"] == 1


def test_the_config_carries_the_limit(xop_config):
    assert xop_config.api.max_body_bytes == LIMIT
    from xop.core.specs.api import ApiSpec

    with pytest.raises(ValueError, match="max_body_bytes"):
        ApiSpec(max_body_bytes=10)


@pytest.mark.parametrize("path", ["/tickets", "/tickets.csv"])
def test_a_nul_in_the_owner_filter_is_a_422_naming_it(live, path):
    # Found by the fuzzer: a NUL in the owner filter reached PostgreSQL and failed there (500).
    r = live.get(f"{BASE}{path}", params={"owner": "ops\x00one"})
    assert r.status_code == 422, r.text
    assert [d["loc"] for d in r.json()["detail"]] == [["query", "owner"]]
