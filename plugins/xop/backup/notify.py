"""The customer email that says what was published: names, sizes, SHA-256, OEM labels.

Written to the outbox (:func:`xop.notify.outbox.enqueue`) in the caller's transaction with a
dedup key per (customer, published content, recipient), so a rerun sends nothing twice. The
outbox's renderer has no ``publication`` kind yet, so the message is assembled here with
:func:`xop.notify.mime.build_message` from the templates below. It never holds a password: the
customer already has the FTP credentials.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from jinja2 import Environment, StrictUndefined

from xop.notify.mime import build_message, make_message_id
from xop.notify.outbox import enqueue

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from xop.backup.publication import PublicationResult

KIND = "publication"

_TEXT = """\
Dear {{ customer_name }},

The following files were published to your folder {{ folder }} on the XOP Networks FTP site:
{% for f in files %}

  {{ f.name }}
    size:    {{ f.size_human }} ({{ "{:,}".format(f.size) }} bytes)
    SHA-256: {{ f.sha256 }}
{% if f.vendor %}
    vendor:  {{ f.vendor }}
{% endif %}
{% if f.vendor_checksum %}
    vendor's {{ f.vendor_checksum_algorithm }}: {{ f.vendor_checksum }}
{% endif %}
{% endfor %}

Log in with the FTPS credentials XOP Networks gave you (explicit TLS). The folder's SHA256SUMS
file lists every file's checksum: after downloading, `sha256sum -c SHA256SUMS` verifies them.
{% if pruned %}
Older files no longer kept: {{ pruned | join(", ") }}.
{% endif %}

--
XOP Networks Support
Email: support@xopnetworks.com | Phone: 972-590-0200, option 2
This message was sent automatically by the XOP Networks operations pipeline.
"""

_HTML = """\
<p>Dear {{ customer_name }},</p>
<p>The following files were published to your folder <code>{{ folder }}</code> on the XOP
Networks FTP site:</p>
<table cellpadding="4" style="border-collapse:collapse">
<tr><th align="left">File</th><th align="right">Size</th><th align="left">SHA-256</th>
<th align="left">Vendor</th></tr>
{% for f in files %}
<tr><td>{{ f.name }}</td><td align="right">{{ f.size_human }}</td><td><code>{{ f.sha256 }}</code></td>
<td>{{ f.vendor or "" }}{% if f.vendor_checksum %}<br><small>{{ f.vendor_checksum_algorithm }}
{{ f.vendor_checksum }}</small>{% endif %}</td></tr>
{% endfor %}
</table>
<p>Log in with the FTPS credentials XOP Networks gave you (explicit TLS). After downloading,
<code>sha256sum -c SHA256SUMS</code> verifies every file.</p>
{% if pruned %}<p>Older files no longer kept: {{ pruned | join(", ") }}.</p>{% endif %}
<p>XOP Networks Support &middot; support@xopnetworks.com &middot; 972-590-0200, option 2</p>
"""

_ENV = Environment(
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True
)
_HTML_ENV = Environment(undefined=StrictUndefined, autoescape=True, trim_blocks=True, lstrip_blocks=True)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def enqueue_publication_email(
    conn: Connection,
    result: PublicationResult,
    *,
    customer_name: str,
    recipients: list[str],
    now: datetime,
    sender: str,
) -> int:
    """Queue one email per recipient naming the files uploaded; returns how many were queued."""

    uploaded = result.uploaded
    if not uploaded or not recipients:
        return 0
    files = [{**f.__dict__, "size_human": human_size(f.size)} for f in uploaded]
    context = {
        "customer_name": customer_name,
        "folder": result.folder,
        "files": files,
        "pruned": result.pruned,
    }
    text = _ENV.from_string(_TEXT).render(context)
    html = _HTML_ENV.from_string(_HTML).render(context)
    names = ", ".join(f.name for f in uploaded)
    subject = f"[XOP Networks] Published to your FTP folder: {names}"
    content = hashlib.sha256("|".join(f"{f.name}:{f.sha256}" for f in uploaded).encode()).hexdigest()[:16]
    queued = 0
    for recipient in recipients:
        dedup_key = f"{KIND}:{result.customer}:{result.folder}:{content}:{recipient}"
        message = build_message(
            sender=sender,
            recipient=recipient,
            subject=subject,
            text=text,
            html=html,
            message_id=make_message_id(dedup_key),
            headers={"Auto-Submitted": "auto-generated"},
            date=now,
        )
        queued += enqueue(
            conn,
            dedup_key=dedup_key,
            kind=KIND,
            audience="customer",
            recipient=recipient,
            subject=subject,
            message=message,
            now=now,
        )
    return queued
