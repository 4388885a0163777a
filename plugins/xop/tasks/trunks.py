"""Tasks of ``xop_trunk_check``: probe the trunks, then record the results and ticket failures.

Two tasks so that a retry of the bookkeeping never dials again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from xop.core.errors import ConfigError
from xop.core.formchoices import system_choices, trunk_choices
from xop.core.schedule import schedule_mismatch
from xop.tasks import metrics, runtime
from xop.tasks.forms import check_choice
from xop.trunks.credentials import connection_credentials
from xop.trunks.result import TrunkCheckResult
from xop.trunks.run import plan_checks, probe, record_and_ticket
from xop.trunks.tables import format_results

log = logging.getLogger(__name__)


def probe_trunks(
    *, system: str | None = None, trunk: str | None = None, now: str | None = None
) -> list[dict]:
    """Task 1: probe every selected trunk concurrently; log the table; return results for XCom."""
    checked_at = runtime.resolve_now(now)
    config = runtime.config()
    system, trunk = check_selection(config, system=system, trunk=trunk)
    if warning := schedule_mismatch("xop_trunk_check", config.schedules.trunk_check):
        log.warning(warning)
    plans = plan_checks(config, credentials=connection_credentials, system=system, trunk=trunk)
    log.info("checking %d trunks on %d systems", sum(len(p.sip) + len(p.pri) for p in plans), len(plans))
    results = probe(plans, checked_at=checked_at)
    log.info("trunk check results:\n%s", format_results(results))
    out = [result.to_dict() for result in results]
    metrics.after_trunk_checks(out)
    return out


def check_selection(config, *, system: str | None, trunk: str | None) -> tuple[str | None, str | None]:
    """The form's ``system`` and ``trunk`` (empty: all), each one the check covers; a wrong one
    fails the task for good, naming the valid ids (:func:`xop.tasks.forms.check_choice`)."""
    system = (system or "").strip() or None
    trunk = (trunk or "").strip() or None
    data = config.model_dump()  # the form's rule over the loaded configuration (no second read)
    if system:
        system = check_choice(
            "system",
            system,
            system_choices("trunk_check", data),
            what="a system the trunk check covers",
            why=_why_not_checked(config, system),
        )
    if trunk:
        trunk = check_choice(
            "trunk",
            trunk,
            trunk_choices(system, data),
            what=f"a trunk of {system!r}" if system else "a trunk of a monitored system",
        )
    return system, trunk


def _why_not_checked(config, system: str) -> str:
    # A configured system that is not offered: say which condition it misses.
    try:
        customer, spec = config.system(system)
    except ConfigError:
        return "not in the configuration"
    if not customer.monitoring:
        return f"customer {customer.id!r} has not consented to monitoring"
    return "it has no trunks or AMI spans to check" if not (spec.trunks or spec.ami) else ""


def record_and_ticket_task(results: Sequence[dict], *, now: str | None = None) -> dict[str, object]:
    """Task 2: tickets and the ``trunk_checks`` rows for the results of task 1."""
    parsed = [TrunkCheckResult.from_dict(item) for item in results]
    config = runtime.config()
    customers = {spec.id: customer.id for customer, spec in config.systems()}
    checked_at = parsed[0].checked_at if parsed else runtime.resolve_now(now)
    summary = record_and_ticket(
        runtime.ticket_db(), runtime.ticket_service(), parsed, customers=customers, now=checked_at
    )
    log.info(
        "recorded %d checks; failed trunks %s; tickets opened %s, noted %s, recovery noted %s",
        summary.checks,
        summary.failed_trunks,
        summary.opened,
        summary.noted,
        summary.recovered,
    )
    return summary.as_dict()
