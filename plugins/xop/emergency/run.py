"""One run of the emergency caller: ring the bridge once for every new emergency.

:func:`ring_emergencies` is what the sweep DAG's ``ring_emergency_bridge`` task calls:

1. calls left ``calling`` by a process that died mid-attempt become ``interrupted`` (never rung
   again: the bridge may have heard them) and their follow-up email says the outcome is unknown;
2. every ``emergency`` ticket event without a row gets one, in its own committed transaction,
   before anything rings: ``skipped`` when it must not ring (outside the bridge's hours, too old,
   ticket no longer active, calling disabled for lack of a trunk), else ``waiting``, due now;
3. due calls are claimed one at a time (``waiting`` → ``calling``, committed), dialled with the
   announcement, and the attempt recorded (row + ``emergency_call_attempt`` event) right after it
   ends. A failed attempt (busy, no answer, 4xx/5xx, timeout, transport) waits ``retry_spacing_s``
   and is tried again, ``retries`` times; within this run when the wait fits in its budget, else
   in a later run. The last outcome is written with the follow-up email (``emergency_call``, to
   the emergency email's recipients) in one transaction.

Once per emergency, whatever reruns: the row's unique key (ticket, event) is taken before the
first ring, and each retry is claimed by a conditional update before it rings.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from xop.core.config import XopConfig
from xop.core.errors import ConfigError
from xop.core.specs.emergency import EmergencyCallSpec, HoursSpec
from xop.core.specs.trunks import TrunkSpec
from xop.core.vocabulary import ACTIVE_STATES
from xop.emergency import store
from xop.emergency.announcement import RenderedAudio, announcement_for, render_audio
from xop.emergency.followup import followup_emails
from xop.sla.calendar import BusinessCalendar, TwentyFourSeven
from xop.sla.policy import business_calendar
from xop.tickets.notices import enqueue_with_watchers

log = logging.getLogger(__name__)

#: A run stops starting attempts after this long (the sweep runs every 5 minutes, one at a time).
DEFAULT_BUDGET_SECONDS = 240.0
#: A call still ``calling`` this long after its claim was abandoned by a dead process.
STALE_AFTER = timedelta(minutes=20)
#: What an attempt may take besides ringing: the announcement and hang-up (estimate for the budget).
ATTEMPT_MARGIN_S = 15.0

#: ``dial(system, trunk, credentials, *, audio, payload_type, number, answer_timeout_s)`` → an
#: outcome with ``answered``, ``sip_code``, ``reason``, ``answered_at``, ``duration_s``, ``rtp_sent``,
#: ``rtp_received`` and ``error`` (:class:`xop.trunks.CallOutcome`). The task layer passes the trunk
#: check's SIP caller: features do not import each other (import-linter), so it is injected.
Dialer = Callable[..., Any]
#: ``credentials(conn_id)`` → the digest credentials of the trunk's Airflow connection.
CredentialReader = Callable[[str], Any]


@dataclass
class EmergencyCallStats:
    enabled: bool = True
    new: int = 0
    attempts: int = 0
    answered: int = 0
    failed: int = 0
    skipped: int = 0
    interrupted: int = 0
    waiting: int = 0
    emails: int = 0
    #: The run's clock when it ended (``now`` plus the time spent ringing): the follow-up emails
    #: are due from then, so the delivery after this run uses it as its ``now``.
    finished_at: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)


class _Clock:
    """``now`` of the run advanced by the real time elapsed since it started (replays stay consistent)."""

    def __init__(self, now: datetime) -> None:
        self.start = now
        self.t0 = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0)

    def elapsed(self) -> float:
        return time.monotonic() - self.t0


def bridge_hours(cfg: XopConfig, spec: EmergencyCallSpec) -> BusinessCalendar | TwentyFourSeven:
    if spec.hours == "24x7":
        return TwentyFourSeven()
    if spec.hours == "business":
        return business_calendar(cfg.calendar)
    assert isinstance(spec.hours, HoursSpec)
    return BusinessCalendar(
        timezone=spec.hours.timezone,
        opens=spec.hours.opens,
        closes=spec.hours.closes,
        weekdays=spec.hours.weekdays,
        holidays_country=spec.hours.holidays_country,
    )


def describe_hours(cfg: XopConfig, spec: EmergencyCallSpec) -> str:
    if spec.hours == "24x7":
        return "at any time (24x7)"
    hours = cfg.calendar if spec.hours == "business" else spec.hours
    days = "Mon-Fri" if tuple(hours.weekdays) == (0, 1, 2, 3, 4) else _days(hours.weekdays)
    holidays = f", {hours.holidays_country} holidays off" if hours.holidays_country else ""
    return f"{days} {hours.opens}-{hours.closes} {hours.timezone}{holidays}"


def _days(weekdays: tuple[int, ...]) -> str:
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    return ",".join(names[d] for d in weekdays)


def resolve_trunk(cfg: XopConfig, spec: EmergencyCallSpec) -> tuple[str, TrunkSpec]:
    """(system, trunk) the bridge is called through; a trunk id names one under customers[].systems[]."""
    if isinstance(spec.trunk, TrunkSpec):
        return "xop-emergency", spec.trunk
    for _, system in cfg.systems():
        for trunk in system.trunks:
            if trunk.id == spec.trunk:
                if trunk.kind != "sip":
                    raise ConfigError(f"emergency_call.trunk: trunk {spec.trunk!r} is not a SIP trunk")
                return system.id, trunk
    raise ConfigError(f"emergency_call.trunk: no trunk with id {spec.trunk!r} under customers[].systems[]")


def ring_emergencies(
    engine: Engine,
    cfg: XopConfig,
    *,
    now: datetime,
    dial: Dialer,
    credentials: CredentialReader,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
) -> EmergencyCallStats:
    """Ring the bridge for every new or due emergency; returns what was done."""
    spec = cfg.emergency_call
    stats = EmergencyCallStats(enabled=spec.enabled, finished_at=now.isoformat())
    if not spec.enabled:
        return stats
    clock = _Clock(now)
    run = _Run(engine, cfg, spec, clock, stats, dial, credentials)
    run.reap_stale()
    run.admit_new()
    run.ring_due(budget_seconds)
    with engine.connect() as conn:
        stats.waiting = len([c for c in stats.calls if c["status"] == "waiting"])
        pending = store.next_due(conn)
    if pending is not None:
        log.info("emergency calls: next attempt due at %s", pending.isoformat())
    stats.finished_at = clock().isoformat()
    return stats


class _Run:
    def __init__(
        self,
        engine: Engine,
        cfg: XopConfig,
        spec: EmergencyCallSpec,
        clock: _Clock,
        stats: EmergencyCallStats,
        dial: Dialer,
        credentials: CredentialReader,
    ) -> None:
        self.engine, self.cfg, self.spec, self.clock, self.stats = engine, cfg, spec, clock, stats
        self.dial, self.credentials = dial, credentials
        self.hours = describe_hours(cfg, spec)
        self.audio: dict[int, RenderedAudio] = {}
        try:
            self.system, self.trunk = resolve_trunk(cfg, spec)
            self.trunk_error: str | None = None
        except ConfigError as exc:
            self.system, self.trunk, self.trunk_error = "", None, str(exc)

    # -- 1. calls abandoned by a dead process ---------------------------------------------------
    def reap_stale(self) -> None:
        with self.engine.begin() as conn:
            for call in store.stale_calls(conn, now=self.clock(), older_than=STALE_AFTER):
                reason = (
                    f"interrupted: the calling task stopped during attempt {call['attempt_count'] + 1}; "
                    "whether the bridge heard the announcement is unknown, and it is not rung again"
                )
                self._finish(conn, call, "interrupted", reason)

    # -- 2. new emergencies get their row before anything rings ---------------------------------
    def admit_new(self) -> None:
        with self.engine.connect() as conn:
            fresh = store.new_emergencies(conn)
        for emergency in fresh:
            now = self.clock()
            reason = self._skip_reason(emergency, now)
            trunk_id = self.trunk.id if self.trunk is not None else str(self.spec.trunk or "")
            with self.engine.begin() as conn:
                call_id = store.claim_new(
                    conn,
                    emergency,
                    status="skipped" if reason else "waiting",
                    reason=reason or "",
                    number=self.spec.number,
                    trunk=trunk_id,
                    now=now,
                )
                if call_id is None:
                    continue  # another run took it
                self.stats.new += 1
                if reason:
                    call = store.call_row(conn, call_id)
                    self._finish(conn, call, "skipped", reason)
                    log.info("emergency %s: not rung: %s", emergency["ticket"]["number"], reason)

    def _skip_reason(self, emergency: dict[str, Any], now: datetime) -> str | None:
        ticket = emergency["ticket"]
        if self.trunk_error:
            return f"not called: {self.trunk_error}"
        age = now - emergency["event_at"]
        if age > timedelta(minutes=self.spec.max_age_minutes):
            return (
                f"not called: the emergency is {age.total_seconds() / 60:.0f} minutes old "
                f"(emergency_call.max_age_minutes is {self.spec.max_age_minutes:g})"
            )
        if ticket["state"] not in ACTIVE_STATES:
            return f"not called: the ticket is already {ticket['state']}"
        if not bridge_hours(self.cfg, self.spec).is_open(now):
            return f"not called: outside the hours the bridge may ring ({self.hours})"
        return None

    # -- 3. attempts ------------------------------------------------------------------------------
    def ring_due(self, budget_seconds: float) -> None:
        while True:
            remaining = budget_seconds - self.clock.elapsed()
            if remaining < self.spec.ring_timeout_s + ATTEMPT_MARGIN_S:
                return  # leave the rest waiting for the next run
            with self.engine.begin() as conn:
                claimed = store.claim_due(conn, now=self.clock(), limit=1)
                if not claimed:
                    due = store.next_due(conn)
            if claimed:
                self._attempt(claimed[0])
                continue
            if due is None:
                return
            wait = (due - self.clock()).total_seconds()
            if wait > remaining - self.spec.ring_timeout_s - ATTEMPT_MARGIN_S:
                return  # the next attempt is a later run's
            time.sleep(max(0.0, wait))

    def _attempt(self, call_id: int) -> None:
        with self.engine.connect() as conn:
            call = store.call_row(conn, call_id)
            ticket = store.ticket_of(conn, call["ticket_id"])
            event = store.event_of(conn, call["event_id"])
        number = call["attempt_count"] + 1
        started_at = self.clock()
        try:
            if self.trunk is None:
                raise ConfigError(self.trunk_error or "emergency_call.trunk is not set")
            audio = self._audio_for(call, ticket, event)
            creds = self.credentials(self.trunk.conn_id) if self.trunk.conn_id else None
        except Exception as exc:  # no sound or no credentials: nothing can ring; say so, once
            log.exception("emergency %s: cannot place the call", ticket["number"])
            with self.engine.begin() as conn:
                self._finish(conn, call, "failed", f"not called: {exc}"[:500])
            return
        log.info("emergency %s: calling %s, attempt %d", ticket["number"], self.spec.number, number)
        real_start = datetime.now(started_at.tzinfo)
        outcome = self.dial(
            self.system,
            self.trunk,
            creds,
            audio=audio.payload,
            payload_type=audio.payload_type,
            number=self.spec.number,
            answer_timeout_s=self.spec.ring_timeout_s,
        )
        attempt = attempt_record(outcome, number=number, started_at=started_at, real_start=real_start)
        self.stats.attempts += 1
        last = number >= 1 + self.spec.retries
        retry_at = (
            None if outcome.answered or last else self.clock() + timedelta(seconds=self.spec.retry_spacing_s)
        )
        with self.engine.begin() as conn:
            call = store.record_attempt(conn, call, attempt, now=self.clock(), retry_at=retry_at)
            if outcome.answered:
                note = "" if outcome.error is None else f"; the announcement was not played ({outcome.error})"
                self._finish(conn, call, "answered", f"answered on attempt {number}{note}", answered=attempt)
            elif last:
                self._finish(
                    conn, call, "failed", f"not reached in {number} attempt(s); last: {attempt['reason']}"
                )
            else:
                self.stats.calls.append({"id": call["id"], "ticket": ticket["number"], "status": "waiting"})

    def _audio_for(
        self, call: dict[str, Any], ticket: dict[str, Any], event: dict[str, Any]
    ) -> RenderedAudio:
        if call["id"] not in self.audio:
            customer_name, system_name = _names(self.cfg, ticket)
            announcement = announcement_for(
                ticket, event["payload"] or {}, customer_name=customer_name, system_name=system_name
            )
            rendered = render_audio(self.spec, announcement)
            self.audio[call["id"]] = rendered
            if not call["audio"]:
                with self.engine.begin() as conn:
                    store.set_audio(conn, call["id"], rendered.describe())
                call["audio"] = rendered.describe()
        return self.audio[call["id"]]

    # -- the final outcome: row, event and follow-up email in one transaction --------------------
    def _finish(
        self, conn, call: dict[str, Any], status: str, reason: str, answered: dict | None = None
    ) -> None:
        now = self.clock()
        row = store.finish(conn, call, status=status, reason=reason, now=now, answered=answered)
        ticket = store.ticket_of(conn, call["ticket_id"])
        event = store.event_of(conn, call["event_id"])
        emails = followup_emails(self.cfg, row, ticket, event, hours=self.hours, now=now)
        # The ticket's watchers get the outcome too (i16), as they got the emergency email.
        self.stats.emails += enqueue_with_watchers(conn, self.cfg, emails)
        setattr(self.stats, status, getattr(self.stats, status) + 1)
        self.stats.calls.append(
            {"id": call["id"], "ticket": ticket["number"], "status": status, "reason": reason}
        )


def _names(cfg: XopConfig, ticket: dict[str, Any]) -> tuple[str | None, str | None]:
    customer_name = system_name = None
    for customer in cfg.customers:
        if customer.id == ticket.get("customer"):
            customer_name = customer.name
            for system in customer.systems:
                if system.id == ticket.get("system"):
                    system_name = system.name
    return customer_name, system_name


def attempt_record(
    outcome: Any, *, number: int, started_at: datetime, real_start: datetime
) -> dict[str, Any]:
    """One attempt as stored (row's ``attempts`` and the attempt event): JSON-safe values."""
    answered_at = None
    if outcome.answered_at is not None:  # on the run's clock, so replays with ``now`` stay consistent
        answered_at = started_at + (outcome.answered_at - real_start)
    reason = outcome.error or (f"{outcome.sip_code} {outcome.reason}".strip() if outcome.sip_code else "")
    return {
        "attempt": number,
        "started_at": started_at,
        "answered": outcome.answered,
        "answered_at": answered_at,
        "duration_s": round(outcome.duration_s, 3) if outcome.answered else None,
        "sip_code": outcome.sip_code,
        "reason": reason if not outcome.answered else f"{outcome.sip_code} {outcome.reason}".strip(),
        "rtp_sent": outcome.rtp_sent,
        "rtp_received": outcome.rtp_received,
        "error": outcome.error,
    }


__all__ = [
    "DEFAULT_BUDGET_SECONDS",
    "EmergencyCallStats",
    "attempt_record",
    "bridge_hours",
    "describe_hours",
    "resolve_trunk",
    "ring_emergencies",
]
