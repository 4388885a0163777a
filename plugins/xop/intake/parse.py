"""Parse a message once into what the intake's steps read: :class:`Parsed`.

Real mail: any charset Python knows (UTF-8, ISO-8859-1, Windows-1252, ...), quoted-printable
and base64 bodies, encoded-word headers, HTML-only bodies (turned into text), inline images
(``Content-ID``) and attachments. What cannot be read is not guessed at: it is listed in
``problems`` (malformed MIME, unknown charset, no sender) and the message goes to quarantine.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import ClassVar

from mailparser_reply import EmailReplyParser

from xop.tickets.attachments import Content

#: MIME defects after which the structure (and so the body) cannot be trusted.
_FATAL_DEFECTS = {
    "NoBoundaryInMultipartDefect",
    "StartBoundaryNotFoundDefect",
    "MultipartInvariantViolationDefect",
    "MissingHeaderBodySeparatorDefect",
}
#: Headers decoded for reading; the others stay as received.
_DECODED = ("subject", "from", "to", "cc")
_MSGID = re.compile(r"<[^<>\s]+>")
_REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl"]


#: An attachment or inline image of the message (stored as it is by xop.tickets.attachments).
Part = Content


@dataclass
class Parsed:
    raw: bytes
    sha256: str
    message_id: str | None
    subject: str
    sender: str | None  # the From address, lower case
    sender_name: str
    recipients: tuple[str, ...]  # To, Cc, Delivered-To, X-Original-To, lower case
    references: tuple[str, ...]  # In-Reply-To first, then References (newest last)
    headers: dict[str, list[str]]  # lower-case name -> values (Subject, From, To, Cc decoded)
    text: str  # the whole body as text (HTML converted)
    html_only: bool
    parts: list[Part]
    problems: list[str] = field(default_factory=list)
    message: Message | None = None

    @property
    def message_key(self) -> str:
        """What the intake records the message by: its Message-ID, else the hash of its bytes."""
        return self.message_id if self.message_id else f"sha256:{self.sha256}"

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower())
        return values[0] if values else ""

    @property
    def reply_text(self) -> str:
        """The new text of a reply, quoted history and signature stripped (whole text if that fails)."""
        return strip_quoted(self.text)

    @property
    def attachment_bytes(self) -> int:
        return sum(len(p.data) for p in self.parts)


def strip_quoted(text: str) -> str:
    try:
        reply = EmailReplyParser(languages=_REPLY_LANGUAGES).parse_reply(text)
    except Exception:  # a third-party heuristic: never lose the text because of it
        reply = None
    reply = (reply or "").strip()
    return reply or text.strip()


class _HtmlText(HTMLParser):
    _BLOCK: ClassVar[set[str]] = {
        "p",
        "div",
        "br",
        "tr",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "blockquote",
        "pre",
    }
    _SKIP: ClassVar[set[str]] = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.out.append("\n")
            if tag == "li":
                self.out.append("- ")
        elif tag in ("td", "th"):
            self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    p = _HtmlText()
    p.feed(html)
    p.close()
    lines = [" ".join(line.split()) for line in "".join(p.out).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _header_values(msg: Message, name: str, problems: list[str]) -> list[str]:
    try:
        return [str(v) for v in msg.get_all(name, [])]
    except Exception as exc:  # an undecodable header: keep the raw text, note it
        problems.append(f"header {name} cannot be decoded: {exc}")
        return [str(v) for v in Message.get_all(msg, name, [])]


def _text_of(part: Message, problems: list[str]) -> str | None:
    charset = part.get_content_charset() or "us-ascii"
    payload = part.get_payload(decode=True) or b""
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        problems.append(f"unknown charset {charset!r} in a {part.get_content_type()} part")
        return None


def _filename(part: Message, index: int) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        ext = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "message/rfc822": ".eml"}
        name = f"part-{index}{ext.get(part.get_content_type(), '.bin')}"
    name = name.replace("/", "_").replace("\\", "_").replace("\x00", "").strip() or f"part-{index}"
    return name[-255:]


def _walk(msg: Message, problems: list[str]) -> tuple[str, bool, list[Part]]:
    plain: list[str] = []
    html: list[str] = []
    parts: list[Part] = []
    stack = [msg]
    index = 0
    while stack:
        part = stack.pop(0)
        ctype = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        if part.is_multipart() and not ctype.startswith("message/"):
            stack[0:0] = list(part.iter_parts()) if isinstance(part, EmailMessage) else part.get_payload()
            continue
        index += 1
        is_file = disposition == "attachment" or (
            part.get_filename() is not None and not ctype.startswith("text/")
        )
        if ctype in ("text/plain", "text/html") and not is_file:
            text = _text_of(part, problems)
            if text is not None:
                (plain if ctype == "text/plain" else html).append(text)
            continue
        payload = part.get_payload()
        if isinstance(payload, list):  # message/rfc822, message/delivery-status: parsed sub-messages
            data = b"\n".join(p.as_bytes() for p in payload)
        else:
            data = part.get_payload(decode=True) or b""
        cid = part.get("Content-ID")
        parts.append(
            Part(
                filename=_filename(part, index),
                content_type=ctype[:127],
                data=data,
                inline=bool(cid) and disposition != "attachment",
                content_id=str(cid).strip().strip("<>")[:255] if cid else None,
            )
        )
    if plain:
        return "\n\n".join(t.strip() for t in plain), False, parts
    if html:
        return "\n\n".join(html_to_text(t) for t in html), True, parts
    return "", False, parts


def _ids(values: list[str]) -> list[str]:
    return [m for v in values for m in _MSGID.findall(v)]


def parse(raw: bytes) -> Parsed:
    """Parse ``raw`` (the message as fetched). Never raises for bad mail: see ``problems``."""
    problems: list[str] = []
    sha = hashlib.sha256(raw).hexdigest()
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as exc:
        return Parsed(raw, sha, None, "", None, "", (), (), {}, "", False, [], [f"not a message: {exc}"])
    for d in msg.defects:
        if type(d).__name__ in _FATAL_DEFECTS:
            problems.append(f"malformed MIME: {type(d).__name__}")
    # Decoded (encoded words, address lists) only where people read them; the rest raw, which
    # is what the steps compare (Auto-Submitted, Precedence ... are ASCII tokens) and much cheaper.
    headers: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        headers.setdefault(name.lower(), []).append(" ".join(str(value).split()))
    for n in _DECODED:
        if n in headers:
            headers[n] = _header_values(msg, n, problems)
    first = lambda n: (headers.get(n) or [""])[0]  # noqa: E731
    mids = _ids(headers.get("message-id", []))
    subject = " ".join(first("subject").split())
    name, addr = parseaddr(first("from"))
    addr = addr.strip().lower()
    if not addr or "@" not in addr:
        problems.append(f"no sender address (From: {first('from')!r})")
        addr = None
    recipients = tuple(
        dict.fromkeys(
            a.lower()
            for _, a in getaddresses(
                headers.get("to", [])
                + headers.get("cc", [])
                + headers.get("delivered-to", [])
                + headers.get("x-original-to", [])
            )
            if a
        )
    )
    refs = tuple(dict.fromkeys(_ids(headers.get("in-reply-to", [])) + _ids(headers.get("references", []))))
    try:
        text, html_only, parts = _walk(msg, problems)
    except Exception as exc:  # a structure the email package cannot walk
        problems.append(f"malformed MIME: {exc}")
        text, html_only, parts = "", False, []
    for d in (d for p in msg.walk() for d in getattr(p, "defects", ())):
        label = f"malformed MIME: {type(d).__name__}"
        if type(d).__name__ in _FATAL_DEFECTS and label not in problems:
            problems.append(label)
    return Parsed(
        raw=raw,
        sha256=sha,
        message_id=mids[0][:298] if mids else None,
        subject=subject,
        sender=addr,
        sender_name=name.strip(),
        recipients=recipients,
        references=refs,
        headers=headers,
        text=text,
        html_only=html_only,
        parts=parts,
        problems=problems,
        message=msg,
    )
