"""Task body of the sweep DAG's ``ring_emergency_bridge`` task (the DAG file only wires it)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from xop.emergency.run import ring_emergencies
from xop.tasks import runtime
from xop.trunks import SipTarget, place_call
from xop.trunks.credentials import connection_credentials

log = logging.getLogger(__name__)


def dial_bridge(system: str, trunk: Any, credentials: Any, **call: Any) -> Any:
    """The emergency caller's dialer: the trunk check's SIP user agent (:func:`xop.trunks.place_call`)."""

    return place_call(SipTarget(system, trunk, credentials), credentials, **call)


def trunk_credentials(conn_id: str) -> Any:
    """Digest login and password of the trunk's Airflow connection."""

    return connection_credentials(conn_id)


def ring_emergency_bridge(now: str | None = None) -> dict[str, Any]:
    """Ring the emergency bridge once for every new emergency; returns the run's figures (XCom)."""

    stats = ring_emergencies(
        runtime.ticket_db(),
        runtime.config(),
        now=runtime.resolve_now(now),
        dial=dial_bridge,
        credentials=trunk_credentials,
    )
    if not stats.enabled:
        log.info("emergency calls: disabled (emergency_call.enabled is false)")
    else:
        log.info(
            "emergency calls: %d new, %d attempts, %d answered, %d failed, %d not rung, %d interrupted, "
            "%d waiting for a retry, %d follow-up emails",
            stats.new,
            stats.attempts,
            stats.answered,
            stats.failed,
            stats.skipped,
            stats.interrupted,
            stats.waiting,
            stats.emails,
        )
    out = asdict(stats)
    out["calls"] = out["calls"][:50]
    return out
