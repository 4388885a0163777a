"""What to back up and what to publish: the typed settings the config and the DAGs pass in.

These models are the contract between the configuration (``include/config``), the daily audit
(which calls :func:`xop.backup.take_backup` per system) and the publication DAG. They validate
only shape and consistency; nothing here reads a connection or touches the disk.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from xop.core.paths import REPO_ROOT, VAR_DIR
from xop.core.specs.safepaths import LocalPath, RemoteFolder

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetentionSpec(_Strict):
    """How many backups to keep: the newest of each of the last N days, ISO weeks, months.

    The newest verified backup is always kept, whatever these numbers say.
    """

    daily: int = Field(7, ge=0, le=366, description="newest backup of each of the last N days")
    weekly: int = Field(4, ge=0, le=520, description="newest backup of each of the last N ISO weeks")
    monthly: int = Field(6, ge=0, le=240, description="newest backup of each of the last N months")


class BackupSpec(_Strict):
    """One system database to back up.

    ``kind="postgres"`` needs ``conn_id`` (an Airflow connection of the system database;
    ``database`` overrides the connection's schema). ``kind="sqlite"`` needs ``path`` (the
    database file). ``directory`` overrides where the backups of this system are written.
    """

    kind: Literal["postgres", "sqlite"]
    conn_id: str | None = Field(None, min_length=1, description="Airflow connection of the system DB")
    database: str | None = Field(None, min_length=1, description="database name; default: the connection's")
    path: LocalPath | None = Field(None, description="SQLite database file (kind=sqlite)")
    include_globals: bool = Field(True, description="also save roles/tablespaces (pg_dumpall --globals-only)")
    retention: RetentionSpec = Field(default_factory=RetentionSpec)
    directory: LocalPath | None = Field(None, description="where backups go; default: see backup_root()")
    restore_approvers: list[str] = Field(
        default_factory=list,
        description="Airflow user ids who may approve replacing this database (the restore DAG's "
        "approval step); empty: everyone Airflow lets act on the restore DAG's required actions",
    )

    @model_validator(mode="after")
    def _source_matches_kind(self) -> BackupSpec:
        if self.kind == "postgres":
            if not self.conn_id:
                raise ValueError("kind 'postgres' needs conn_id (Airflow connection of the system database)")
            if self.path is not None:
                raise ValueError(f"path={str(self.path)!r} is for kind 'sqlite'; postgres uses conn_id")
        else:
            if self.path is None:
                raise ValueError("kind 'sqlite' needs path (the SQLite database file)")
            if self.conn_id or self.database:
                raise ValueError("conn_id/database are for kind 'postgres'; a sqlite backup uses path")
        return self


class FtpSpec(_Strict):
    """Where a customer's files go on XOP's FTP site.

    ``conn_id`` names the Airflow connection of the site (host, port, login, password; FTPS
    unless its extra says ``{"tls": false}``). ``folder`` is the customer's folder on it
    (default: the customer's ``ftp_folder``, else ``/<customer id>``). ``retention`` is how many
    files of each series (see :class:`ImageSpec`) stay published.
    """

    conn_id: str = Field("xop_ftp", min_length=1)
    folder: RemoteFolder | None = Field(None, description="customer folder on the FTP site, e.g. /acme")
    retention: int = Field(3, ge=1, le=100, description="files kept per series; older ones are pruned")


class ImageSpec(_Strict):
    """One recovery image to publish, byte for byte as given.

    ``vendor`` and ``vendor_checksum`` label an image shipped by an OEM (NEC, Cisco...): the
    file is checked against the vendor's checksum before it is published, and the label is
    written beside it. ``series`` groups successive versions of the same image for retention;
    by default the file name with every digit removed.
    """

    path: LocalPath = Field(..., description="local file to publish")
    name: str | None = Field(None, description="name on the FTP site; default: the file's name")
    series: str | None = Field(None, min_length=1, description="retention group; default from the name")
    vendor: str | None = Field(None, min_length=1, description="OEM that shipped the image")
    vendor_checksum: str | None = Field(None, description="the vendor's checksum, hex")
    vendor_checksum_algorithm: Literal["md5", "sha1", "sha256", "sha512"] = "sha256"

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(f"name {value!r} must be a plain file name (letters, digits, '._-')")
        return value

    @model_validator(mode="after")
    def _checksum_shape(self) -> ImageSpec:
        if self.vendor_checksum is None:
            return self
        want = _HEX_LENGTHS[self.vendor_checksum_algorithm]
        if len(self.vendor_checksum) != want or not re.fullmatch(r"[0-9a-fA-F]+", self.vendor_checksum):
            raise ValueError(
                f"vendor_checksum {self.vendor_checksum!r} is not a {self.vendor_checksum_algorithm} "
                f"hex digest ({want} hex digits)"
            )
        return self

    @property
    def remote_name(self) -> str:
        return self.name or self.path.name

    @property
    def series_key(self) -> str:
        return self.series or re.sub(r"\d+", "", self.remote_name)


class PublicationSpec(_Strict):
    """What is published for one customer (it sits under the customer in the config):
    recovery images and, optionally, the newest verified backup of each of its systems."""

    ftp: FtpSpec = Field(default_factory=FtpSpec)
    images: list[ImageSpec] = Field(default_factory=list)
    publish_backups: bool = Field(False, description="also publish each system's newest verified backup")

    @model_validator(mode="after")
    def _unique_names(self) -> PublicationSpec:
        seen: set[str] = set()
        for image in self.images:
            if image.remote_name in seen:
                raise ValueError(f"two images would be published as {image.remote_name!r}")
            seen.add(image.remote_name)
        return self


def default_backup_root() -> Path:
    """Where backups go unless a spec says: ``$XOP_BACKUP_DIR``, else ``var/backups`` in the repo."""
    configured = os.environ.get("XOP_BACKUP_DIR")
    return Path(configured) if configured else VAR_DIR / "backups"


def backup_root(cfg: Any, system: Any) -> Path:
    """The directory holding ``system``'s backups: the one answer of the audit (which writes them),
    the publication and the restore (which read them).

    Precedence, first that is set:

    1. the system's own ``backup.directory`` in the config;
    2. the environment variable ``XOP_BACKUP_DIR`` (the deployment's shared storage: every worker
       host points it at the same share);
    3. the config's ``audit.backup_dir``;
    4. ``var/backups`` in the repository.

    A relative path is relative to the repository (``REPO_ROOT``).
    """
    spec = getattr(system, "backup", None)
    audit = getattr(cfg, "audit", None)
    env = os.environ.get("XOP_BACKUP_DIR")
    path = Path(
        (spec.directory if spec is not None else None)
        or env
        or (audit.backup_dir if audit is not None else None)
        or VAR_DIR / "backups"
    )
    return path if path.is_absolute() else REPO_ROOT / path


__all__ = [
    "BackupSpec",
    "FtpSpec",
    "ImageSpec",
    "PublicationSpec",
    "RetentionSpec",
    "backup_root",
    "default_backup_root",
]
