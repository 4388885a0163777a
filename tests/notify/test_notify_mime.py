"""The stored message: structure, stable Message-ID, 7-bit wire bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy

import pytest

from xop.notify.mime import Attachment, InlineImage, build_message, make_message_id, message_bytes

NOW = datetime(2026, 7, 6, 14, 5, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def _message(**overrides):
    args = {
        "sender": "XOP Networks Support <support@xopnetworks.com>",
        "recipient": "ann@acme.example",
        "subject": "[XOP-000123] Ticket opened: Bridge down",
        "text": "Hours 8 am – 6 pm Central\n",
        "html": "<p>Hours 8 am – 6 pm Central</p>",
        "message_id": make_message_id("ticket:1:event:1:ann@acme.example"),
        "date": NOW,
    }
    return build_message(**{**args, **overrides})


def _parse(raw: bytes):
    return message_from_bytes(raw, policy=default_policy)


def test_message_id_is_stable_and_distinct() -> None:
    a = make_message_id("ticket:1:event:7:ann@acme.example")
    assert a == make_message_id("ticket:1:event:7:ann@acme.example")
    assert a != make_message_id("ticket:1:event:7:bob@acme.example")
    assert a.startswith("<") and a.endswith("@xopnetworks.com>")
    assert make_message_id("k", domain="example.org").endswith("@example.org>")


def test_alternative_text_and_html() -> None:
    raw = message_bytes(_message())
    parsed = _parse(raw)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed.get_body(("plain",)).get_content().rstrip() == "Hours 8 am – 6 pm Central"
    assert "8 am – 6 pm" in parsed.get_body(("html",)).get_content()
    assert parsed["Message-ID"] == make_message_id("ticket:1:event:1:ann@acme.example")
    assert parsed["Date"].datetime == NOW
    # What is stored is what goes on the wire: CRLF line ends, 7-bit clean (no 8BITMIME needed).
    assert max(raw) < 128
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_inline_images_are_related_to_the_html_and_attachments_mixed() -> None:
    msg = _message(
        html='<p>Usage</p><img src="cid:usage-chart@xop">',
        inline_images=[InlineImage(cid="usage-chart@xop", content=PNG, filename="usage.png")],
        attachments=[
            Attachment("usage.csv", b"hour,attempts\n0,12\n", "text/csv"),
            Attachment("findings.csv", b"check,finding\n", "text/csv"),
        ],
    )
    parsed = _parse(message_bytes(msg))
    assert parsed.get_content_type() == "multipart/mixed"
    alternative, *attachments = parsed.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    _plain, related = alternative.iter_parts()
    assert related.get_content_type() == "multipart/related"
    html, image = related.iter_parts()
    assert html.get_content_type() == "text/html"
    assert image["Content-ID"] == "<usage-chart@xop>"
    assert image.get_content() == PNG
    assert [(a.get_filename(), a.get_payload(decode=True)) for a in attachments] == [
        ("usage.csv", b"hour,attempts\n0,12\n"),
        ("findings.csv", b"check,finding\n"),
    ]


def test_text_only_message() -> None:
    parsed = _parse(message_bytes(_message(html=None)))
    assert parsed.get_content_type() == "text/plain"


def test_subject_typed_with_line_breaks_stays_one_header_line() -> None:
    parsed = _parse(message_bytes(_message(subject="[XOP-1] a\r\nBcc: evil@example.com")))
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "[XOP-1] a Bcc: evil@example.com"


def test_extra_headers_cannot_replace_ours() -> None:
    msg = _message(headers={"Auto-Submitted": "auto-generated"})
    assert msg["Auto-Submitted"] == "auto-generated"
    with pytest.raises(ValueError, match="Message-ID"):
        _message(headers={"Message-ID": "<x@y>"})


def test_refuses_naive_date_and_orphan_images() -> None:
    with pytest.raises(ValueError, match="naive"):
        _message(date=datetime(2026, 7, 6, 9, 0))
    with pytest.raises(ValueError, match="html"):
        _message(html=None, inline_images=[InlineImage("c", PNG)])
