"""The support mailbox over IMAP: Airflow's IMAP provider hook, always over verified TLS.

:class:`MailboxHook` is the only code that reads the mailbox's Airflow connection (default
``xop_imap``, type ``imap``). Fields: host, port (993 for IMAPS, 143 for STARTTLS), login,
password. Extra (all optional)::

    {"security": "ssl",        # "ssl" = IMAPS (default); "starttls" = upgrade a 143 connection
     "ca_file": "/path.pem",   # CA bundle for the server certificate (else the system's)
     "timeout": 60}

The certificate and host name are always verified; there is no plain-text mode. The stock
``ImapHook`` logs in and offers attachment helpers; the intake needs UID SEARCH, UID FETCH
with ``BODY.PEEK[]`` and UID MOVE, which :class:`Mailbox` issues through the hook's client.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import ssl
from collections.abc import Iterable, Iterator
from typing import Any

from airflow.providers.imap.hooks.imap import ImapHook

from xop.core.errors import ConfigError, TransportError

DEFAULT_CONN_ID = "xop_imap"
_FETCH_ITEM = re.compile(rb"UID (\d+)")


class MailboxError(TransportError):
    """The IMAP server refused a command or the connection broke."""


class MailboxHook(ImapHook):
    """``ImapHook`` with certificate-verified IMAPS or STARTTLS, a CA file and a timeout."""

    def __init__(self, imap_conn_id: str = DEFAULT_CONN_ID) -> None:
        super().__init__(imap_conn_id=imap_conn_id)

    def _build_client(self, conn: Any) -> imaplib.IMAP4:
        extra = conn.extra_dejson
        security = str(extra.get("security", "ssl")).lower()
        if security not in ("ssl", "starttls"):
            raise ConfigError(
                f"Airflow connection {conn.conn_id!r}: extra 'security' must be 'ssl' or 'starttls', "
                f"got {security!r} (plain IMAP is not supported)"
            )
        if not conn.host:
            raise ConfigError(f"Airflow connection {conn.conn_id!r} has no host")
        ca_file = extra.get("ca_file")
        try:
            context = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"Airflow connection {conn.conn_id!r}: ca_file {ca_file!r}: {exc}") from exc
        timeout = float(extra.get("timeout", 60))
        try:
            if security == "ssl":
                return imaplib.IMAP4_SSL(conn.host, conn.port or 993, ssl_context=context, timeout=timeout)
            client = imaplib.IMAP4(conn.host, conn.port or 143, timeout=timeout)
            client.starttls(ssl_context=context)
            return client
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailboxError(f"IMAP server {conn.host}:{conn.port}: {exc}") from exc

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: log in over verified TLS and count the inbox."""
        try:
            with Mailbox(self.imap_conn_id) as box:
                return True, f"logged in over TLS; {len(box.uids())} message(s) in {box.folder}"
        except (ConfigError, MailboxError) as exc:
            return False, str(exc)

    def get_conn(self) -> MailboxHook:
        try:
            return super().get_conn()
        except imaplib.IMAP4.error as exc:
            client, self.mail_client = self.mail_client, None
            if client is not None:
                with contextlib.suppress(OSError, imaplib.IMAP4.error):
                    client.shutdown()
            raise MailboxError(f"IMAP login to connection {self.imap_conn_id!r} refused: {exc}") from exc


def _ok(reply: tuple[str, list[Any]], what: str) -> list[Any]:
    typ, data = reply
    if typ != "OK":
        text = b" ".join(d for d in data if isinstance(d, bytes)).decode("ascii", "replace")
        raise MailboxError(f"IMAP {what}: {typ} {text}")
    return data


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Mailbox:
    """One selected folder of the support mailbox: list, fetch (without marking read), move.

    Use as a context manager: ``with Mailbox(conn_id, "INBOX") as box: ...``.
    """

    def __init__(self, conn_id: str = DEFAULT_CONN_ID, folder: str = "INBOX") -> None:
        self.hook = MailboxHook(conn_id)
        self.folder = folder
        self.client: imaplib.IMAP4 | None = None
        self.can_move = False

    def __enter__(self) -> Mailbox:
        self.client = self.hook.get_conn().mail_client
        typ, data = self.client.capability()  # after login: the server lists MOVE, UIDPLUS now
        caps = (
            {c.upper() for c in b" ".join(data).decode("ascii", "replace").split()} if typ == "OK" else set()
        )
        self.can_move = "MOVE" in caps
        self._uidplus = "UIDPLUS" in caps
        _ok(self.client.select(_quote(self.folder)), f"SELECT {self.folder}")
        return self

    def __exit__(self, *exc: object) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        with contextlib.suppress(OSError, imaplib.IMAP4.error):  # already gone: nothing to close
            client.logout()

    def _uid(self, *args: str) -> list[Any]:
        assert self.client is not None, "use Mailbox as a context manager"
        try:
            return _ok(self.client.uid(*args), f"UID {args[0]}")
        except (OSError, imaplib.IMAP4.abort) as exc:
            raise MailboxError(f"IMAP UID {args[0]}: connection lost: {exc}") from exc

    def ensure_folder(self, name: str) -> None:
        assert self.client is not None
        typ, _ = self.client.create(_quote(name))  # NO when it exists: fine
        if typ != "OK":
            _ok(self.client.status(_quote(name), "(MESSAGES)"), f"CREATE {name}")

    def uids(self) -> list[int]:
        """UIDs of the messages in the folder (not marked deleted), oldest first."""
        data = self._uid("SEARCH", "UNDELETED")
        return sorted(int(x) for x in b" ".join(d for d in data if d).split())

    def still_here(self, uids: Iterable[int]) -> list[int]:
        """Those of ``uids`` still in the folder (another session may have moved some)."""
        uid_set = ",".join(map(str, uids))
        if not uid_set:
            return []
        self.client.noop()  # take in the other sessions' expunges
        data = self._uid("SEARCH", "UID", uid_set, "UNDELETED")
        return sorted(int(x) for x in b" ".join(d for d in data if d).split())

    def _retrying_gone(self, command: str, uids: list[int], *args: str) -> list[Any]:
        try:
            return self._uid(command, ",".join(map(str, uids)), *args)
        except MailboxError as exc:
            if "EXPUNGEISSUED" not in str(exc):
                raise
        remaining = self.still_here(uids)  # a parallel run moved some: act on the rest
        return self._uid(command, ",".join(map(str, remaining)), *args) if remaining else []

    def fetch(self, uids: Iterable[int]) -> Iterator[tuple[int, bytes]]:
        """``(uid, raw message)`` of each UID, with ``BODY.PEEK[]`` (the \\Seen flag is not set).

        UIDs that are gone meanwhile (moved by a parallel run) are skipped."""
        uids = list(uids)
        if not uids:
            return
        data = self._retrying_gone("FETCH", uids, "(UID BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2:
                m = _FETCH_ITEM.search(item[0])
                if m:
                    yield int(m.group(1)), item[1]

    def move(self, uids: Iterable[int], folder: str) -> None:
        """Move messages to ``folder`` (RFC 6851 MOVE, else COPY + \\Deleted + expunge)."""
        uids = list(uids)
        uid_set = ",".join(map(str, uids))
        if not uid_set:
            return
        if self.can_move:
            self._retrying_gone("MOVE", list(uids), _quote(folder))
            return
        self._uid("COPY", uid_set, _quote(folder))
        self._uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)")
        if self._uidplus:
            self._uid("EXPUNGE", uid_set)
        else:
            _ok(self.client.expunge(), "EXPUNGE")
