"""One intake run: read the support mailbox, process each message, move it once committed.

For each batch of UIDs: fetch (``BODY.PEEK[]``, nothing marked read), process every message in
its own transaction (:func:`xop.intake.apply.process`), then move the batch to the processed
folder. Whatever dies in between (the task, the database, the IMAP connection), the messages not
yet moved are still in the inbox and the next run processes them again: those already recorded
are recognised by their key and only moved. A message whose processing fails unexpectedly is
quarantined with the error, so one bad message never blocks the mailbox; if even that fails (the
database is gone), the run stops with the error and the message stays in the inbox.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text

from xop.connections.imap import Mailbox
from xop.core.config import XopConfig
from xop.intake.apply import process, quarantine_failure
from xop.intake.steps.sender import check_intake_config

log = logging.getLogger(__name__)


@dataclass
class IntakeStats:
    seen: int = 0
    outcomes: Counter = field(default_factory=Counter)
    moved: int = 0
    left: int = 0  # messages over max_per_run, for the next run

    def as_dict(self) -> dict[str, Any]:
        return {"seen": self.seen, "outcomes": dict(self.outcomes), "moved": self.moved, "left": self.left}


@contextmanager
def mailbox_lock(engine: Engine, mailbox: str) -> Iterator[None]:
    """One run at a time per mailbox, also beyond Airflow's ``max_active_runs`` (a manual run, a
    second scheduler): a parallel run waits here, then finds what the first one left.

    PostgreSQL: a session advisory lock (released when the holder's connection ends, also by a
    crash). SQLite: an exclusive ``flock`` on a file beside the database (released by the kernel
    when the holder dies). Without this lock the unique ``message_key`` still prevents a second
    ticket event; the lock also keeps two runs from moving the same message twice.
    """
    key = int.from_bytes(hashlib.sha256(f"xop-intake:{mailbox}".encode()).digest()[:8], "big", signed=True)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.intake-{key & 0xFFFFFFFF:08x}.lock", "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def run_intake(
    engine: Engine,
    cfg: XopConfig,
    *,
    now: datetime,
    conn_id: str | None = None,
    on_committed: Any = None,
) -> IntakeStats:
    """Process every message in the inbox. ``on_committed(uid)`` is called between a message's
    commit and its move (tests use it to stop a run at the worst moment)."""
    spec = cfg.intake
    check_intake_config(cfg)
    stats = IntakeStats()
    conn_id = conn_id or spec.conn_id
    with mailbox_lock(engine, f"{conn_id}/{spec.folder}"), Mailbox(conn_id, spec.folder) as box:
        box.ensure_folder(spec.processed_folder)
        uids = box.uids()
        stats.left = max(0, len(uids) - spec.max_per_run)
        uids = uids[: spec.max_per_run]
        for start in range(0, len(uids), spec.fetch_batch):
            done = []
            for uid, raw in box.fetch(uids[start : start + spec.fetch_batch]):
                stats.seen += 1
                try:
                    result = process(engine, cfg, raw, now=now, folder=spec.folder)
                except Exception as exc:  # a bug or a message nothing expected: keep it for a person
                    log.exception("intake: message UID %s failed; quarantining it", uid)
                    result = quarantine_failure(
                        engine, raw, now=now, folder=spec.folder, error=f"{type(exc).__name__}: {exc}"
                    )
                stats.outcomes[result.outcome] += 1
                log.info(
                    "intake: UID %s %s -> %s %s %s",
                    uid,
                    result.key,
                    result.outcome,
                    result.ticket or "",
                    result.reason,
                )
                if on_committed is not None:
                    on_committed(uid)
                done.append(uid)
            box.move(done, spec.processed_folder)
            stats.moved += len(done)
    return stats
