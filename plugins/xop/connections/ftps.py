"""The client of XOP's FTP site: explicit FTPS by default, resumable atomic uploads.

:class:`FtpSettings` reads the FTP site's Airflow connection (default ``xop_ftp``; type
``xop_ftps``, or the FTP provider's ``ftp``). Connection fields: host, port (21),
login, password. Extra (all optional)::

    {"tls": true,              # false = plain FTP; only when the connection says so
     "ca_file": "/path.pem",   # CA bundle for the server certificate (XOP's own CA)
     "verify": true,           # false = accept any certificate (still encrypted)
     "tls_max_version": "1.3", # "1.2" to cap the protocol
     "passive": true,
     "timeout": 60}

Why not the stock ``FTPSHook``: it sets the port on the ``FTP_TLS`` class for the whole process.
Why a subclass of ``ftplib.FTP_TLS``: it opens each data connection with a NEW TLS session,
while vsftpd (Debian default ``require_ssl_reuse=YES``) refuses data connections that do not
resume the control connection's session ("522 SSL connection failed: session reuse required").
:class:`SessionReusingFTP_TLS` passes ``session=`` when it wraps the data socket.
"""

from __future__ import annotations

import contextlib
import ftplib
import hashlib
import logging
import posixpath
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from xop.connections.read import extra_of, flag, get_connection
from xop.core.errors import ConfigError, FtpError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
#: Errors after which the upload reconnects and resumes: a dropped connection (OSError covers
#: resets, broken pipes and TLS errors; EOFError a closed control channel) or a 4xx reply.
DROPPED = (OSError, EOFError, ftplib.error_temp, ftplib.error_reply)
CONN_TYPE = "xop_ftps"
EXTRA_KEYS = {"tls", "ca_file", "verify", "tls_max_version", "passive", "timeout"}


