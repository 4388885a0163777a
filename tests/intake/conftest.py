"""Fixtures of the mail intake tests: a real Dovecot (IMAPS, verified TLS) and the intake config.

One Dovecot per session on loopback ports with a throwaway maildir; every test starts with an
empty INBOX and no Processed folder. Messages go in with IMAP APPEND.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from xop.demo.imap import Dovecot

CONFIG = Path(__file__).with_name("data") / "config.yaml"
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # a Tuesday, 09:00 in Chicago


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    with Dovecot() as server:
        yield server


def _wipe(server: Dovecot) -> None:
    c = server.client()
    try:
        _, folders = c.list()
        for line in folders or []:
            name = line.decode().rsplit(' "/" ', 1)[-1].strip('"')
            _, data = c.select(f'"{name}"')
            if int(data[0]):
                c.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
                c.expunge()
            c.close()
            if name != "INBOX":
                c.delete(f'"{name}"')
    finally:
        c.logout()


@pytest.fixture
def mailbox(dovecot, monkeypatch) -> Iterator[Dovecot]:
    """The session's Dovecot, emptied, with ``xop_imap`` pointing at it (IMAPS)."""
    _wipe(dovecot)
    monkeypatch.setenv("AIRFLOW_CONN_XOP_IMAP", dovecot.connection_json())
    yield dovecot


@pytest.fixture
def intake_config(monkeypatch):
    from xop.core.config import load_config

    monkeypatch.setenv("XOP_CONFIG", str(CONFIG))
    return load_config(CONFIG)
