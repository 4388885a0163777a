"""Files attached to a ticket: by email (the intake) or uploaded in the customer portal.

One table (``attachments``, :mod:`xop.tickets.tables`) for both: each row is on its ticket and
on the event it came with (``event_id``: the customer update or the opening); a row from the
mail intake also names its inbound message. The bytes are checked against their sha256 on
every read.

Storage. With ``intake.attachments_dir`` set (an absolute path), a file is written
content-addressed (``<dir>/ab/abcdef...``, directories 0700, files 0600) before the
transaction commits: a crash leaves at most an unreferenced file, never a row without its
bytes. Without it, the bytes go into ``attachments.content``. The name a sender gave a file is
only ever a label (sanitised by :func:`safe_filename`); it never becomes part of a path.

Limits (:func:`check_new`), the same for mail and portal: ``intake.max_message_attachment_bytes``
for one message or form, ``intake.max_ticket_attachment_bytes`` for all files of a ticket;
the portal adds a count and a list of file types (``portal.max_attachments``,
``portal.attachment_types``).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, func, select

from xop.core.config import XopConfig
from xop.core.errors import ConfigError, InvalidInput
from xop.tickets.tables import attachments

#: A stored file's path below the directory: nothing but the two-level sha256 layout.
_REL = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{64}$")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


@dataclass(frozen=True)
class Content:
    """One file to store: an email's attachment or inline image (the intake), a form's upload
    (the portal)."""

    filename: str
    content_type: str
    data: bytes
    inline: bool = False
    content_id: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def safe_filename(name: str | None, fallback: str = "attachment") -> str:
    """The last path component of ``name``, without control characters, separators or the
    characters Windows refuses, NFC-normalised, at most 255 characters (the extension kept);
    ``fallback`` when nothing is left ("", ".", "..")."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]  # browsers on Windows once sent C:\path\file.txt
    name = _UNSAFE.sub("_", name).strip(" .")
    if not name:
        return fallback
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 254 - len(ext)] + "." + ext) if dot and len(ext) <= 16 else name[:255]
    return name


def extension(name: str) -> str:
    """The lower-case extension of a file name ('' for none); ``.tar.gz`` counts as ``gz``."""
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def human_size(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def stored_bytes(conn: Connection, ticket_id: int) -> int:
    """How many bytes of attachments the ticket already has."""
    total = conn.execute(
        select(func.coalesce(func.sum(attachments.c.size), 0)).where(attachments.c.ticket_id == ticket_id)
    ).scalar_one()
    return int(total)  # PostgreSQL's SUM of a BIGINT is a NUMERIC (Decimal)


def check_new(
    cfg: XopConfig,
    files: Sequence[Content],
    *,
    stored: int = 0,
    field: str = "attachments",
    max_count: int | None = None,
    types: Sequence[str] = (),
) -> None:
    """Refuse (``InvalidInput`` naming ``field``) files over the count, a type not in ``types``
    (extensions; empty: any), an empty file, or bytes over the message or ticket limit."""
    if max_count is not None and len(files) > max_count:
        raise InvalidInput(field, f"{len(files)} files; at most {max_count} at once")
    allowed = {t.lower().lstrip(".") for t in types}
    for f in files:
        if allowed and extension(f.filename) not in allowed:
            raise InvalidInput(
                field,
                f"{f.filename!r} is not a file type we accept; accepted: {', '.join(sorted(allowed))}",
            )
        if not f.data:
            raise InvalidInput(field, f"{f.filename!r} is empty")
    size = sum(len(f.data) for f in files)
    limit = cfg.intake.max_message_attachment_bytes
    if size > limit:
        raise InvalidInput(
            field, f"the files are {human_size(size)} together; the limit is {human_size(limit)}"
        )
    limit = cfg.intake.max_ticket_attachment_bytes
    if stored + size > limit:
        raise InvalidInput(
            field,
            f"the ticket already has {human_size(stored)} of files; {human_size(size)} more would "
            f"exceed its limit of {human_size(limit)}",
        )


def _directory(cfg: XopConfig) -> Path | None:
    if not cfg.intake.attachments_dir:
        return None
    directory = Path(cfg.intake.attachments_dir)
    if not directory.is_absolute():
        raise ConfigError(f"intake.attachments_dir must be an absolute path, got {str(directory)!r}")
    return directory


def _write(directory: Path, digest: str, data: bytes) -> str:
    rel = f"{digest[:2]}/{digest}"
    target = directory / rel
    if target.exists() and target.stat().st_size == len(data):
        return rel
    for d in (directory, target.parent):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rel


def save(
    conn: Connection,
    cfg: XopConfig,
    files: Iterable[Content],
    *,
    ticket_id: int,
    event_id: int | None,
    now: datetime,
    inbound_id: int | None = None,
) -> list[int]:
    """Store ``files`` for the ticket in the caller's transaction; returns their ids."""
    files = list(files)
    if not files:
        return []
    directory = _directory(cfg)
    rows = [
        {
            "inbound_message_id": inbound_id,
            "ticket_id": ticket_id,
            "event_id": event_id,
            "filename": safe_filename(f.filename),
            "content_type": (f.content_type or "application/octet-stream")[:127],
            "size": len(f.data),
            "sha256": f.sha256,
            "inline": f.inline,
            "content_id": (f.content_id or None) and f.content_id[:255],
            "content": None if directory else f.data,
            "path": _write(directory, f.sha256, f.data) if directory else None,
            "created_at": now,
        }
        for f in files
    ]
    return [conn.execute(attachments.insert().returning(attachments.c.id), r).scalar_one() for r in rows]


LISTED = [c for c in attachments.c if c.name != "content"]


def list_for_ticket(engine: Engine, ticket_id: int) -> list[dict[str, Any]]:
    """The attachments of a ticket (without their bytes), oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(*LISTED).where(attachments.c.ticket_id == ticket_id).order_by(attachments.c.id)
        )
        return [dict(r._mapping) for r in rows]


def read(engine: Engine, cfg: XopConfig, attachment_id: int) -> tuple[dict[str, Any], bytes] | None:
    """(metadata, bytes) of one attachment, or None; the bytes are checked against the sha256."""
    with engine.connect() as conn:
        row = conn.execute(select(attachments).where(attachments.c.id == attachment_id)).first()
    if row is None:
        return None
    meta = dict(row._mapping)
    data = meta.pop("content")
    if data is None:
        directory = _directory(cfg)
        if directory is None:
            raise ConfigError(f"attachment {attachment_id} is a file but intake.attachments_dir is not set")
        if not _REL.match(meta["path"] or ""):  # never a path outside the directory
            raise ConfigError(f"attachment {attachment_id}: stored path {meta['path']!r} is not a file name")
        data = (directory / meta["path"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise ConfigError(
            f"attachment {attachment_id}: stored bytes do not match their sha256 {meta['sha256']}"
        )
    return meta, bytes(data)


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII ``filename`` and the exact name as RFC 6266 ``filename*``."""
    ascii_name = safe_filename(filename).encode("ascii", "replace").decode().replace('"', "'")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(safe_filename(filename))}"
