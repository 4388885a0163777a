"""Attachments of inbound mail: stored with their sha256, in the database or a directory.

With ``intake.attachments_dir`` set, a file is written content-addressed
(``<dir>/ab/abcdef...``) before the transaction commits: a crash leaves at most an unreferenced
file, never a row without its bytes. Without it, the bytes go into ``attachments.content``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select

from xop.core.config import XopConfig
from xop.core.errors import ConfigError
from xop.intake.parse import Part
from xop.intake.tables import attachments


def _write(directory: Path, part: Part) -> str:
    digest = part.sha256
    rel = f"{digest[:2]}/{digest}"
    target = directory / rel
    if target.exists() and target.stat().st_size == len(part.data):
        return rel
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(part.data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rel


def save_parts(
    conn: Connection,
    cfg: XopConfig,
    parts: Iterable[Part],
    *,
    inbound_id: int,
    ticket_id: int,
    event_id: int | None,
    now: datetime,
) -> int:
    """Store ``parts`` for the ticket in the caller's transaction; returns how many."""
    parts = list(parts)
    if not parts:
        return 0
    directory = Path(cfg.intake.attachments_dir) if cfg.intake.attachments_dir else None
    if directory is not None and not directory.is_absolute():
        raise ConfigError(f"intake.attachments_dir must be an absolute path, got {str(directory)!r}")
    rows = []
    for p in parts:
        rows.append(
            {
                "inbound_message_id": inbound_id,
                "ticket_id": ticket_id,
                "event_id": event_id,
                "filename": p.filename,
                "content_type": p.content_type,
                "size": len(p.data),
                "sha256": p.sha256,
                "inline": p.inline,
                "content_id": p.content_id,
                "content": None if directory else p.data,
                "path": _write(directory, p) if directory else None,
                "created_at": now,
            }
        )
    conn.execute(attachments.insert(), rows)
    return len(rows)


def list_attachments(engine: Engine, ticket_id: int) -> list[dict[str, Any]]:
    """The attachments of a ticket (without their bytes), oldest first."""
    cols = [c for c in attachments.c if c.name != "content"]
    with engine.connect() as conn:
        rows = conn.execute(
            select(*cols).where(attachments.c.ticket_id == ticket_id).order_by(attachments.c.id)
        )
        return [dict(r._mapping) for r in rows]


def read_attachment(
    engine: Engine, cfg: XopConfig, attachment_id: int
) -> tuple[dict[str, Any], bytes] | None:
    """(metadata, bytes) of one attachment, or None; the bytes are checked against the sha256."""
    with engine.connect() as conn:
        row = conn.execute(select(attachments).where(attachments.c.id == attachment_id)).first()
    if row is None:
        return None
    meta = dict(row._mapping)
    data = meta.pop("content")
    if data is None:
        if not cfg.intake.attachments_dir:
            raise ConfigError(f"attachment {attachment_id} is a file but intake.attachments_dir is not set")
        data = (Path(cfg.intake.attachments_dir) / meta["path"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise ConfigError(
            f"attachment {attachment_id}: stored bytes do not match their sha256 {meta['sha256']}"
        )
    return meta, bytes(data)
