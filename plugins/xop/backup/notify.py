"""The customer email that says what was published: names, sizes, SHA-256, OEM labels.

Written to the outbox in the caller's transaction as the ``publication`` kind (rendered at
delivery from ``include/templates/email/publication.*``, like every templated email), with a
dedup key per (customer, published content, recipient), so a rerun sends nothing twice. It never
holds a password: the customer already has the FTP credentials.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from xop.notify.outbox import enqueue_many

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from xop.backup.publication import PublicationResult

KIND = "publication"


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
    context = {
        "customer_name": customer_name,
        "folder": result.folder,
        "files": [dict(f.__dict__) for f in uploaded],
        "pruned": list(result.pruned),
    }
    content = hashlib.sha256("|".join(f"{f.name}:{f.sha256}" for f in uploaded).encode()).hexdigest()[:16]
    return enqueue_many(
        conn,
        [
            {
                "dedup_key": f"{KIND}:{result.customer}:{result.folder}:{content}:{recipient}",
                "kind": KIND,
                "audience": "customer",
                "recipient": recipient,
                "sender": sender,
                "context": context,
                "now": now,
            }
            for recipient in recipients
        ],
    )
