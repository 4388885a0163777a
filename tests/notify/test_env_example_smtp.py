"""The SMTP line of ``.env.example`` (and the README's) sends: STARTTLS on a STARTTLS port, the
server's certificate verified, login over TLS. Its old form (implicit TLS on 587) could not."""

from __future__ import annotations

import re
import ssl
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.conftest import REPO
from xop.demo.peers import free_port, self_signed_cert
from xop.notify.smtp import MailServerUnavailable, SmtpTransport


def documented_lines() -> list[str]:
    """Every ``AIRFLOW_CONN_SMTP_DEFAULT=`` value in .env.example and the README for port 587."""
    lines = []
    for path in (REPO / ".env.example", REPO / "README.md"):
        lines += re.findall(r"^AIRFLOW_CONN_SMTP_DEFAULT=(\S+:587\S*)$", path.read_text(), flags=re.M)
    return lines


class Relay:
    """aiosmtpd requiring STARTTLS before AUTH and mail, with a certificate for localhost."""

    def __init__(self, tmp_path) -> None:
        self.cert, key = self_signed_cert(tmp_path / "smtp-tls")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.port = free_port()
        self.received: list[tuple[bool, str, bytes]] = []
        self.logins: list[tuple[str, str]] = []
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            auth_require_tls=True,
            authenticator=self._authenticate,
        )

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append((session.ssl is not None, envelope.mail_from, envelope.content))
        return "250 OK"


@pytest.fixture
def relay(tmp_path):
    r = Relay(tmp_path)
    r.controller.start()
    yield r
    r.controller.stop()


def message() -> bytes:
    msg = EmailMessage()
    msg["From"] = "support@xopnetworks.com"
    msg["To"] = "carl@acme.example"
    msg["Subject"] = "STARTTLS check"
    msg.set_content("hello")
    return msg.as_bytes()


def point_at(line: str, port: int) -> str:
    return line.replace("smtp.example.com:587", f"localhost:{port}")


def test_the_documented_line_sends_over_starttls_with_the_certificate_verified(relay, monkeypatch):
    lines = documented_lines()
    assert len(lines) >= 2, lines  # .env.example and the README
    monkeypatch.setenv("SSL_CERT_FILE", str(relay.cert))  # the relay's CA, as the system's CAs
    for line in lines:
        assert "disable_ssl=true" in line
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", point_at(line, relay.port))
        with SmtpTransport("smtp_default") as smtp:
            smtp.send(message(), recipient="carl@acme.example", sender="support@xopnetworks.com")
    assert [(tls, sender) for tls, sender, _ in relay.received] == [(True, "support@xopnetworks.com")] * len(
        lines
    )
    assert relay.logins[0][0] == "support@xopnetworks.com"


def test_an_unknown_certificate_is_refused(relay, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)  # the system CAs do not know the relay's
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", point_at(documented_lines()[0], relay.port))
    with pytest.raises(MailServerUnavailable, match="CERTIFICATE_VERIFY_FAILED"), SmtpTransport() as smtp:
        smtp.send(message(), recipient="carl@acme.example", sender="support@xopnetworks.com")
    assert relay.received == [] and relay.logins == []


def test_the_old_line_could_not_send(relay, monkeypatch):
    old = point_at(documented_lines()[0], relay.port).replace("disable_ssl=true&", "")
    monkeypatch.setenv("SSL_CERT_FILE", str(relay.cert))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", old)
    with pytest.raises(MailServerUnavailable), SmtpTransport() as smtp:
        smtp.send(message(), recipient="carl@acme.example", sender="support@xopnetworks.com")
    assert relay.received == []
