"""One trunk dial check run: select the trunks, probe them concurrently, record, ticket.

Called by :mod:`xop.tasks.trunks` in two tasks so that a retry of the bookkeeping never
dials again: :func:`probe` (results go through XCom) and :func:`record_and_ticket`.
A failed trunk opens one critical monitoring ticket for its system (``dedup_key``
``trunk:<trunk id>``); while that ticket is active, further failures add a note to it; the
first success after a failure adds a recovery note. Tickets are never closed here: a person
does that.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, and_, case, func, or_, select

from xop.core.errors import ConfigError, TicketError
from xop.core.specs.trunks import AmiSpec, TrunkSpec
from xop.tickets.model import Actor
from xop.trunks.ami import check_pri_spans
from xop.trunks.result import TrunkCheckResult
from xop.trunks.sip import check_sip_trunks
from xop.trunks.tables import record_results, trunk_checks
from xop.trunks.target import DigestCredentials, SipTarget
from xop.trunks.ticketing import (
    degraded_text,
    format_trend,
    health,
    problem_text,
    recent_calls,
    recovery_text,
)

log = logging.getLogger(__name__)
TREND_CHECKS = 6  # previous test calls shown in a ticket's trend
CredentialGetter = Callable[[str], DigestCredentials]


@dataclass(frozen=True, slots=True)
class SystemPlan:
    """What to check on one monitored system, with credentials already read."""

    customer: str
    system: str
    sip: tuple[SipTarget, ...]
    pri: tuple[TrunkSpec, ...]
    ami: AmiSpec | None
    ami_credentials: DigestCredentials | None

    @property
    def reads_ami(self) -> bool:
        return self.ami is not None and bool(self.pri or self.ami.spans)


def dedup_key(trunk: str) -> str:
    """The monitoring key of a trunk's ticket (the lead's convention ``trunk:<trunk id>``)."""
    return f"trunk:{trunk}"


def _check_unique_trunk_ids(config) -> None:
    # Ticket de-duplication keys on the trunk id alone, so it must be unique across systems.
    seen: dict[str, str] = {}
    for _, spec in config.systems():
        for trunk in spec.trunks:
            if trunk.id in seen and seen[trunk.id] != spec.id:
                raise ConfigError(
                    f"trunk id {trunk.id!r} is used by systems {seen[trunk.id]!r} and {spec.id!r}: "
                    "trunk ids must be unique (they key the monitoring tickets)"
                )
            seen[trunk.id] = spec.id


def plan_checks(
    config,
    *,
    credentials: CredentialGetter,
    system: str | None = None,
    trunk: str | None = None,
) -> list[SystemPlan]:
    """The systems (with monitoring consent) and trunks to check, optionally narrowed by params.

    ``config`` is an :class:`xop.core.config.XopConfig`. Naming a system whose customer did not consent,
    or a system/trunk that does not exist, is a :class:`ConfigError`.
    """
    _check_unique_trunk_ids(config)
    if system:
        customer, _ = config.system(system)  # raises ConfigError for an unknown system
        if not customer.monitoring:
            raise ConfigError(f"system {system!r}: customer {customer.id!r} has not consented to monitoring")
    plans: list[SystemPlan] = []
    for customer, spec in config.systems(monitored_only=True):
        if system and spec.id != system:
            continue
        trunks = [t for t in spec.trunks if not trunk or t.id == trunk]
        include_ami_spans = not trunk  # a single-trunk run reads only that trunk's span
        if not trunks and not (include_ami_spans and spec.ami and spec.ami.spans):
            continue
        pri = tuple(t for t in trunks if t.kind == "pri")
        if pri and spec.ami is None:
            raise ConfigError(f"system {spec.id!r}: PRI trunks {[t.id for t in pri]} need an 'ami' section")
        ami = spec.ami
        if ami is not None and not include_ami_spans:
            ami = ami.model_copy(update={"spans": []})
        sip = tuple(
            SipTarget(spec.id, t, credentials(t.conn_id) if t.conn_id else None)
            for t in trunks
            if t.kind == "sip"
        )
        plan = SystemPlan(customer.id, spec.id, sip, pri, ami, None)
        if plan.reads_ami and ami is not None:
            plan = SystemPlan(customer.id, spec.id, sip, pri, ami, credentials(ami.conn_id))
        plans.append(plan)
    if trunk and not plans:
        raise ConfigError(
            f"trunk {trunk!r}: no such trunk on a monitored system{f' {system!r}' if system else ''}"
        )
    return plans


async def _probe(plans: Sequence[SystemPlan], checked_at: datetime) -> list[TrunkCheckResult]:
    sip_targets = [target for plan in plans for target in plan.sip]
    jobs = [check_sip_trunks(sip_targets, checked_at=checked_at)] if sip_targets else []
    for plan in plans:
        if plan.reads_ami and plan.ami is not None and plan.ami_credentials is not None:
            jobs.append(
                check_pri_spans(
                    system=plan.system,
                    ami=plan.ami,
                    trunks=plan.pri,
                    username=plan.ami_credentials.username,
                    secret=plan.ami_credentials.password,
                    checked_at=checked_at,
                )
            )
    batches = await asyncio.gather(*jobs)  # SIP and every AMI at once: none waits for another
    return [result for batch in batches for result in batch]


def probe(plans: Sequence[SystemPlan], *, checked_at: datetime) -> list[TrunkCheckResult]:
    return asyncio.run(_probe(plans, checked_at))


def previous_outcome(
    connection: Connection, keys: Sequence[tuple[str, str]], *, before: datetime
) -> dict[tuple[str, str], bool]:
    """Whether each (system, trunk) was healthy in its latest run before ``before``.

    Healthy: every check passed and no test call was degraded (so that a degraded trunk's
    return to good quality is noted as a recovery too).
    """
    if not keys:
        return {}
    trunks = sorted({trunk for _, trunk in keys})
    latest = (
        select(
            trunk_checks.c.system,
            trunk_checks.c.trunk,
            func.max(trunk_checks.c.checked_at).label("checked_at"),
        )
        .where(trunk_checks.c.trunk.in_(trunks), trunk_checks.c.checked_at < before)
        .group_by(trunk_checks.c.system, trunk_checks.c.trunk)
        .subquery()
    )
    degraded = trunk_checks.c.quality == "degraded"
    all_ok = func.min(
        case((and_(trunk_checks.c.ok, or_(trunk_checks.c.quality.is_(None), ~degraded)), 1), else_=0)
    )
    rows = connection.execute(
        select(trunk_checks.c.system, trunk_checks.c.trunk, all_ok.label("all_ok"))
        .join(
            latest,
            and_(
                trunk_checks.c.system == latest.c.system,
                trunk_checks.c.trunk == latest.c.trunk,
                trunk_checks.c.checked_at == latest.c.checked_at,
            ),
        )
        .group_by(trunk_checks.c.system, trunk_checks.c.trunk)
    )
    wanted = set(keys)
    return {(r.system, r.trunk): bool(r.all_ok) for r in rows if (r.system, r.trunk) in wanted}


@dataclass(frozen=True, slots=True)
class RunSummary:
    checks: int
    failed_trunks: list[str]
    opened: list[str]
    noted: list[str]
    recovered: list[str]
    degraded_trunks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "checks": self.checks,
            "failed_trunks": self.failed_trunks,
            "degraded_trunks": self.degraded_trunks,
            "opened": self.opened,
            "noted": self.noted,
            "recovered": self.recovered,
        }


def record_and_ticket(
    engine: Engine,
    service,
    results: Sequence[TrunkCheckResult],
    *,
    customers: Mapping[str, str],
    now: datetime,
    trend: int = TREND_CHECKS,
) -> RunSummary:
    """Open or note tickets for failed and degraded trunks, note recoveries, then write every row.

    ``service`` is an :class:`xop.tickets.TicketService`; ``customers`` maps system → customer.
    A failed trunk's ticket is critical, a degraded one's major (:mod:`xop.trunks.ticketing`);
    when a trunk with an open major ticket fails, the ticket is raised to critical. Each ticket
    text carries the figures and the trend of the last ``trend`` test calls.
    """
    by_trunk: dict[tuple[str, str], list[TrunkCheckResult]] = defaultdict(list)
    for result in results:
        by_trunk[(result.system, result.trunk)].append(result)
    with engine.connect() as conn:
        before = previous_outcome(
            conn, list(by_trunk), before=min((r.checked_at for r in results), default=now)
        )
    ticket_numbers: dict[tuple[str, str], str] = {}
    opened, noted, recovered, failed_trunks, degraded_trunks = [], [], [], [], []
    for (system, trunk), checks in sorted(by_trunk.items()):
        key = dedup_key(trunk)
        state = health(checks)
        if state != "ok":
            (failed_trunks if state == "failed" else degraded_trunks).append(f"{system}/{trunk}")
            with engine.connect() as conn:
                history = recent_calls(conn, system, trunk, before=checks[0].checked_at, limit=trend)
            text = problem_text if state == "failed" else degraded_text
            subject, description = text(system, trunk, checks, now, format_trend(history, checks))
            urgency = "critical" if state == "failed" else "major"
            ticket, created = service.report_problem(
                dedup_key=key,
                customer=customers[system],
                system=system,
                subject=subject,
                description=description,
                urgency=urgency,
                now=now,
            )
            if not created and urgency == "critical" and getattr(ticket, "urgency", "critical") != "critical":
                ticket = _raise_to_critical(service, ticket, trunk, now)
            ticket_numbers[(system, trunk)] = ticket.number
            (opened if created else noted).append(ticket.number)
        elif before.get((system, trunk)) is False:
            ticket = service.report_recovery(dedup_key=key, body=recovery_text(trunk, checks, now), now=now)
            if ticket is not None:
                ticket_numbers[(system, trunk)] = ticket.number
                recovered.append(ticket.number)
    with engine.begin() as conn:
        record_results(conn, results, ticket_numbers=ticket_numbers)
    return RunSummary(len(results), failed_trunks, opened, noted, recovered, degraded_trunks)


def _raise_to_critical(service, ticket, trunk: str, now: datetime):
    """A trunk whose quality ticket (major) now fails outright: service affecting, so critical."""
    try:
        return service.classify(
            ticket.number,
            urgency="critical",
            actor=Actor.monitoring(),
            now=now,
            reason=f"trunk {trunk} now fails its dial check (service affecting)",
        )
    except TicketError as exc:  # the ticket rules may leave this to a person: the note stands
        log.warning("trunk %s: could not raise %s to critical: %s", trunk, ticket.number, exc)
        return ticket


__all__ = [
    "RunSummary",
    "SystemPlan",
    "dedup_key",
    "plan_checks",
    "previous_outcome",
    "probe",
    "record_and_ticket",
]
