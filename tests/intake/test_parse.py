"""Parsing real mail: charsets, transfer encodings, HTML-only, encoded words, inline images, damage."""

from __future__ import annotations

from tests.intake import samples
from xop.intake.parse import html_to_text, parse, strip_quoted


def test_latin1_quoted_printable_and_encoded_word_subject():
    m = parse(samples.latin1_qp())
    assert m.problems == []
    assert m.subject == "Störung Brücke äöü"
    assert m.sender == "noc@acme.example" and m.sender_name == "Jürgen Müller"
    assert "Grüße, die Brücke ist gestört." in m.text


def test_windows_1252_base64():
    m = parse(samples.cp1252_base64())
    assert m.problems == []
    assert m.subject == "Café €"
    assert m.text.strip() == "Price €100 – “quoted”"


def test_utf8_html_only_becomes_text_and_inline_image_is_a_part():
    m = parse(samples.utf8_html_inline_image())
    assert m.problems == []
    assert m.html_only
    assert m.subject == "Écran noir — ticket"
    assert "L’écran est noir." in m.text and "- un" in m.text and "color:red" not in m.text
    [img] = m.parts
    assert img.inline and img.content_id == "shot1" and img.content_type == "image/png"
    assert img.data.startswith(b"\x89PNG")


def test_attachment_and_message_id():
    raw = samples.mail(message_id="<abc@acme.example>", attachments=[("log.txt", "text/plain", b"line 1\n")])
    m = parse(raw)
    assert m.message_key == "<abc@acme.example>"
    [a] = m.parts
    assert (a.filename, a.inline, a.data) == ("log.txt", False, b"line 1\n")
    assert "drops after 30 seconds" in m.text and "line 1" not in m.text


def test_no_message_id_is_keyed_by_hash():
    raw = samples.raw("From: noc@acme.example\nSubject: x", b"body\n")
    m = parse(raw)
    assert m.message_id is None and m.message_key == f"sha256:{m.sha256}"


def test_unreadable_messages_are_named_not_guessed():
    assert any("unknown charset 'x-klingon-7'" in p for p in parse(samples.unknown_charset()).problems)
    assert any("malformed MIME" in p for p in parse(samples.malformed_mime()).problems)
    assert any("no sender" in p for p in parse(samples.no_sender()).problems)


def test_reply_history_is_stripped_and_the_original_kept():
    body = (
        "close\nThanks, it works again.\n\n"
        "On Tue, Dec 1, 2026 at 9:00 AM XOP Networks Support <support@xopnetworks.com> wrote:\n"
        "> Your ticket XOP-000001 has been opened.\n> Level 2 will respond within 2 hours.\n"
    )
    m = parse(samples.mail(subject="RE: [XOP-000001] Ticket opened", body=body))
    assert m.reply_text == "close\nThanks, it works again."
    assert "Level 2 will respond" in m.text  # the whole text is still there
    assert strip_quoted("just this") == "just this"


def test_html_to_text_blocks_and_entities():
    assert html_to_text("<div>a&amp;b</div><p>c<br>d</p><script>x()</script>") == "a&b\n\nc\nd"
