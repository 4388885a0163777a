"""Trunk dial checks: SIP OPTIONS probes, real test calls and PRI span status through AMI.

Public API (imported lazily, so that the DAG file can import :mod:`xop.trunks.schedule` at parse
time without pulling in SQLAlchemy, pydantic or asyncio)::

    TrunkSpec, AmiSpec, TlsSpec                   config models (``xop.core.specs.trunks``)
    TrunkCheckResult                              one check's outcome (``xop.trunks.result``)
    SipTarget, DigestCredentials                  what to call, with what (``xop.trunks.target``)
    place_call, place_call_async, CallOutcome     one real call (``xop.trunks.call``)
    probe_options, place_test_call,
    check_sip_trunks, run_sip_checks              the checks (``xop.trunks.options``, ``.testcall``, ``.sip``)
    check_pri_spans, read_pri_spans, SpanStatus   AMI ``PRIShowSpans`` (``xop.trunks.ami``)
    trunk_checks, record_results, format_results  storage and log table (``xop.trunks.tables``)
    plan_checks, probe, record_and_ticket         one DAG run (``xop.trunks.run``)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AmiError": "ami",
    "SpanStatus": "ami",
    "check_pri_spans": "ami",
    "evaluate_spans": "ami",
    "read_pri_spans": "ami",
    "TrunkCheckResult": "result",
    "CallOutcome": "call",
    "place_call": "call",
    "place_call_async": "call",
    "DigestCredentials": "target",
    "SipTarget": "target",
    "check_sip_trunks": "sip",
    "place_test_call": "testcall",
    "probe_options": "options",
    "run_sip_checks": "sip",
    "AmiSpec": "xop.core.specs.trunks",
    "TlsSpec": "xop.core.specs.trunks",
    "TrunkSpec": "xop.core.specs.trunks",
    "format_results": "tables",
    "record_results": "tables",
    "trunk_checks": "tables",
    "plan_checks": "run",
    "probe": "run",
    "record_and_ticket": "run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'xop.trunks' has no attribute {name!r}")
    return getattr(importlib.import_module(module if "." in module else f"xop.trunks.{module}"), name)
