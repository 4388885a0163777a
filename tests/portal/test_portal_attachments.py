# ruff: noqa: F811  (the API fixtures are imported from tests/api/conftest.py by name)
"""Attachments in the portal over real HTTP, on SQLite (files in a directory) and PostgreSQL
(bytes in the database): the portal app runs in uvicorn on a loopback port over ``db_engine``;
the staff side is Airflow's real API server app with the XOP plugin, over the same database.

What is checked: a new ticket and a reply carry files, the customer downloads them as
attachments only, staff see them in the ticket detail and download them; a file over a limit,
of a refused type, or too many of them is refused with a message naming the field and nothing
is stored; another company's file is the same 404 as none; a form without its CSRF token is
refused and stores nothing.
"""

from __future__ import annotations

import hashlib
import re
import stat
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.api import harness
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
from tests.conftest import TEST_CONFIG
from tests.portal.conftest import ANN, GINA, Visitor, csrf_of, main_text
from xop.tickets.tables import attachments, ticket_events, tickets

KEY = "portal-attachments-test-key-" + "a" * 20
MAX_FORM = 300_000  # intake.max_message_attachment_bytes in these tests
MAX_TICKET = 700_000  # intake.max_ticket_attachment_bytes
PCAP = b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + bytes(range(256)) * 8


class Site:
    def __init__(self, url, engine, cfg, files_dir: Path | None) -> None:
        self.url, self.engine, self.cfg, self.files_dir = url, engine, cfg, files_dir

    def visitor(self, email: str, customer: str) -> Visitor:
        """A signed-in contact (the sign-in flow itself is tested in test_portal_http.py)."""
        from xop.portal.store import start_session

        sid, _ = start_session(
            self.engine, email=email, customer=customer, ticket=None, now=datetime.now(UTC), hours=1
        )
        v = Visitor(self.url)
        v.cookies["xop_portal_session"] = sid
        return v

    def rows(self, table) -> list[dict]:
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(sa.select(table).order_by(table.c.id))]

    def stored_files(self) -> list[Path]:
        if self.files_dir is None or not self.files_dir.exists():
            return []
        return sorted(p for p in self.files_dir.rglob("*") if p.is_file())


@pytest.fixture
def site(db_engine, tmp_path, monkeypatch):
    from xop.connections.portal_keys import forget_keys
    from xop.core.config import load_config
    from xop.demo.peers import MailDrop
    from xop.portal.app import create_app

    base = load_config(TEST_CONFIG)
    files_dir = tmp_path / "files" if db_engine.dialect.name == "sqlite" else None
    cfg = base.model_copy(
        update={
            "intake": base.intake.model_copy(
                update={
                    "max_message_attachment_bytes": MAX_FORM,
                    "max_ticket_attachment_bytes": MAX_TICKET,
                    "attachments_dir": str(files_dir) if files_dir else None,
                }
            ),
            "portal": base.portal.model_copy(update={"max_attachments": 3}),
        }
    )
    monkeypatch.setenv("XOP_PORTAL_KEY", KEY)
    forget_keys()
    with MailDrop(tmp_path / "mail") as mail:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", mail.connection_uri())
        with harness.serve(create_app(cfg, db_engine)) as url:
            yield Site(url, db_engine, cfg, files_dir)
    forget_keys()


def _new_ticket(site: Site, v: Visitor, files, subject="Bridge drops callers") -> tuple:
    page = v.get("/new")
    assert page.status_code == 200, page.text
    data = {
        "csrf": csrf_of(page.text, "new-form"),
        "system": "",
        "subject": subject,
        "description": "Drops at 10 minutes; trace attached.",
        "proposed_urgency": "major",
        "level": "2",
    }
    return v.post("/new", data, files=files)


def _reply(v: Visitor, number: str, files, body="Here is another trace.", csrf: str | None = "page"):
    page = v.get(f"/tickets/{number}")
    data = {"body": body}
    if csrf == "page":
        data["csrf"] = csrf_of(page.text, "reply-form")
    return v.post(f"/tickets/{number}/reply", data, files=files)


def _number_of(response) -> str:
    m = re.match(r"/tickets/(XOP-\d+)\?done=opened", response.headers["location"])
    assert m, response.headers.get("location")
    return m.group(1)


def _file_links(html: str, number: str) -> dict[str, str]:
    """name -> href of the files in the page's history."""
    return {
        name: href
        for href, name in re.findall(
            rf'<a href="(/tickets/{number}/attachments/\d+)" download>([^<]+)</a>', html
        )
    }


