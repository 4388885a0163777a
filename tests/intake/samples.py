"""Real-looking inbound mail for the intake tests, as the bytes a mail server would store."""

from __future__ import annotations

import base64
import email.policy
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

DATE = format_datetime(datetime(2026, 12, 1, 14, 55, tzinfo=UTC))


def mail(
    *,
    sender: str = "Nora NOC <noc@acme.example>",
    to: str = "support@xopnetworks.com",
    subject: str = "Conference bridge drops calls",
    body: str = "Since 8 am every call on bridge 1 drops after 30 seconds.",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] = (),
    html: str | None = None,
) -> bytes:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = to
    m["Subject"] = subject
    m["Date"] = DATE
    m["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@acme.example>"
    for k, v in (headers or {}).items():
        m[k] = v
    if html is not None and body is None:
        m.set_content(html, subtype="html")
    else:
        m.set_content(body)
        if html is not None:
            m.add_alternative(html, subtype="html")
    for name, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return m.as_bytes(policy=email.policy.SMTP)  # CRLF, as stored by the server


def raw(headers: str, body: bytes | str) -> bytes:
    """Hand-made bytes (charsets and encodings exactly as given), CRLF line ends."""
    if isinstance(body, str):
        body = body.encode("ascii")
    return (
        headers.strip("\n").replace("\n", "\r\n").encode("ascii") + b"\r\n\r\n" + body.replace(b"\n", b"\r\n")
    )


def latin1_qp(sender: str = "noc@acme.example") -> bytes:
    return raw(
        f"""From: =?ISO-8859-1?Q?J=FCrgen_M=FCller?= <{sender}>
To: support@xopnetworks.com
Subject: =?ISO-8859-1?Q?St=F6rung_Br=FCcke_=E4=F6=FC?=
Message-ID: <{uuid.uuid4().hex}@acme.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: quoted-printable""",
        "Gr=FC=DFe, die Br=FCcke ist gest=F6rt.\n",
    )


def cp1252_base64(sender: str = "noc@acme.example") -> bytes:
    text = "Price \u20ac100 \u2013 \u201cquoted\u201d".encode("cp1252")
    word = base64.b64encode("Caf\u00e9 \u20ac".encode("cp1252")).decode()
    return raw(
        f"""From: {sender}
To: support@xopnetworks.com
Subject: =?windows-1252?B?{word}?=
Message-ID: <{uuid.uuid4().hex}@acme.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=windows-1252
Content-Transfer-Encoding: base64""",
        base64.encodebytes(text),
    )


def utf8_html_inline_image(sender: str = "noc@acme.example") -> bytes:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    word = base64.b64encode("Écran noir — ticket".encode()).decode()
    return raw(
        f"""From: {sender}
To: support@xopnetworks.com
Subject: =?UTF-8?B?{word}?=
Message-ID: <{uuid.uuid4().hex}@acme.example>
MIME-Version: 1.0
Content-Type: multipart/related; boundary="rel"
""",
        b"--rel\nContent-Type: text/html; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n"
        + "<html><head><style>p{color:red}</style></head><body><p>L\u2019\u00e9cran est <b>noir</b>.</p>"
        "<ul><li>un</li><li>deux</li></ul><img src='cid:shot1'></body></html>\n".encode()
        + b"--rel\nContent-Type: image/png\nContent-ID: <shot1>\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(png)
        + b"--rel--\n",
    )


def unknown_charset(sender: str = "noc@acme.example") -> bytes:
    return raw(
        f"""From: {sender}
To: support@xopnetworks.com
Subject: strange
Message-ID: <{uuid.uuid4().hex}@acme.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=x-klingon-7
Content-Transfer-Encoding: 8bit""",
        b"\xa4\xa5 qapla\n",
    )


def malformed_mime(sender: str = "noc@acme.example") -> bytes:
    return raw(
        f"""From: {sender}
To: support@xopnetworks.com
Subject: broken
Message-ID: <{uuid.uuid4().hex}@acme.example>
MIME-Version: 1.0
Content-Type: multipart/mixed""",
        b"no boundary anywhere\n",
    )


def no_sender() -> bytes:
    return raw(
        f"""To: support@xopnetworks.com
Subject: who am I
Message-ID: <{uuid.uuid4().hex}@nowhere.example>""",
        b"nobody sent this\n",
    )


def dsn(original_message_id: str, recipient: str, *, status: str = "5.1.1") -> bytes:
    return raw(
        f"""From: Mail Delivery System <MAILER-DAEMON@mx.acme.example>
To: support@xopnetworks.com
Subject: Undelivered Mail Returned to Sender
Message-ID: <{uuid.uuid4().hex}@mx.acme.example>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"
""",
        f"""--dsn
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

--dsn
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.acme.example

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: failed
Status: {status}
Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected: User unknown

--dsn
Content-Type: text/rfc822-headers

From: XOP Networks Support <support@xopnetworks.com>
To: {recipient}
Subject: [XOP-000001] Ticket opened
Message-ID: {original_message_id}

--dsn--
""",
    )


def out_of_office(*, with_header: bool = True, sender: str = "noc@acme.example") -> bytes:
    headers = {"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"} if with_header else {}
    return mail(
        sender=sender,
        subject="Out of Office: [XOP-000001] Ticket opened",
        body="I am away until Monday.",
        headers=headers,
    )
