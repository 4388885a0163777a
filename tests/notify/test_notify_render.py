"""Every email template renders, in text and HTML, with the facts the customer or staff need."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import jinja2
import pytest
from markupsafe import Markup

from xop.notify import render
from xop.notify.render import KINDS, central_time, render_email, templates_dir
from xop.notify.tables import notifications

SUMMER = datetime(2026, 7, 6, 14, 5, tzinfo=UTC)  # 09:05 CDT
WINTER = datetime(2026, 1, 6, 15, 0, tzinfo=UTC)  # 09:00 CST
DUE = datetime(2026, 7, 6, 19, 30, tzinfo=UTC)  # 14:30 CDT

TICKET = {
    "number": "XOP-000123",
    "subject": "Bridge <script>alert(1)</script> & lines down",
    "customer": "acme",
    "system": "acme-conf1",
    "urgency": "critical",
    "level": 3,
    "state": "open",
    "reporter_name": "Ann Lee",
    "reporter_email": "ann@acme.example",
    "opened_at": SUMMER,
}
L3 = {
    "name": "XOP Networks Level 3 Support",
    "email": "l3@xopnetworks.example",
    "phone": "972-590-0200, option 2",
    "hours": "8 am – 6 pm Central, Mon–Fri",
}
EMERGENCY = {
    "name": "XOP Networks Management",
    "email": "mgmt@xopnetworks.example",
    "phone": "972-590-0219",
    "hours": "8 am – 6 pm Central, Mon–Fri",
}
EVENT = {
    "kind": "reply",
    "actor": "Bob Ray (L3)",
    "body": "We restarted the bridge.\n\nWatching it.",
    "at": WINTER,
}
CLOCK = {"name": "l3_response", "label": "Level 3 response", "due_at": DUE, "fraction": 0.75}

TICKET_FACTS = ["XOP-000123", "acme-conf1", "Ann Lee", "Mon 2026-07-06 09:05 CDT"]
CONTACT_FACTS = [L3["name"], L3["email"], L3["phone"]]

# kind -> (context, strings both the text and the HTML must contain)
CASES: dict[str, tuple[dict, list[str]]] = {
    "ticket_opened": (
        {
            "ticket": TICKET,
            "contact": L3,
            "sla_targets": [
                {"label": "Level 2 response", "target": "2 business hours", "due_at": DUE},
                {"label": "Level 3 recovery", "target": "6 business hours"},
                {"label": "Root cause analysis", "target": "1 business day"},
            ],
            "ticket_url": "https://myxop.com/tickets/XOP-000123",
        },
        [
            *TICKET_FACTS,
            *CONTACT_FACTS,
            "Level 2 response",
            "2 business hours",
            "Level 3 recovery",
            "6 business hours",
            "1 business day",
            "Mon 2026-07-06 14:30 CDT",
            "https://myxop.com/tickets/XOP-000123",
        ],
    ),
    "ticket_updated": (
        {"ticket": TICKET, "event": EVENT, "contact": L3},
        [
            "XOP-000123",
            "Bob Ray (L3)",
            "We restarted the bridge.",
            "Watching it.",
            "Tue 2026-01-06 09:00 CST",
        ],
    ),
    "ticket_escalated": (
        {"ticket": TICKET, "event": {**EVENT, "body": "Level 2 response time exceeded."}, "contact": L3},
        [*TICKET_FACTS, *CONTACT_FACTS, L3["hours"], "Level 3", "Level 2 response time exceeded."],
    ),
    "ticket_recovered": (
        {"ticket": TICKET, "event": EVENT, "contact": L3, "rca_due_at": DUE},
        ["XOP-000123", *CONTACT_FACTS, "Tue 2026-01-06 09:00 CST", "Mon 2026-07-06 14:30 CDT", "root cause"],
    ),
    "rca": (
        {
            "ticket": TICKET,
            "event": EVENT,
            "contact": L3,
            "rca": {
                "cause": "The media disk filled up.",
                "extent": "All conferences on acme-conf1 for 40 minutes.",
                "actions_taken": "Old recordings moved off the disk.",
                "resolution_plan": "Rotate recordings daily; alert at 80 % disk.",
            },
        },
        [
            *TICKET_FACTS,
            "The media disk filled up.",
            "All conferences on acme-conf1 for 40 minutes.",
            "Old recordings moved off the disk.",
            "Rotate recordings daily",
            *CONTACT_FACTS,
        ],
    ),
    "ticket_resolved": (
        {"ticket": TICKET, "event": {**EVENT, "body": "Patch 4.2.1 installed."}, "contact": L3},
        ["XOP-000123", "Patch 4.2.1 installed.", *CONTACT_FACTS, "Tue 2026-01-06 09:00 CST"],
    ),
    "ticket_closed": (
        {
            "ticket": {**TICKET, "state": "closed"},
            "event": EVENT,
            "contact": L3,
            "recipient_name": "Carol Boss",
            "report": {
                "summary": "Disk full; fixed and prevented.",
                "timeline": [{"at": WINTER, "actor": "Bob Ray (L3)", "body": "Restarted"}],
                "sla": [{"label": "Level 3 response", "target": "2 business hours", "result": "met"}],
            },
        },
        [
            *TICKET_FACTS,
            "Carol Boss",
            "Disk full; fixed and prevented.",
            "Restarted",
            "met",
            *CONTACT_FACTS,
        ],
    ),
    "ticket_note": (
        {
            "ticket": {**TICKET, "owner": "lena"},
            "event": {**EVENT, "actor": "omar", "body": "Vendor case 4711 opened."},
            "contact": L3,
            "watching": "lena",
        },
        [*TICKET_FACTS, "omar", "Vendor case 4711 opened.", "lena, who watches XOP-000123", *CONTACT_FACTS],
    ),
    "sla_warning": (
        {"ticket": TICKET, "clock": CLOCK, "contact": L3},
        [*TICKET_FACTS, "Level 3 response", "75 %", "Mon 2026-07-06 14:30 CDT", *CONTACT_FACTS],
    ),
    "sla_breach": (
        {"ticket": TICKET, "clock": {**CLOCK, "fraction": 1.0}, "contact": L3, "action": "escalate"},
        [*TICKET_FACTS, "Level 3 response", "Mon 2026-07-06 14:30 CDT", "escalated to", *CONTACT_FACTS],
    ),
    "sla_escalations": (
        {
            "escalations": [
                {
                    "number": "XOP-000123",
                    "subject": "Bridge <b>drops</b> callers",
                    "customer": "acme",
                    "urgency": "critical",
                    "from_level": 2,
                    "to_level": 3,
                    "clock_label": "Level 2 response",
                    "due_at": CLOCK["due_at"],
                }
            ],
            "contact": L3,
            "at": CLOCK["due_at"],
        },
        ["XOP-000123", "Level 2 response", "Mon 2026-07-06 14:30 CDT", "acme", "critical"],
    ),
    "emergency": (
        {"ticket": TICKET, "clock": {**CLOCK, "fraction": 1.0}, "contact": EMERGENCY, "owner": L3},
        [
            *TICKET_FACTS,
            "Level 3 response",
            EMERGENCY["name"],
            EMERGENCY["email"],
            "972-590-0219",
            L3["email"],
        ],
    ),
    "emergency_call": (
        {
            "ticket": TICKET,
            "call": {
                "status": "failed",
                "reached": False,
                "headline": "The emergency bridge 9725900219 was NOT reached: not reached in 3 attempt(s).",
                "headline_short": "3 attempt(s) failed",
                "reason": "not reached in 3 attempt(s); last: busy (486 Busy Here)",
                "number": "9725900219",
                "trunk": "xop-sbc",
                "hours": "Mon-Fri 08:00-18:00 America/Chicago",
                "attempts": [
                    {
                        "attempt": 1,
                        "started_at": CLOCK["due_at"],
                        "answered": False,
                        "answered_at": None,
                        "duration_s": None,
                        "sip_code": 486,
                        "reason": "busy (486 Busy Here)",
                        "rtp_sent": 0,
                        "error": "busy (486 Busy Here)",
                    }
                ],
                "audio": {},
            },
            "emergency": {"at": CLOCK["due_at"], "commitment": "Level 3 response"},
            "contact": EMERGENCY,
        },
        ["XOP-000123", "NOT reached", "busy (486 Busy Here)", "Mon 2026-07-06 14:30 CDT", "972-590-0219"],
    ),
    "publication": (
        {
            "customer_name": "Acme Conferencing",
            "folder": "/acme",
            "files": [
                {
                    "name": "acme-conf1-2026-07-05.dump",
                    "size": 1536,
                    "sha256": "ab" * 32,
                    "vendor": None,
                    "vendor_checksum": None,
                    "vendor_checksum_algorithm": None,
                },
                {
                    "name": "nec-sv9500-r12.iso",
                    "size": 3 * 1024**3,
                    "sha256": "cd" * 32,
                    "vendor": "NEC",
                    "vendor_checksum": "ef" * 16,
                    "vendor_checksum_algorithm": "md5",
                },
            ],
            "pruned": ["acme-conf1-2026-06-01.dump"],
        },
        ["Acme Conferencing", "/acme", "1.5 KiB", "3.0 GiB", "ab" * 32, "NEC", "acme-conf1-2026-06-01.dump"],
    ),
    "dag_failure": (
        {
            "failure": {
                "dag_id": "xop_sla_sweep",
                "task_id": "deliver_outbox",
                "run_id": "scheduled__2026-07-06T14:05:00+00:00",
                "try_number": 2,
                "logical_date": SUMMER,
                "exception": "ValueError: disk <full>",
                "log_url": "http://airflow.example/log",
                "hostname": "worker-1",
            }
        },
        ["xop_sla_sweep", "deliver_outbox", "Mon 2026-07-06 09:05 CDT", "http://airflow.example/log"],
    ),
    "portal_signin": (
        {
            "contact": {"name": "Ann Lee", "email": "ann@acme.example"},
            "signin_url": "https://myxop.com/signin/abc123",
            "minutes": 15,
        },
        ["Ann Lee", "https://myxop.com/signin/abc123", "15 minutes"],
    ),
    "portal_link": (
        {
            "ticket": TICKET,
            "contact": {"name": "Ann Lee", "email": "ann@acme.example"},
            "ticket_url": "https://myxop.com/tickets/XOP-000123",
        },
        ["Ann Lee", "XOP-000123", "https://myxop.com/tickets/XOP-000123"],
    ),
}

SUBJECTS = {
    "ticket_opened": "[XOP-000123] Ticket opened: ",
    "ticket_updated": "[XOP-000123] Update: ",
    "ticket_escalated": "[XOP-000123] Escalated to Level 3: Bridge",
    "ticket_recovered": "[XOP-000123] Service recovered: ",
    "rca": "[XOP-000123] Root cause analysis: ",
    "ticket_resolved": "[XOP-000123] Resolved: ",
    "ticket_closed": "[XOP-000123] Closed, closing report: ",
    "ticket_note": "[XOP-000123] Internal note: Bridge",
    "sla_warning": "[XOP-000123] SLA warning: Level 3 response 75 % used, due Mon 2026-07-06 14:30 CDT",
    "sla_breach": "[XOP-000123] SLA BREACH: Level 3 response: ",
    "sla_escalations": "[XOP SLA] 1 ticket escalated automatically: XOP-000123",
    "emergency": "[XOP-000123] EMERGENCY: Level 3 response breached: ",
    "emergency_call": "[XOP-000123] Emergency bridge NOT reached: 3 attempt(s) failed",
    "publication": "[XOP Networks] Published to your FTP folder: acme-conf1-2026-07-05.dump, nec-sv9500",
    "dag_failure": "[XOP Airflow] Failed: xop_sla_sweep.deliver_outbox (scheduled__",
    "portal_signin": "Your sign-in link to the XOP Networks customer portal",
    "portal_link": "[XOP-000123] Your link to the ticket: ",
}


def test_every_kind_has_a_case() -> None:
    assert set(CASES) == set(KINDS) == set(SUBJECTS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_renders_text_and_html_with_the_facts(kind: str) -> None:
    context, facts = CASES[kind]
    email = render_email(kind, context)
    assert email.subject.startswith(SUBJECTS[kind]), email.subject
    assert "\n" not in email.subject
    for fact in facts:
        assert fact in email.text, f"{kind}.txt lacks {fact!r}"
        assert str(Markup.escape(fact)) in email.html, f"{kind}.html lacks {fact!r}"
    assert email.html.lstrip().startswith("<!DOCTYPE html>")
    assert email.html.rstrip().endswith("</html>")
    assert "<html" not in email.text


@pytest.mark.parametrize("kind", sorted(k for k in KINDS if "ticket" in CASES[k][0]))
def test_html_escapes_what_people_typed(kind: str) -> None:
    email = render_email(kind, CASES[kind][0])
    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html
    assert "<script>alert(1)</script>" in email.text  # plain text stays as typed


@pytest.mark.parametrize("kind", [k for k in KINDS if KINDS[k] == "customer" and "ticket" in CASES[k][0]])
def test_customer_emails_name_the_support_contact_and_ticket(kind: str) -> None:
    email = render_email(kind, CASES[kind][0])
    for text in (email.text, email.html):
        assert "support@xopnetworks.com" in text  # footer: seed's L2/L3 row by default
        assert "Please quote XOP-000123" in text
        assert "Do not forward" not in text


@pytest.mark.parametrize("kind", [k for k in KINDS if KINDS[k] == "internal"])
def test_internal_emails_say_so(kind: str) -> None:
    email = render_email(kind, CASES[kind][0])
    assert "Do not forward to customers" in email.text
    assert "Do not forward to customers" in email.html


def test_publication_never_names_a_password() -> None:
    email = render_email("publication", CASES["publication"][0])
    assert "password" not in (email.text + email.html).lower()
    assert "sha256sum -c SHA256SUMS" in email.text


def test_footer_signs_with_the_configured_support_identity(tmp_path, monkeypatch) -> None:
    from tests.conftest import REPO

    config = tmp_path / "xop.yaml"
    config.write_text(
        f"extends: {REPO / 'include/config/xop.yaml'}\n"
        "support:\n  name: Acme NOC for XOP\n  email: noc@xop.example\n  phone: '555-0100'\n"
    )
    monkeypatch.setenv("XOP_CONFIG", str(config))
    email = render_email("publication", CASES["publication"][0])
    assert "Acme NOC for XOP" in email.text and "noc@xop.example" in email.text
    assert "support@xopnetworks.com" not in email.text


def test_every_template_documents_its_context() -> None:
    folder = templates_dir() / "email"
    for kind in KINDS:
        for ext in ("txt", "html"):
            source = (folder / f"{kind}.{ext}.j2").read_text()
            assert source.startswith("{#"), f"{kind}.{ext}.j2 must start with its context comment"
            header = source[: source.index("#}")]
            assert kind in header
            assert "Context" in header


def test_a_missing_variable_is_an_error_not_a_blank() -> None:
    context = {k: v for k, v in CASES["ticket_escalated"][0].items() if k != "contact"}
    with pytest.raises(jinja2.UndefinedError, match="contact"):
        render_email("ticket_escalated", context)


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown email kind 'ticket_lost'"):
        render_email("ticket_lost", {})


@pytest.mark.parametrize(
    ("instant", "shown"),
    [
        # spring forward, Sunday 2026-03-08: 02:00 CST becomes 03:00 CDT
        (datetime(2026, 3, 8, 7, 59, 59, tzinfo=UTC), "Sun 2026-03-08 01:59 CST"),
        (datetime(2026, 3, 8, 8, 0, 0, tzinfo=UTC), "Sun 2026-03-08 03:00 CDT"),
        # fall back, Sunday 2026-11-01: 02:00 CDT becomes 01:00 CST (01:xx happens twice)
        (datetime(2026, 11, 1, 6, 59, 59, tzinfo=UTC), "Sun 2026-11-01 01:59 CDT"),
        (datetime(2026, 11, 1, 7, 0, 0, tzinfo=UTC), "Sun 2026-11-01 01:00 CST"),
    ],
)
def test_central_time_with_dst_abbreviation(instant: datetime, shown: str) -> None:
    assert central_time(instant) == shown


def test_central_time_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        central_time(datetime(2026, 7, 6, 9, 0))


def test_xop_templates_env_overrides_the_folder(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(templates_dir(), tmp_path / "templates")
    subjects = tmp_path / "templates" / "email" / "subjects.j2"
    subjects.write_text(
        subjects.read_text().replace("] Update: {{", "] Custom update: {{"),
    )
    monkeypatch.setenv("XOP_TEMPLATES", str(tmp_path / "templates"))
    assert render.templates_dir() == tmp_path / "templates"
    email = render_email("ticket_updated", CASES["ticket_updated"][0])
    assert email.subject.startswith("[XOP-000123] Custom update: ")


def test_publication_subject_of_many_files_names_three_and_counts_the_rest() -> None:
    """A customer with ten systems publishes ten backups at once (issue 21's fleet): the subject
    stays short enough for a subject line and for the outbox's subject column."""
    context, _ = CASES["publication"]
    files = [{**context["files"][0], "name": f"s{n:03d}-20261202T042807Z.dump"} for n in range(10)]
    email = render_email("publication", {**context, "files": files})
    assert email.subject == (
        "[XOP Networks] Published to your FTP folder: s000-20261202T042807Z.dump,"
        " s001-20261202T042807Z.dump, s002-20261202T042807Z.dump and 7 more"
    )
    assert len(email.subject) <= notifications.c.subject.type.length