class SessionReusingFTP_TLS(ftplib.FTP_TLS):
    """``FTP_TLS`` whose data connections resume the control connection's TLS session."""

    def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[Any, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:  # type: ignore[attr-defined]
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size


@dataclass(frozen=True)
class FtpSettings:
    """What :class:`FtpsClient` needs from the Airflow connection (password not in repr)."""

    host: str
    port: int = 21
    login: str = "anonymous"
    password: str = field(default="", repr=False)
    tls: bool = True
    passive: bool = True
    ca_file: str | None = None
    verify: bool = True
    tls_max_version: str | None = None
    timeout: float = 60.0

    @classmethod
    def from_connection(cls, conn_id: str) -> FtpSettings:
        conn = get_connection(conn_id, what="the FTP site")
        if not conn.host:
            raise ConfigError(f"Airflow connection {conn_id!r} has no host")
        extra = extra_of(conn, allowed=EXTRA_KEYS)
        max_version = extra.get("tls_max_version")
        if max_version not in (None, "1.2", "1.3"):
            raise ConfigError(
                f"Airflow connection {conn_id!r}: tls_max_version {max_version!r} is not 1.2 or 1.3"
            )
        return cls(
            host=conn.host,
            port=int(conn.port or 21),
            login=conn.login or "anonymous",
            password=conn.password or "",
            tls=flag(extra.get("tls", True), "tls", conn_id),
            passive=flag(extra.get("passive", True), "passive", conn_id),
            ca_file=extra.get("ca_file"),
            verify=flag(extra.get("verify", True), "verify", conn_id),
            tls_max_version=max_version,
            timeout=float(extra.get("timeout", 60)),
        )

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.tls_max_version == "1.2":
            context.maximum_version = ssl.TLSVersion.TLSv1_2
        return context


@dataclass(frozen=True)
class UploadResult:
    name: str
    size: int
    sha256: str
    reconnects: int


class FtpsClient:
    """A session with the FTP site. Use as a context manager; verbs take keyword arguments.

    >>> with FtpsClient("xop_ftp") as ftp:                        # doctest: +SKIP
    ...     ftp.upload(Path("image.iso"), folder="/acme", name="image.iso")
    """

    def __init__(
        self,
        conn_id: str = "xop_ftp",
        *,
        settings: FtpSettings | None = None,
        max_reconnects: int = 5,
        backoff: float = 0.2,
    ) -> None:
        self.conn_id = conn_id
        self._settings = settings
        self.max_reconnects = max_reconnects
        self.backoff = backoff
        self._ftp: ftplib.FTP | None = None

    @cached_property
    def settings(self) -> FtpSettings:
        return self._settings or FtpSettings.from_connection(self.conn_id)

    # -- session ------------------------------------------------------------------------------

    def __enter__(self) -> FtpsClient:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def connect(self) -> None:
        """Open the control connection: AUTH TLS, login, PROT P (or plain FTP if so configured)."""
        s = self.settings
        ftp: ftplib.FTP
        if s.tls:
            ftp = SessionReusingFTP_TLS(context=s.ssl_context(), timeout=s.timeout)
        else:
            ftp = ftplib.FTP(timeout=s.timeout)
        try:
            ftp.connect(s.host, s.port)
            ftp.login(s.login, s.password)  # FTP_TLS.login sends AUTH TLS first
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
            ftp.set_pasv(s.passive)
            ftp.voidcmd("TYPE I")
        except (*DROPPED, ftplib.Error) as exc:
            _close_quietly(ftp)
            raise FtpError(f"FTP site {s.host}:{s.port} ({self.conn_id}) as {s.login!r}: {exc}") from exc
        self._ftp = ftp

    def close(self) -> None:
        if self._ftp is not None:
            try:
                self._ftp.quit()
            except (*DROPPED, ftplib.Error):
                _close_quietly(self._ftp)
            self._ftp = None

    @property
    def ftp(self) -> ftplib.FTP:
        if self._ftp is None:
            raise FtpError("not connected: use FtpsClient as a context manager")
        return self._ftp

    def _reconnect(self) -> None:
        if self._ftp is not None:
            _close_quietly(self._ftp)
            self._ftp = None
        self.connect()

    # -- small verbs --------------------------------------------------------------------------

    def ensure_folder(self, folder: str) -> None:
        """Create ``folder`` and its parents if missing."""
        path = ""
        for part in [p for p in folder.split("/") if p]:
            path = f"{path}/{part}"
            try:
                self.ftp.mkd(path)
            except ftplib.error_perm:
                try:  # exists already (550) if we can change into it
                    self.ftp.cwd(path)
                except ftplib.error_perm as exc:
                    raise FtpError(f"cannot create folder {path!r}: {exc}") from exc
        self.ftp.cwd("/")

    def size(self, path: str) -> int | None:
        """Size in bytes, or None if there is no such file."""
        try:
            self.ftp.voidcmd("TYPE I")  # SIZE is only meaningful in binary mode; NLST leaves ASCII
            found = self.ftp.size(path)
        except ftplib.error_perm:
            return None
        return int(found) if found is not None else None

    def names(self, folder: str) -> list[str]:
        """Plain file names in ``folder``."""
        try:
            listed = self.ftp.nlst(folder)
        except ftplib.error_perm as exc:  # some servers answer 550 for an empty folder
            if str(exc).startswith("550"):
                return []
            raise FtpError(f"cannot list {folder!r}: {exc}") from exc
        return sorted(posixpath.basename(n) for n in listed)

    def delete(self, path: str, *, missing_ok: bool = True) -> None:
        try:
            self.ftp.delete(path)
        except ftplib.error_perm as exc:
            if not (missing_ok and str(exc).startswith("550")):
                raise FtpError(f"cannot delete {path!r}: {exc}") from exc

    def rename(self, source: str, target: str) -> None:
        try:
            self.ftp.rename(source, target)
        except ftplib.error_perm as exc:
            raise FtpError(f"cannot rename {source!r} to {target!r}: {exc}") from exc

    def read_bytes(self, path: str) -> bytes | None:
        """The whole content of a (small) file, or None if it does not exist."""
        chunks: list[bytes] = []
        try:
            self.ftp.retrbinary(f"RETR {path}", chunks.append)
        except ftplib.error_perm as exc:
            if str(exc).startswith("550"):
                return None
            raise FtpError(f"cannot read {path!r}: {exc}") from exc
        return b"".join(chunks)

    def write_bytes(self, data: bytes, *, folder: str, name: str) -> None:
        """Replace ``folder/name`` atomically with ``data`` (temporary name, then rename)."""
        import io

        tmp = posixpath.join(folder, f".{name}.part")
        self.ftp.storbinary(f"STOR {tmp}", io.BytesIO(data), blocksize=CHUNK)
        if self.size(tmp) != len(data):
            raise FtpError(f"{tmp}: size after upload differs from {len(data)} bytes")
        self.rename(tmp, posixpath.join(folder, name))

    def download(self, path: str, target: Path) -> int:
        """Download ``path`` to ``target``; returns the byte count."""
        written = 0
        with target.open("wb") as out:

            def sink(block: bytes) -> None:
                nonlocal written
                out.write(block)
                written += len(block)

            try:
                self.ftp.retrbinary(f"RETR {path}", sink, blocksize=CHUNK)
            except ftplib.error_perm as exc:
                raise FtpError(f"cannot download {path!r}: {exc}") from exc
        return written

    # -- the upload ---------------------------------------------------------------------------

    def upload(
        self,
        local: Path,
        *,
        folder: str,
        name: str,
        on_progress: Callable[[int], None] | None = None,
        expect_sha256: str | None = None,
    ) -> UploadResult:
        """Upload ``local`` to ``folder/name`` so that ``name`` only ever holds the whole file.

        The bytes go to ``.<name>.part``; after a dropped connection the client reconnects and
        appends from the size the server has (APPE). When the server holds exactly the local
        size, the part file is renamed to ``name``. The SHA-256 is computed from the bytes as
        they are read for sending (each byte hashed once, also across resumes).
        ``on_progress(offset)`` is called after each block sent. With ``expect_sha256``, a
        different digest deletes the part file and raises instead of renaming.
        """
        total = local.stat().st_size
        tmp = posixpath.join(folder, f".{name}.part")
        final = posixpath.join(folder, name)
        reconnects = 0
        with local.open("rb") as raw:
            source = _HashingReader(raw)
            offset = self._resume_offset(tmp, total)
            while True:
                try:
                    source.seek(offset)
                    command = f"APPE {tmp}" if offset else f"STOR {tmp}"
                    progress = (lambda _block: on_progress(source.tell())) if on_progress else None
                    self.ftp.storbinary(command, source, blocksize=CHUNK, callback=progress)
                    remote = self.size(tmp)
                    if remote != total:
                        raise ftplib.error_temp(f"451 {tmp} holds {remote} bytes, expected {total}")
                    break
                except ftplib.error_perm as exc:  # 5xx: permission, quota, bad name - do not retry
                    raise FtpError(f"FTP site refused the upload of {name} to {folder}: {exc}") from exc
                except DROPPED as exc:
                    log.warning("upload of %s to %s dropped: %s", name, folder, exc)
                    reconnects, offset = self._resume_after_drop(tmp, total, reconnects, exc)
            source.seek(total)  # hash anything a resume skipped (a part file of an earlier run)
        if expect_sha256 is not None and source.hexdigest() != expect_sha256.lower():
            self.delete(tmp)
            raise FtpError(f"{local}: sha256 {source.hexdigest()} is not the expected {expect_sha256}")
        self.rename(tmp, final)
        log.info("uploaded %s to %s (%d bytes, %d reconnects)", name, folder, total, reconnects)
        return UploadResult(name=name, size=total, sha256=source.hexdigest(), reconnects=reconnects)

    def _resume_after_drop(
        self, tmp: str, total: int, reconnects: int, cause: BaseException
    ) -> tuple[int, int]:
        """Reconnect (backoff by tenacity, up to ``max_reconnects`` in all for the upload);
        returns (reconnects so far, the offset to resume from)."""
        remaining = self.max_reconnects - reconnects
        if remaining <= 0:
            raise FtpError(
                f"upload to {tmp} failed after {self.max_reconnects} reconnects: {cause}"
            ) from cause
        count = reconnects

        def reconnect() -> int:
            nonlocal count
            count += 1
            self._reconnect()
            return self._resume_offset(tmp, total)

        retrying = Retrying(
            stop=stop_after_attempt(remaining),
            wait=wait_exponential(multiplier=self.backoff, max=30),
            retry=retry_if_exception_type((FtpError, *DROPPED)),
            before_sleep=lambda state: log.warning(
                "reconnect %d to the FTP site failed: %s", count, state.outcome.exception()
            ),
        )
        try:
            offset = retrying(reconnect)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise FtpError(f"upload to {tmp} failed after {self.max_reconnects} reconnects: {last}") from last
        return count, offset

    def _resume_offset(self, tmp: str, total: int) -> int:
        offset = self.size(tmp) or 0
        if offset > total:  # not ours, or the local file changed: start over
            self.delete(tmp)
            return 0
        return offset


class _HashingReader:
    """A file reader that feeds a SHA-256 with every byte of the file exactly once, in order.

    Reading again after a seek backwards (a resume) hashes nothing twice; seeking forward
    hashes the skipped range first, so the digest always covers ``[0, high-water mark)``.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.hashed = 0

    def seek(self, offset: int) -> None:
        if offset > self.hashed:
            self.raw.seek(self.hashed)
            while self.hashed < offset:
                block = self.raw.read(min(CHUNK, offset - self.hashed))
                if not block:
                    break
                self.digest.update(block)
                self.hashed += len(block)
        self.raw.seek(offset)

    def tell(self) -> int:
        return self.raw.tell()

    def read(self, size: int = -1) -> bytes:
        position = self.raw.tell()
        block = self.raw.read(size)
        end = position + len(block)
        if end > self.hashed:
            skip = max(0, self.hashed - position)
            self.digest.update(memoryview(block)[skip:] if skip else block)
            self.hashed = end
        return block

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


def _close_quietly(ftp: ftplib.FTP) -> None:
    with contextlib.suppress(OSError):
        ftp.close()


__all__ = ["FtpSettings", "FtpsClient", "SessionReusingFTP_TLS", "UploadResult"]


def login_and_pwd(settings: FtpSettings) -> tuple[bool, str]:
    """The Test button: log in (AUTH TLS, PROT P first when TLS), ask ``PWD``, log out."""
    where = f"FTP site {settings.host}:{settings.port}" + (" (explicit TLS)" if settings.tls else " (plain)")
    try:
        with FtpsClient(settings=settings, max_reconnects=0) as client:
            cwd = client.ftp.pwd()
            cipher = client.ftp.sock.cipher()[0] if settings.tls else None  # type: ignore[union-attr]
    except FtpError as exc:
        return False, f"{where}: {exc}"
    except (*DROPPED, ftplib.Error) as exc:
        return False, f"{where}: {type(exc).__name__}: {exc}"
    return True, f"{where}: logged in as {settings.login!r}, PWD {cwd}" + (f", {cipher}" if cipher else "")
