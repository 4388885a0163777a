"""Task body of outbox delivery (used by the sweep DAG and any DAG that sends mail)."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

log = logging.getLogger(__name__)

#: A delivery task stops starting new messages after this long, so one slow SMTP server
#: cannot hold a five-minute sweep slot; what is left goes in the next run.
DELIVERY_BUDGET_S = 240


def deliver_outbox(now: str | None = None, *, conn_id: str = "smtp_default") -> dict:
    from xop import runtime
    from xop.notify.outbox import deliver_pending, failed_notifications
    from xop.notify.smtp import SmtpTransport

    engine = runtime.ticket_db()
    with SmtpTransport(conn_id) as smtp:
        stats = deliver_pending(
            engine, smtp=smtp, now=runtime.resolve_now(now), deadline=time.monotonic() + DELIVERY_BUDGET_S
        )
    log.info(
        "outbox: %d claimed, %d sent, %d retried later, %d failed, %d released",
        stats.claimed,
        stats.sent,
        stats.retried,
        stats.failed,
        stats.released,
    )
    if stats.server_unavailable:
        log.warning("SMTP server unavailable: %s (rows stay pending)", stats.server_unavailable)
    for row in failed_notifications(engine, limit=20):
        log.error(
            "undeliverable: %s to %s: %s", row.get("subject"), row.get("recipient"), row.get("last_error")
        )
    return asdict(stats)
