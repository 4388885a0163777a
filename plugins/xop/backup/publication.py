"""Publish recovery images and backups to a customer's folder on XOP's FTP site.

For each file: check the OEM's checksum if one is given (the file is published byte for byte
as the vendor shipped it), upload under a temporary name with resume
(:class:`xop.connections.ftps.FtpsClient`),
compare sizes, rename into place. Then rewrite, each atomically:

- ``SHA256SUMS``: ``sha256sum -c`` format, one line per published file;
- ``MANIFEST.json``: per file its size, sha256, series, publication time and, for OEM images,
  the vendor and the vendor's checksum (the label the customer can check against the OEM).

Finally prune: per series, only the newest ``retention`` files stay. Files in the folder that
this code did not publish (not in ``MANIFEST.json``) are never touched. A file already
published with the same content is not uploaded again, so a rerun is cheap and harmless.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xop.backup.manifest import BackupManifest
from xop.backup.tables import publications
from xop.connections.ftps import FtpsClient
from xop.core.errors import BackupError
from xop.core.specs.backup import ImageSpec, PublicationSpec
from xop.core.specs.safepaths import remote_folder

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.engine import Engine

    from xop.connections.ftps import FtpsClient

log = logging.getLogger(__name__)

SUMS_NAME = "SHA256SUMS"
MANIFEST_NAME = "MANIFEST.json"


class PublicationError(BackupError):
    """A file was not published: its content is not what it claims to be."""


@dataclass(frozen=True)
class PublishedFile:
    name: str
    series: str
    size: int
    sha256: str
    published_at: str  # ISO 8601, UTC
    source: str
    vendor: str | None = None
    vendor_checksum: str | None = None
    vendor_checksum_algorithm: str | None = None
    reconnects: int = 0
    uploaded: bool = True  # False: the same content was already there


@dataclass
class PublicationResult:
    customer: str
    folder: str
    files: list[PublishedFile] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)

    @property
    def uploaded(self) -> list[PublishedFile]:
        return [f for f in self.files if f.uploaded]


def backup_as_image(manifest: BackupManifest) -> ImageSpec:
    """The spec that publishes a backup archive (its own series per system)."""
    return ImageSpec(path=manifest.path, series=f"backup-{manifest.system}")


def publish(
    spec: PublicationSpec,
    *,
    customer: str,
    now: datetime,
    folder: str | None = None,
    files: Sequence[ImageSpec] = (),
    engine: Engine | None = None,
    client: FtpsClient | None = None,
) -> PublicationResult:
    """Publish ``spec.images`` plus ``files`` to the customer's folder; see the module doc.

    The folder is ``spec.ftp.folder``, else ``folder`` (the customer's ``ftp_folder``), else
    ``/<customer>``.
    """

    images = [*spec.images, *files]
    for image in images:
        check_vendor_checksum(image)
    try:  # the config's models check this already; a caller passing ``folder`` gets the same rule
        folder = remote_folder(spec.ftp.folder or folder or customer, "ftp folder")
    except ValueError as exc:
        raise BackupError(f"customer {customer!r}: {exc}") from None
    result = PublicationResult(customer=customer, folder=folder)
    ftp = client or FtpsClient(spec.ftp.conn_id)
    with ftp:
        ftp.ensure_folder(folder)
        entries = _load_manifest(ftp, folder)
        for image in images:
            published = _publish_one(ftp, image, folder=folder, entries=entries, now=now)
            entries[published.name] = _entry(published)
            result.files.append(published)
        result.pruned = prune_names(
            entries, retention=spec.ftp.retention, keep={f.name for f in result.files}
        )
        for name in result.pruned:
            entries.pop(name)
        sums = _load_sums(ftp, folder)
        for name in result.pruned:
            sums.pop(name, None)
        sums.update({name: entry["sha256"] for name, entry in entries.items()})
        ftp.write_bytes(render_sums(sums), folder=folder, name=SUMS_NAME)
        ftp.write_bytes(_render_manifest(entries), folder=folder, name=MANIFEST_NAME)
        for name in result.pruned:  # after the lists: a crash leaves an unlisted file, not a bad list
            ftp.delete(posixpath.join(folder, name))
            log.info("pruned %s/%s", folder, name)
    if engine is not None:
        with engine.begin() as conn:
            record_publication(conn, spec, result, now=now)
    return result


def _publish_one(
    ftp: FtpsClient, image: ImageSpec, *, folder: str, entries: dict, now: datetime
) -> PublishedFile:
    name = image.remote_name
    size = image.path.stat().st_size
    label = {
        "vendor": image.vendor,
        "vendor_checksum": image.vendor_checksum.lower() if image.vendor_checksum else None,
        "vendor_checksum_algorithm": image.vendor_checksum_algorithm if image.vendor_checksum else None,
    }
    known = entries.get(name)
    if known and known["size"] == size and ftp.size(posixpath.join(folder, name)) == size:
        local_sha = sha256_of(image.path)
        if local_sha == known["sha256"]:
            log.info("%s/%s already published with the same content", folder, name)
            return PublishedFile(
                name=name,
                series=image.series_key,
                size=size,
                sha256=local_sha,
                published_at=known["published_at"],
                source=str(image.path),
                uploaded=False,
                **label,
            )
    upload = ftp.upload(image.path, folder=folder, name=name)
    if label["vendor_checksum_algorithm"] == "sha256" and upload.sha256 != label["vendor_checksum"]:
        ftp.delete(posixpath.join(folder, name))
        raise PublicationError(
            f"{image.path} changed during the upload: sha256 {upload.sha256}; removed again"
        )
    return PublishedFile(
        name=name,
        series=image.series_key,
        size=upload.size,
        sha256=upload.sha256,
        published_at=now.astimezone(UTC).isoformat(),
        source=str(image.path),
        reconnects=upload.reconnects,
        **label,
    )


def check_vendor_checksum(image: ImageSpec) -> None:
    """Refuse an OEM image whose bytes differ from what the vendor's checksum says."""
    if not image.path.is_file():
        raise PublicationError(f"image {image.path} does not exist")
    if image.vendor_checksum is None:
        return
    digest = hashlib.new(image.vendor_checksum_algorithm)
    with image.path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    if digest.hexdigest() != image.vendor_checksum.lower():
        raise PublicationError(
            f"image {image.path}: {image.vendor_checksum_algorithm} is {digest.hexdigest()}, "
            f"the vendor {image.vendor or '(unnamed)'} says {image.vendor_checksum}; not published"
        )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def prune_names(entries: dict[str, dict[str, Any]], *, retention: int, keep: set[str]) -> list[str]:
    """Names beyond the newest ``retention`` of their series (never one in ``keep``)."""
    by_series: dict[str, list[dict[str, Any]]] = {}
    for entry in entries.values():
        by_series.setdefault(entry["series"], []).append(entry)
    doomed = []
    for members in by_series.values():
        members.sort(key=lambda e: (e["published_at"], e["name"]), reverse=True)
        doomed += [e["name"] for e in members[retention:] if e["name"] not in keep]
    return sorted(doomed)


def parse_sums(text: str) -> dict[str, str]:
    sums = {}
    for line in text.splitlines():
        digest, sep, name = line.partition("  ")
        if sep and len(digest) == 64:
            sums[name.lstrip("*")] = digest
    return sums


def render_sums(sums: dict[str, str]) -> bytes:
    return "".join(f"{sums[name]}  {name}\n" for name in sorted(sums)).encode()


def _load_sums(ftp: FtpsClient, folder: str) -> dict[str, str]:
    data = ftp.read_bytes(posixpath.join(folder, SUMS_NAME))
    return parse_sums(data.decode()) if data else {}


def _load_manifest(ftp: FtpsClient, folder: str) -> dict[str, dict[str, Any]]:
    data = ftp.read_bytes(posixpath.join(folder, MANIFEST_NAME))
    if not data:
        return {}
    return {entry["name"]: entry for entry in json.loads(data)["files"]}


def _entry(published: PublishedFile) -> dict[str, Any]:
    entry = asdict(published)
    for transient in ("reconnects", "uploaded", "source"):
        entry.pop(transient)
    return entry


def _render_manifest(entries: dict[str, dict[str, Any]]) -> bytes:
    files = [entries[name] for name in sorted(entries)]
    return (json.dumps({"files": files}, indent=2, sort_keys=True) + "\n").encode()


def record_publication(
    conn: Connection, spec: PublicationSpec, result: PublicationResult, *, now: datetime
) -> None:
    """One ``publications`` row per uploaded file; pruned files get ``pruned_at``.

    Runs in the caller's transaction, so the customer's email can be queued in the same one.
    """
    from sqlalchemy import insert, update

    rows = [
        {
            "customer": result.customer,
            "ftp_conn_id": spec.ftp.conn_id,
            "folder": result.folder,
            "name": f.name,
            "series": f.series,
            "source": f.source,
            "size": f.size,
            "sha256": f.sha256,
            "vendor": f.vendor,
            "vendor_checksum": f.vendor_checksum,
            "vendor_checksum_algorithm": f.vendor_checksum_algorithm,
            "published_at": now,
            "resumed": f.reconnects,
        }
        for f in result.uploaded
    ]
    if rows:
        conn.execute(insert(publications), rows)
    if result.pruned:
        conn.execute(
            update(publications)
            .where(
                publications.c.customer == result.customer,
                publications.c.folder == result.folder,
                publications.c.name.in_(result.pruned),
                publications.c.pruned_at.is_(None),
            )
            .values(pruned_at=now)
        )
