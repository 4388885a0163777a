"""SmtpTransport against a real SMTP server, configured the production way (Airflow connection)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from xop.core.errors import ConfigError, PermanentMailError, TransientMailError
from xop.notify.mime import build_message, make_message_id, message_bytes
from xop.notify.smtp import MailServerUnavailable, SmtpTransport

NOW = datetime(2026, 7, 6, 14, 5, tzinfo=UTC)
SENDER = "XOP Networks Support <support@xopnetworks.com>"


def _raw(key: str, recipient: str = "ann@acme.example") -> tuple[str, bytes]:
    message_id = make_message_id(key)
    msg = build_message(
        sender=SENDER,
        recipient=recipient,
        subject=f"test {key}",
        text=f"body of {key}\n.\nA line with a lone dot above.\n",
        html=f"<p>{key}</p>",
        message_id=message_id,
        date=NOW,
    )
    return message_id, message_bytes(msg)


def test_sends_the_stored_bytes_unchanged_through_smtp_default(smtp_connection) -> None:
    handler = smtp_connection.handler
    message_id, raw = _raw("a")
    with SmtpTransport() as smtp:
        smtp.send(raw, recipient="ann@acme.example", sender="support@xopnetworks.com")
    assert handler.received[message_id] == 1
    assert handler.envelopes == [("support@xopnetworks.com", ["ann@acme.example"], message_id)]
    # dot-stuffing and line ends survive the trip: the server holds exactly what was stored
    assert handler.contents[message_id].rstrip(b"\r\n") == raw.rstrip(b"\r\n")


def test_connection_in_uri_form_and_from_email_as_envelope_sender(monkeypatch, smtp_server) -> None:
    uri = (
        f"smtp://{smtp_server.host}:{smtp_server.port}/?disable_ssl=true&disable_tls=true"
        f"&from_email={quote('bounces@xopnetworks.com')}"
    )
    monkeypatch.setenv("AIRFLOW_CONN_XOP_SMTP_URI", uri)
    message_id, raw = _raw("uri")
    with SmtpTransport("xop_smtp_uri") as smtp:
        smtp.send(raw, recipient="ann@acme.example", sender="support@xopnetworks.com")
    assert smtp_server.handler.envelopes == [("bounces@xopnetworks.com", ["ann@acme.example"], message_id)]


def test_one_session_for_many_messages(smtp_connection) -> None:
    with SmtpTransport() as smtp:
        for i in range(20):
            smtp.send(_raw(f"m{i}")[1], recipient="ann@acme.example", sender="support@xopnetworks.com")
        assert smtp.sessions_opened == 1
    assert smtp_connection.handler.sessions == 1
    assert smtp_connection.handler.total == 20


def test_550_recipient_is_permanent_and_the_session_stays_usable(smtp_connection) -> None:
    smtp_connection.handler.reject.add("nobody@acme.example")
    with SmtpTransport() as smtp:
        with pytest.raises(PermanentMailError, match="550"):
            smtp.send(_raw("x", "nobody@acme.example")[1], recipient="nobody@acme.example", sender=SENDER)
        smtp.send(_raw("y")[1], recipient="ann@acme.example", sender=SENDER)
        assert smtp.sessions_opened == 1


def test_451_is_transient(smtp_connection) -> None:
    smtp_connection.handler.data_451_rate = 1.0
    with SmtpTransport() as smtp, pytest.raises(TransientMailError, match="451") as caught:
        smtp.send(_raw("x")[1], recipient="ann@acme.example", sender=SENDER)
    assert not isinstance(caught.value, PermanentMailError)


def test_drop_in_data_is_transient_and_the_next_send_reconnects(smtp_connection) -> None:
    handler = smtp_connection.handler
    handler.drop_rate = 1.0
    with SmtpTransport() as smtp:
        with pytest.raises(TransientMailError, match=r"dropped|closed"):
            smtp.send(_raw("x")[1], recipient="ann@acme.example", sender=SENDER)
        handler.drop_rate = 0.0
        message_id, raw = _raw("x")
        smtp.send(raw, recipient="ann@acme.example", sender=SENDER)
        assert smtp.sessions_opened == 2
    assert handler.received == {message_id: 1}


def test_refused_connection_is_server_unavailable(idle_smtp_server, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", idle_smtp_server.connection_json())
    with SmtpTransport() as smtp, pytest.raises(MailServerUnavailable, match="ConnectionRefused"):
        smtp.send(_raw("x")[1], recipient="ann@acme.example", sender=SENDER)
    assert issubclass(MailServerUnavailable, TransientMailError)


def test_missing_connection_is_a_config_error(monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_XOP_NO_SUCH_SMTP", raising=False)
    with pytest.raises(ConfigError, match="xop_no_such_smtp"):
        SmtpTransport("xop_no_such_smtp").send(b"x", recipient="a@b.example", sender=SENDER)


@pytest.fixture
def hang_up_server() -> Iterator[tuple[int, list[int]]]:
    """A TCP server that accepts and immediately closes: smtplib sees SMTPServerDisconnected."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    accepted: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    stop.set()
    thread.join()
    listener.close()


def test_the_hook_itself_does_not_retry(hang_up_server, monkeypatch) -> None:
    """The provider hook would retry a hang-up 5 times by default; ours tries once."""
    port, accepted = hang_up_server
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_DEFAULT",
        f'{{"conn_type": "smtp", "host": "127.0.0.1", "port": {port},'
        ' "extra": {"disable_ssl": true, "disable_tls": true, "timeout": 5}}',
    )
    with pytest.raises(MailServerUnavailable):
        SmtpTransport().send(b"x", recipient="a@b.example", sender=SENDER)
    assert len(accepted) == 1


def test_for_server_without_an_airflow_connection(smtp_server) -> None:
    message_id, raw = _raw("direct")
    with SmtpTransport.for_server(smtp_server.host, smtp_server.port) as smtp:
        smtp.send(raw, recipient="ann@acme.example", sender="support@xopnetworks.com")
    assert smtp_server.handler.received[message_id] == 1
