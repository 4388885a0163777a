# ruff: noqa: F811  (the API fixtures are imported from tests/api/conftest.py by name)
"""The quarantine and a ticket's mail over the plugin API, in Airflow's real API server app."""

from __future__ import annotations

import hashlib

from tests.api.conftest import (  # noqa: F401  (fixtures)
    Clock,
    airflow_app,
    api_db_url,
    api_engine,
    client,
    clock,
    session_client,
    tokens,
)
from tests.intake import samples
from tests.intake.conftest import NOW
from xop.intake.apply import process


def test_quarantine_list_accept_reject_source_and_attachments(client, api_engine, intake_config):
    stranger = samples.mail(
        sender="x@stranger.example",
        attachments=[("trace.pcap", "application/vnd.tcpdump.pcap", b"\xd4\xc3\xb2\xa1")],
    )
    spam = samples.mail(sender="win@lottery.example", subject="You won")
    for raw in (stranger, spam):
        assert process(api_engine, intake_config, raw, now=NOW).outcome == "quarantined"
    r = client.get("/xop/api/quarantine")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 2 and [i["sender"] for i in body["items"]] == [
        "win@lottery.example",
        "x@stranger.example",
    ]
    spam_id, stranger_id = (i["id"] for i in body["items"])

    assert client.get(f"/xop/api/inbound/{stranger_id}/source").content == stranger
    r = client.post(f"/xop/api/quarantine/{stranger_id}/accept", json={"customer": "acme"})
    assert r.status_code == 200, r.text
    number = r.json()["ticket"]
    assert client.post(f"/xop/api/quarantine/{stranger_id}/reject", json={}).status_code == 409
    r = client.post(f"/xop/api/quarantine/{spam_id}/reject", json={"reason": "lottery"})
    assert r.status_code == 200 and r.json()["outcome"] == "rejected"
    assert client.get("/xop/api/quarantine").json()["total"] == 0
    assert client.post(f"/xop/api/quarantine/{spam_id}/accept", json={}).status_code == 422

    mail = client.get(f"/xop/api/tickets/{number}/mail").json()
    [a] = mail["attachments"]
    assert a["filename"] == "trace.pcap" and "content" not in a
    r = client.get(f"/xop/api/attachments/{a['id']}")
    assert r.content == b"\xd4\xc3\xb2\xa1" and r.headers["content-type"] == "application/octet-stream"
    assert r.headers["x-checksum-sha256"] == hashlib.sha256(r.content).hexdigest()
    assert "attachment" in r.headers["content-disposition"]


def test_quarantine_needs_a_login(session_client):
    assert session_client.get("/xop/api/quarantine").status_code == 401
