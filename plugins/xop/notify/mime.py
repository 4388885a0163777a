"""Building the RFC 5322 message that the outbox stores and the sender delivers byte for byte.

Structure (stdlib ``email``, the standard nesting that mail clients render well)::

    multipart/mixed                 only when there are attachments
    └── multipart/alternative
        ├── text/plain
        └── multipart/related       only when there are inline images
            ├── text/html           refers to images as <img src="cid:...">
            └── image/png ...       Content-ID: <cid>
    └── attachments ...
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

#: CRLF line ends as on the wire, and every part encoded to 7-bit (quoted-printable or base64):
#: the stored bytes are plain ASCII, sendable unchanged to any server, with or without 8BITMIME.
WIRE_POLICY = policy.SMTP.clone(cte_type="7bit")


@dataclass(frozen=True)
class Attachment:
    """A file attached to the message (``mimetype`` like ``"text/csv"``)."""

    filename: str
    content: bytes
    mimetype: str = "application/octet-stream"


@dataclass(frozen=True)
class InlineImage:
    """An image the HTML part shows with ``<img src="cid:{cid}">``; ``cid`` without angle brackets."""

    cid: str
    content: bytes
    mimetype: str = "image/png"
    filename: str | None = None


def make_message_id(dedup_key: str, domain: str = "xopnetworks.com") -> str:
    """A Message-ID (with angle brackets) that depends only on ``dedup_key``.

    Re-rendering the same notification yields the same Message-ID, so a receiver (or a test)
    can recognise a duplicate, and the outbox's unique ``message_id`` column backs up its
    unique ``dedup_key``.
    """
    digest = hashlib.sha256(dedup_key.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def _split_type(mimetype: str) -> tuple[str, str]:
    maintype, _, subtype = mimetype.partition("/")
    if not maintype or not subtype:
        raise ValueError(f"mimetype must look like 'type/subtype', got {mimetype!r}")
    return maintype, subtype


def _one_line(value: str) -> str:
    """Header values may not contain line breaks (a ticket subject typed by a customer may)."""
    return " ".join(value.split())


def build_message(
    *,
    sender: str,
    recipient: str,
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    attachments: Iterable[Attachment] = (),
    inline_images: Iterable[InlineImage] = (),
    headers: Mapping[str, str] | None = None,
    date: datetime | None = None,
) -> EmailMessage:
    """Assemble one message for one recipient.

    ``date`` (aware) becomes the Date header; pass the ``now`` of the event so a re-render is
    identical apart from MIME boundaries. ``headers`` adds e.g. ``References`` or
    ``Auto-Submitted``; it cannot replace the ones set here.
    """
    images = list(inline_images)
    if images and html is None:
        raise ValueError("inline_images need an html part to refer to them")
    if date is None:
        date = datetime.now(UTC)
    elif date.tzinfo is None:
        raise ValueError(f"naive datetime {date!r}: pass an aware datetime")

    msg = EmailMessage(policy=WIRE_POLICY)
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = _one_line(subject)
    msg["Date"] = format_datetime(date.astimezone(UTC))
    msg["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        if name in msg:
            raise ValueError(f"header {name!r} is set by build_message; do not pass it in headers")
        msg[name] = _one_line(value)

    msg.set_content(text, subtype="plain", charset="utf-8")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8")
        html_part = msg.get_payload()[1]
        for image in images:
            maintype, subtype = _split_type(image.mimetype)
            if maintype != "image":
                raise ValueError(
                    f"inline image {image.cid!r}: mimetype must be image/*, got {image.mimetype!r}"
                )
            # add_related turns the html part into multipart/related around it.
            html_part.add_related(
                image.content,
                maintype=maintype,
                subtype=subtype,
                cid=f"<{image.cid}>",
                disposition="inline",
                filename=image.filename,
            )
    for attachment in attachments:
        maintype, subtype = _split_type(attachment.mimetype)
        msg.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return msg


def message_bytes(message: EmailMessage) -> bytes:
    """The bytes stored in ``notifications.mime`` and sent unchanged."""
    return message.as_bytes(policy=WIRE_POLICY)
