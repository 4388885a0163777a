"""The one class that talks SMTP: it sends stored messages through the Airflow connection.

Production reads the Airflow connection ``smtp_default`` through the SMTP provider's
:class:`~airflow.providers.smtp.hooks.smtp.SmtpHook` (built by :mod:`xop.connections.smtp`),
which owns host, port, login, SSL/STARTTLS, timeout and the ``from_email`` extra. Two things we
do not take from the hook:

* ``send_email_smtp`` builds its own MIME message from ``html_content`` (it cannot send the
  prebuilt bytes the outbox stored, nor take a separate envelope recipient) and retries the
  whole send on any exception. We let ``get_conn()`` open and log in the session and call
  ``sendmail()`` once on the smtplib client it holds (``_smtp_client``: provider 3.2 has no
  public accessor).
* Its retry count: :func:`~xop.connections.smtp.make_hook` gives a hook that tries once. Retrying is the
  outbox's job (backoff, attempts, ``failed`` status); two layers would multiply the attempts.

smtplib's errors become :class:`~xop.core.errors.TransientMailError` (retry later: 4xx replies,
refused or dropped connections, timeouts) or :class:`~xop.core.errors.PermanentMailError`
(5xx: do not retry). :class:`MailServerUnavailable` (transient) means no session could be opened,
so no message was attempted.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
from types import TracebackType
from typing import TYPE_CHECKING

from xop.connections.smtp import DEFAULT_CONN_ID, hook_for_server, make_hook
from xop.core.errors import ConfigError, MailError, PermanentMailError, TransientMailError

if TYPE_CHECKING:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

log = logging.getLogger(__name__)


class MailServerUnavailable(TransientMailError):
    """No SMTP session could be opened (refused, timed out, greeting or login failed)."""


def _reply_error(code: int, reply: bytes | str, what: str) -> MailError:
    """An SMTP reply code as the right error: 4xx retry later, 5xx never; anything else, retry."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    message = f"{what}: {code} {text}".strip()
    if 500 <= code < 600:
        return PermanentMailError(message)
    return TransientMailError(message)


class SmtpTransport:
    """One SMTP session reused for many messages; reconnects after a drop.

    Use as a context manager (closes the session with QUIT) or call :meth:`close`.
    ``sessions_opened`` counts the sessions this transport opened.
    """

    def __init__(self, conn_id: str = DEFAULT_CONN_ID, *, hook: SmtpHook | None = None) -> None:
        self.conn_id = conn_id
        self._hook: SmtpHook = hook if hook is not None else make_hook(conn_id)
        self.sessions_opened = 0

    @classmethod
    def for_server(
        cls,
        host: str,
        port: int,
        *,
        timeout: int = 10,
        starttls: bool = False,
        ssl: bool = False,
        from_email: str | None = None,
    ) -> SmtpTransport:
        """A transport for ``host:port`` without an Airflow connection (tests, local runs).

        The same hook code reads the settings, from an in-memory Connection.
        """
        hook = hook_for_server(host, port, timeout=timeout, starttls=starttls, ssl=ssl, from_email=from_email)
        return cls(hook.smtp_conn_id, hook=hook)

    # -- session -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._hook._smtp_client is not None

    def _where(self) -> str:
        connection = self._hook.smtp_connection
        if connection is None:
            return f"connection {self.conn_id!r}"
        return f"{connection.host}:{connection.port} (connection {self.conn_id!r})"

    def _client(self) -> smtplib.SMTP:
        if self._hook._smtp_client is None:
            from airflow.providers.common.compat.sdk import AirflowException

            try:
                self._hook.get_conn()
            except AirflowException as exc:
                self._discard()
                if self._hook.smtp_connection is None:
                    raise ConfigError(
                        f"Airflow connection {self.conn_id!r} is not defined: add it (UI, CLI or "
                        f"AIRFLOW_CONN_{self.conn_id.upper()})"
                    ) from exc
                raise MailServerUnavailable(
                    f"cannot open an SMTP session with {self._where()}: {exc}"
                ) from exc
            except (smtplib.SMTPException, OSError) as exc:
                self._discard()
                raise MailServerUnavailable(
                    f"cannot open an SMTP session with {self._where()}: {type(exc).__name__}: {exc}"
                ) from exc
            self.sessions_opened += 1
        return self._hook._smtp_client  # type: ignore[return-value]

    def _discard(self) -> None:
        """Forget a session that is broken or in an unknown state (the next send reconnects)."""
        client = self._hook._smtp_client
        self._hook._smtp_client = None
        if client is not None:
            with contextlib.suppress(OSError):
                client.close()

    def close(self) -> None:
        """End the session politely (QUIT), or just drop it if the server is already gone."""
        client = self._hook._smtp_client
        if client is None:
            return
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            self._discard()

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- sending -------------------------------------------------------------------------

    @property
    def envelope_sender(self) -> str | None:
        """The connection's ``from_email`` extra, if set: the envelope (bounce) address to use."""
        if self._hook.smtp_connection is None:
            return None
        return self._hook.from_email

    def send(self, message: bytes, *, recipient: str, sender: str) -> None:
        """Send the stored message bytes, unchanged, to one envelope recipient.

        ``sender`` is the envelope sender (MAIL FROM) unless the connection sets ``from_email``.
        Returns once the server answered 250 to the data; raises a :class:`MailError` otherwise.
        """
        client = self._client()
        mail_from = self.envelope_sender or sender
        try:
            client.sendmail(mail_from, [recipient], message)
        except UnicodeEncodeError as exc:
            # smtplib speaks ASCII commands: a non-ASCII address can never be sent this way.
            raise PermanentMailError(f"address not ASCII: {mail_from!r} -> {recipient!r}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = exc.recipients.get(recipient, (451, b"recipient refused"))
            raise _reply_error(code, reply, f"RCPT TO <{recipient}> refused") from exc
        except smtplib.SMTPServerDisconnected as exc:
            self._discard()
            raise TransientMailError(f"connection to {self._where()} dropped: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            # SMTPSenderRefused, SMTPDataError, or any other reply. smtplib has already sent RSET,
            # except after 421 (the server is closing the session).
            if exc.smtp_code == 421:
                self._discard()
            raise _reply_error(exc.smtp_code, exc.smtp_error, type(exc).__name__) from exc
        except (smtplib.SMTPException, OSError) as exc:
            # Timeouts, resets, protocol confusion: the session state is unknown.
            self._discard()
            raise TransientMailError(
                f"sending via {self._where()} failed: {type(exc).__name__}: {exc}"
            ) from exc
