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

    def __init__(
        self,
        user: str = "support@xopnetworks.com",
        password: str | None = None,
        *,
        port: int | None = None,
        starttls_port: int | None = None,
    ) -> None:
        self.user = user
        self.password = password or secrets.token_urlsafe(12)
        self.port = port or free_port()
        self.starttls_port = starttls_port or free_port()
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


# -- the demo's support mailbox ---------------------------------------------------------------

#: Fixed loopback ports of the demo mailbox (IMAPS, and IMAP with STARTTLS).
DEMO_IMAPS_PORT, DEMO_STARTTLS_PORT = 18993, 18143
_demo: Dovecot | None = None


def demo_mailbox(stack, say=print) -> Dovecot:
    """Start the demo's support mailbox for the rest of ``stack``; ``xop_imap`` points at it."""
    global _demo
    _demo = stack.enter_context(Dovecot(port=DEMO_IMAPS_PORT, starttls_port=DEMO_STARTTLS_PORT))
    os.environ["AIRFLOW_CONN_XOP_IMAP"] = _demo.connection_json()
    say(f"             Dovecot 127.0.0.1:{DEMO_IMAPS_PORT} (IMAPS) is the support mailbox (xop_imap)")
    return _demo


def _demo_emails(ticket: str, ack: tuple[str, str] | None) -> list[tuple[str, bytes]]:
    from email.message import EmailMessage
    from email.policy import SMTP
    from email.utils import formatdate, make_msgid

    def mail(label: str, sender: str, subject: str, body: str, **headers: str) -> tuple[str, bytes]:
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = sender, "support@xopnetworks.com", subject
        m["Date"], m["Message-ID"] = formatdate(localtime=False), make_msgid(domain="demo-customer.example")
        for k, v in headers.items():
            m[k.replace("_", "-")] = v
        m.set_content(body)
        return label, m.as_bytes(policy=SMTP)

    pat = "Pat Operator <pat.operator@demo-customer.example>"
    out = [
        mail(
            "a new issue",
            pat,
            "[demo-conf1] Recordings of yesterday's conferences are missing",
            "Hello, none of yesterday's conference recordings show up in the portal.\nPat",
        ),
        mail(
            f"a reply to {ticket}",
            pat,
            f"RE: [{ticket}] Callers hear silence after entering the PIN",
            "It happened again at 9:14 on 5000, two callers.\n\n"
            "On Mon, XOP Networks Support <support@xopnetworks.com> wrote:\n> Your ticket has been opened.",
        ),
        mail(
            "an out-of-office reply",
            "Morgan Manager <morgan.manager@demo-customer.example>",
            f"Out of Office: [{ticket}] Ticket opened",
            "I am out of the office until Monday.",
            Auto_Submitted="auto-replied",
        ),
    ]
    if ack:
        out.append(("a bounce of one of our emails", _bounce(ack[0], ticket, ack[1])))
    return out


def _bounce(message_id: str, ticket: str, rcpt: str) -> bytes:
    """An RFC 3464 delivery report about our email ``message_id`` (as Postfix writes them)."""
    from email.utils import formatdate, make_msgid

    text = f"""From: Mail Delivery System <MAILER-DAEMON@mx.demo-customer.example>
To: support@xopnetworks.com
Subject: Undelivered Mail Returned to Sender
Date: {formatdate()}
Message-ID: {make_msgid(domain="mx.demo-customer.example")}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"

--dsn
Content-Type: text/plain; charset=us-ascii

Your message could not be delivered: the mailbox does not exist.

--dsn
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.demo-customer.example

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: User unknown

--dsn
Content-Type: text/rfc822-headers

Message-ID: {message_id}
Subject: [{ticket}] Ticket opened

--dsn--
"""
    return text.replace("\n", "\r\n").encode("ascii")


def drop_demo_mail(engine, say=print) -> None:
    """Put the demo's customer emails into the support mailbox: a new issue, a reply to the first
    demo ticket, an out-of-office and a bounce of that ticket's acknowledgement."""
    import sqlalchemy as sa

    from xop.notify.tables import notifications
    from xop.tickets.tables import tickets

    if _demo is None:
        return
    with engine.connect() as c:
        first = c.execute(sa.select(tickets.c.id, tickets.c.number).order_by(tickets.c.id).limit(1)).first()
        if first is None:
            return
        ack = c.execute(
            sa.select(notifications.c.message_id, notifications.c.recipient)
            .where(notifications.c.ticket_id == first.id, notifications.c.kind == "ticket_opened")
            .limit(1)
        ).first()
    emails = _demo_emails(first.number, tuple(ack) if ack else None)
    _demo.append(*(raw for _, raw in emails))
    say(f"   Customer emails in the support mailbox: {', '.join(label for label, _ in emails)}")