def test_a_new_ticket_and_a_reply_carry_files_the_customer_and_staff_download(
    site, client, airflow_app, clock
):
    v = site.visitor(ANN, "acme")
    r = _new_ticket(site, v, [("attachments", ("sip-trace.pcap", PCAP, "application/vnd.tcpdump.pcap"))])
    assert r.status_code == 303, r.text
    number = _number_of(r)
    unicode_name = "Störung log ü.txt"
    r = _reply(
        v,
        number,
        [
            ("attachments", ("../../etc/passwd.log", b"root:x:0:0\n", "text/plain")),
            ("attachments", (unicode_name, "Grüße\n".encode(), "text/plain")),
        ],
    )
    assert r.status_code == 303, r.text

    page = v.get(f"/tickets/{number}")
    links = _file_links(page.text, number)
    assert set(links) == {"sip-trace.pcap", "passwd.log", unicode_name}
    text = main_text(page.text)
    history = text[text.index("History") :]
    assert (
        history.index("sip-trace.pcap")
        < history.index("Here is another trace.")
        < history.index("passwd.log")
    )

    d = v.get(links["sip-trace.pcap"])
    assert d.status_code == 200 and d.content == PCAP
    assert d.headers["content-type"] == "application/octet-stream"
    assert d.headers["x-content-type-options"] == "nosniff"
    assert d.headers["content-disposition"].startswith('attachment; filename="sip-trace.pcap"')
    assert "sandbox" in d.headers["content-security-policy"]
    u = v.get(next(h for n, h in links.items() if n not in ("sip-trace.pcap", "passwd.log")))
    assert u.content == "Grüße\n".encode()
    assert "filename*=UTF-8''St%C3%B6rung%20log%20%C3%BC.txt" in u.headers["content-disposition"]

    # Each download is in the access log with the contact (written just after the response).
    from xop.portal.tables import portal_access_log

    deadline = time.monotonic() + 20
    while True:
        logged = [(r["action"], r["outcome"], r["email"], r["ticket"]) for r in site.rows(portal_access_log)]
        if logged.count(("download", "ok", ANN, number)) >= 2:
            break
        assert time.monotonic() < deadline, logged
        time.sleep(0.05)

    # Stored on the ticket, on the event each came with, without an inbound message.
    rows = site.rows(attachments)
    events = {e["id"]: e["kind"] for e in site.rows(ticket_events)}
    assert [(a["filename"], events[a["event_id"]], a["inbound_message_id"]) for a in rows] == [
        ("sip-trace.pcap", "opened", None),
        ("passwd.log", "responded", None),
        (unicode_name, "responded", None),
    ]
    assert all(a["sha256"] == hashlib.sha256(PCAP).hexdigest() for a in rows[:1])
    if site.files_dir is not None:  # content-addressed, private
        assert all(a["content"] is None and re.match(r"^[0-9a-f]{2}/[0-9a-f]{64}$", a["path"]) for a in rows)
        assert stat.S_IMODE(site.files_dir.stat().st_mode) == 0o700
        for f in site.stored_files():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600
            assert stat.S_IMODE(f.parent.stat().st_mode) == 0o700
        assert len(site.stored_files()) == 3
    else:
        assert rows[0]["content"] == PCAP and all(a["path"] is None for a in rows)

    # Staff: the ticket detail of the plugin API shows them on their events; they download them.
    harness.attach(harness.ticket_app_of(airflow_app), site.engine, site.cfg, clock)
    detail = client.get(f"/xop/api/tickets/{number}")
    assert detail.status_code == 200, detail.text
    shown = [(e["kind"], a["filename"], a["via"]) for e in detail.json()["events"] for a in e["attachments"]]
    assert shown == [
        ("opened", "sip-trace.pcap", "portal"),
        ("responded", "passwd.log", "portal"),
        ("responded", unicode_name, "portal"),
    ]
    first = detail.json()["events"][0]["attachments"][0]
    got = client.get(f"/xop/api/attachments/{first['id']}")
    assert got.status_code == 200 and got.content == PCAP
    assert got.headers["content-disposition"].startswith("attachment;")
    mail = client.get(f"/xop/api/tickets/{number}/mail").json()
    assert [a["filename"] for a in mail["attachments"]] == ["sip-trace.pcap", "passwd.log", unicode_name]
    assert (
        client.get(f"/xop/api/attachments/{first['id']}", headers={"Authorization": "Bearer x"}).status_code
        == 401
    )


