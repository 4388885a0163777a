"""Fixtures of the connection tests: the real peers of the publication and trunk tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.connections.password_postgres import PasswordPostgres
from tests.publish.conftest import tls_cert, vsftpd  # noqa: F401  (real vsftpd, Debian defaults)
from tests.trunks.ami_server import AmiServer
from tests.trunks.conftest import sipp  # noqa: F401  (SIPp far ends)


@pytest.fixture
def ami_server() -> Iterator[AmiServer]:
    server = AmiServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def password_postgres() -> Iterator[PasswordPostgres]:
    server = PasswordPostgres().start()
    try:
        yield server
    finally:
        server.stop()
