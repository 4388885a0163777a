"""The portal's own emails (sign-in links, fresh ticket links) go through the outbox like every
other email, and are delivered at once: a 15-minute link cannot wait for the next sweep.

Delivery uses the outbox's own sender (claims with leases), so a row the sweep delivers at the
same moment is still sent exactly once.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from xop.core.config import XopConfig
from xop.notify.delivery import deliver_pending
from xop.notify.outbox import enqueue_many
from xop.notify.smtp import SmtpTransport

log = logging.getLogger(__name__)
_deliver_lock = threading.Lock()


def queue(
    engine: Engine, cfg: XopConfig, *, kind: str, recipient: str, context: dict[str, Any], now: datetime
) -> None:
    with engine.begin() as conn:
        enqueue_many(
            conn,
            [
                {
                    "kind": kind,
                    "context": context,
                    "recipient": recipient,
                    "audience": "customer",
                    "dedup_key": f"{kind}:{uuid.uuid4().hex}:{recipient}",
                    "now": now,
                    "sender": cfg.support.sender,
                }
            ],
            support=cfg.support,
        )


def deliver_now(engine: Engine) -> None:
    """Send what is due (the email just queued among it); failures stay in the outbox for the sweep."""
    with _deliver_lock:
        try:
            deliver_pending(engine, smtp=SmtpTransport(), now=datetime.now(UTC), batch_size=20)
        except Exception:  # the sweep retries; the visitor already has their page
            log.exception("portal: immediate delivery failed; the outbox sweep will retry")
