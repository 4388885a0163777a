"""Fixtures of the emergency-call tests: SIPp bridges with an RTP sink, stopped after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emergency.bridge import Bridges
from tests.trunks.trunk_farends import SIPP


@pytest.fixture
def bridges(tmp_path) -> Iterator[Bridges]:
    if not Path(SIPP).exists():
        pytest.fail("sipp is not installed (Debian package sip-tester)")
    pool = Bridges(tmp_path / "sipp")
    try:
        yield pool
    finally:
        pool.stop_all()
