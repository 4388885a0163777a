"""Fixtures of the trunk tests: real SIPp far ends, a TLS terminator in front of SIPp, an AMI server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.trunks.trunk_farends import SIPP, SippPool, TlsCertificates, TlsTerminator, make_certificates


@pytest.fixture(scope="session")
def sipp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SippPool]:
    if not Path(SIPP).exists():
        pytest.fail("sipp is not installed (Debian package sip-tester)")
    pool = SippPool(tmp_path_factory.mktemp("sipp"))
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> TlsCertificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def tls_far_end(sipp: SippPool, tls_certs: TlsCertificates) -> Iterator[TlsTerminator]:
    backend = sipp.get("answer_echo.xml", "tcp")
    terminator = TlsTerminator(tls_certs, (backend.host, backend.port))
    try:
        yield terminator
    finally:
        terminator.close()
