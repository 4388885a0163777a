"""The task of ``xop_mail_intake``: read the support mailbox into tickets (:mod:`xop.intake`)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from xop.intake.run import run_intake
from xop.tasks import runtime

log = logging.getLogger(__name__)


def read_mailbox(now: str | datetime | None = None) -> dict[str, Any]:
    """Process every message in the inbox of ``intake.conn_id``; the run's counts (for XCom).

    Raises :class:`~xop.connections.imap.MailboxError` when the mailbox cannot be read (the
    messages stay in the inbox; the next run takes them) and :class:`~xop.core.errors.ConfigError`
    for a wrong ``intake:`` section or connection.
    """

    stats = run_intake(runtime.ticket_db(), runtime.config(), now=runtime.resolve_now(now))
    log.info(
        "intake: %d messages, %s, %d moved, %d left",
        stats.seen,
        dict(stats.outcomes),
        stats.moved,
        stats.left,
    )
    return stats.as_dict()