def test_files_over_a_limit_or_of_a_refused_type_are_refused_naming_the_field_and_nothing_is_stored(site):
    v = site.visitor(ANN, "acme")
    r = _new_ticket(site, v, [("attachments", ("a.log", b"a" * 1000, "text/plain"))])
    number = _number_of(r)
    before = (site.rows(attachments), site.rows(ticket_events), site.stored_files())

    cases = [
        # over the per-form limit, but read (the body is within the envelope): the page again
        (
            [("attachments", ("core.gz", b"c" * (MAX_FORM + 1000), "application/gzip"))],
            422,
            "the limit is 300.0 KB",
        ),
        # far over: refused on its declared length before it is read
        ([("attachments", ("huge.gz", b"h" * (MAX_FORM * 3), "application/gzip"))], 413, "300.0 KB together"),
        (
            [("attachments", ("tool.exe", b"MZ\x90\x00", "application/octet-stream"))],
            422,
            "not a file type we accept",
        ),
        ([("attachments", (f"t{i}.txt", b"x", "text/plain")) for i in range(4)], 422, "at most 3 at once"),
        ([("attachments", ("empty.txt", b"", "text/plain"))], 422, "is empty"),
    ]
    for files, status, words in cases:
        r = _reply(v, number, files)
        assert r.status_code == status, (words, r.status_code, r.text[:300])
        text = main_text(r.text)
        assert "Attachments:" in text and words in text and "Nothing was saved" in text, text
        assert (site.rows(attachments), site.rows(ticket_events), site.stored_files()) == before

    # The ticket's own limit: 250 KB, 250 KB, then 250 KB more would pass 700 KB.
    for name in ("one.gz", "two.gz"):
        assert (
            _reply(v, number, [("attachments", (name, b"z" * 250_000, "application/gzip"))]).status_code
            == 303
        )
    kept = (site.rows(attachments), site.rows(ticket_events), site.stored_files())
    r = _reply(v, number, [("attachments", ("three.gz", b"y" * 250_000, "application/gzip"))])
    assert r.status_code == 422 and "would exceed its limit of 700.0 KB" in main_text(r.text)
    assert (site.rows(attachments), site.rows(ticket_events), site.stored_files()) == kept

    # A new ticket with a file over the limit: no ticket; the form comes back with its text.
    count = len(site.rows(tickets))
    r = _new_ticket(
        site, v, [("attachments", ("core.gz", b"c" * (MAX_FORM + 1), "application/gzip"))], "Keep me"
    )
    assert r.status_code == 422 and "Attachments:" in main_text(r.text) and 'value="Keep me"' in r.text
    assert len(site.rows(tickets)) == count


def test_another_companys_file_is_the_same_404_as_no_file(site):
    gina = site.visitor(GINA, "globex")
    theirs = _number_of(_new_ticket(site, gina, [("attachments", ("globex.log", b"secret\n", "text/plain"))]))
    [row] = [a for a in site.rows(attachments) if a["filename"] == "globex.log"]
    ann = site.visitor(ANN, "acme")
    mine = _number_of(_new_ticket(site, ann, [("attachments", ("acme.log", b"mine\n", "text/plain"))]))
    missing = ann.get(f"/tickets/{mine}/attachments/999999")
    assert missing.status_code == 404
    for path in (f"/tickets/{theirs}/attachments/{row['id']}", f"/tickets/{mine}/attachments/{row['id']}"):
        r = ann.get(path)
        assert r.status_code == 404 and main_text(r.text) == main_text(missing.text)
        assert b"secret" not in r.content and "globex" not in r.text.lower()
    # A file on an internal event is not shown to the customer either.
    with site.engine.begin() as c:
        tid = c.execute(sa.select(tickets.c.id).where(tickets.c.number == mine)).scalar_one()
        internal = c.execute(
            sa.select(ticket_events.c.id).where(
                ticket_events.c.ticket_id == tid, ticket_events.c.public.is_(False)
            )
        ).scalar()
        if internal is None:
            internal = c.execute(
                ticket_events.insert().returning(ticket_events.c.id),
                {
                    "ticket_id": tid,
                    "at": datetime.now(UTC),
                    "actor": "alice",
                    "actor_kind": "staff",
                    "kind": "note",
                    "public": False,
                    "body": "internal",
                    "payload": {},
                },
            ).scalar_one()
        hidden = c.execute(
            attachments.insert().returning(attachments.c.id),
            {
                "ticket_id": tid,
                "event_id": internal,
                "filename": "staff-only.txt",
                "content_type": "text/plain",
                "size": 3,
                "sha256": hashlib.sha256(b"abc").hexdigest(),
                "inline": False,
                "content": b"abc",
                "created_at": datetime.now(UTC),
            },
        ).scalar_one()
    page = ann.get(f"/tickets/{mine}")
    assert "staff-only.txt" not in page.text and "acme.log" in page.text
    assert ann.get(f"/tickets/{mine}/attachments/{hidden}").status_code == 404
    # Signed out: the sign-in page, never the file.
    anon = Visitor(site.url)
    r = anon.get(f"/tickets/{mine}/attachments/{row['id']}")
    assert r.status_code == 401 and b"mine" not in r.content


def test_a_form_with_files_but_without_its_csrf_token_is_refused_and_stores_nothing(site):
    v = site.visitor(ANN, "acme")
    number = _number_of(_new_ticket(site, v, []))
    before = (site.rows(attachments), site.rows(ticket_events), site.stored_files())
    files = [("attachments", ("forged.log", b"forged\n", "text/plain"))]
    r = _reply(v, number, files, csrf=None)
    assert r.status_code == 403 and "This form has expired" in r.text
    r = v.post("/new", {"subject": "forged", "level": "2", "proposed_urgency": "major"}, files=files)
    assert r.status_code == 403
    assert (site.rows(attachments), site.rows(ticket_events), site.stored_files()) == before
    assert [t["subject"] for t in site.rows(tickets)] == ["Bridge drops callers"]
