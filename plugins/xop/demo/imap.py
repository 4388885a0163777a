"""A throwaway Dovecot IMAP server (Debian ``dovecot-imapd``) for the demo and the tests.

:class:`Dovecot` starts ``dovecot -F`` with its own configuration in a temporary directory:
one mailbox user, a maildir, IMAPS on one loopback port and IMAP with STARTTLS on another,
a self-signed certificate (:func:`xop.demo.peers.self_signed_cert`) that clients verify as
their CA. Plain-text login is refused. Messages are put in with IMAP APPEND, as a mail server
delivering them would leave them.
"""

from __future__ import annotations

import imaplib
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

from xop.demo.peers import free_port, self_signed_cert, wait_for_port

DOVECOT = "/usr/sbin/dovecot"


def _conf(d: Path, *, port: int, starttls_port: int, uid: int, gid: int, cert: Path, key: Path) -> str:
    root = os.getuid() == 0
    me = "dovenull" if root else os.environ.get("USER") or str(os.getuid())
    internal = "dovecot" if root else me
    return f"""
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = plain
default_internal_user = {internal}
default_login_user = {me}
first_valid_uid = 1
mail_location = maildir:{d}/mail/%n
mail_privileged_group =
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {starttls_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
"""


class Dovecot:
    """``with Dovecot() as imap:`` a running IMAP server with one user; stopped and wiped at exit."""

    def __init__(self, user: str = "support@xopnetworks.com", password: str | None = None) -> None:
        self.user = user
        self.password = password or secrets.token_urlsafe(12)
        self.port = free_port()
        self.starttls_port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="xop-dovecot-"))
        self._process: subprocess.Popen | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Dovecot:
        if not Path(DOVECOT).exists():
            raise RuntimeError(f"{DOVECOT} is missing: apt-get install dovecot-imapd")
        d = self.dir
        d.chmod(0o755)
        for sub in ("run", "state", "mail"):
            (d / sub).mkdir()
        uid, gid = (65534, 65534) if os.getuid() == 0 else (os.getuid(), os.getgid())
        os.chown(d / "mail", uid, gid)
        self.cert, key = self_signed_cert(d / "tls")
        (d / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        (d / "passwd").chmod(0o600)
        if os.getuid() == 0:  # the auth process runs as the internal user
            import pwd

            internal = pwd.getpwnam("dovecot")
            os.chown(d / "passwd", internal.pw_uid, internal.pw_gid)
        conf = d / "dovecot.conf"
        conf.write_text(
            _conf(
                d, port=self.port, starttls_port=self.starttls_port, uid=uid, gid=gid, cert=self.cert, key=key
            )
        )
        self._process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            wait_for_port(self.port)
            wait_for_port(self.starttls_port)
        except RuntimeError:
            self.__exit__()
            log = (d / "dovecot.log").read_text() if (d / "dovecot.log").exists() else ""
            raise RuntimeError(f"dovecot did not start: {log[-2000:]}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        p, self._process = self._process, None
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p is not None and p.stderr:
            p.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- for clients -------------------------------------------------------------------------

    def connection_json(self, *, security: str = "ssl") -> str:
        """``AIRFLOW_CONN_XOP_IMAP``: IMAPS (or STARTTLS), verifying the server with its own CA."""
        return json.dumps(
            {
                "conn_type": "imap",
                "host": "127.0.0.1",
                "port": self.port if security == "ssl" else self.starttls_port,
                "login": self.user,
                "password": self.password,
                "extra": {"security": security, "ca_file": str(self.cert), "timeout": 30},
            }
        )

    def client(self) -> imaplib.IMAP4_SSL:
        """A logged-in client (for putting mail in and looking at folders)."""
        c = imaplib.IMAP4_SSL(
            "127.0.0.1", self.port, ssl_context=ssl.create_default_context(cafile=str(self.cert)), timeout=30
        )
        c.login(self.user, self.password)
        return c

    def append(self, *messages: bytes, folder: str = "INBOX") -> None:
        c = self.client()
        try:
            if folder != "INBOX":
                c.create(f'"{folder}"')
            for raw in messages:
                typ, data = c.append(f'"{folder}"', None, imaplib.Time2Internaldate(time.time()), raw)
                if typ != "OK":
                    raise RuntimeError(f"APPEND refused: {data!r}")
        finally:
            c.logout()

    def count(self, folder: str = "INBOX") -> int:
        c = self.client()
        try:
            typ, data = c.status(f'"{folder}"', "(MESSAGES)")
            if typ != "OK":
                return 0
            return int(data[0].split(b"MESSAGES")[1].strip(b" ()"))
        finally:
            c.logout()

    def fetch_all(self, folder: str = "INBOX") -> list[bytes]:
        c = self.client()
        try:
            c.select(f'"{folder}"', readonly=True)
            _, data = c.uid("SEARCH", "ALL")
            uids = data[0].split()
            if not uids:
                return []
            _, data = c.uid("FETCH", b",".join(uids).decode(), "(BODY.PEEK[])")
            return [item[1] for item in data if isinstance(item, tuple)]
        finally:
            c.logout()
