"""The SLA policy of the configuration turned into calendars and clock targets."""

from __future__ import annotations

from functools import cache

import holidays as holidays_pkg

from xop.core.config import CalendarSpec, XopConfig
from xop.sla.calendar import BusinessCalendar, TwentyFourSeven

Calendar = BusinessCalendar | TwentyFourSeven


@cache
def business_calendar(spec: CalendarSpec) -> BusinessCalendar:
    """One calendar object per distinct spec: its interval table is built once per process."""
    holidays: object = spec.holidays
    if spec.holidays_country:
        # The package's object fills any year lazily; configured extra dates are added to it.
        holidays = holidays_pkg.country_holidays(spec.holidays_country)
        holidays.update(dict.fromkeys(spec.holidays, "configured"))
    return BusinessCalendar(
        timezone=spec.timezone,
        opens=spec.opens,
        closes=spec.closes,
        weekdays=spec.weekdays,
        holidays=holidays,
    )


def calendar(cfg: XopConfig, name: str) -> Calendar:
    """The calendar a clock names in the policy: ``business`` or ``24x7``."""
    return TwentyFourSeven() if name == "24x7" else business_calendar(cfg.calendar)


def clock_calendar_name(cfg: XopConfig, customer: str | None, clock: str) -> str:
    return cfg.sla_for(customer).clocks[clock].calendar


def breach_action(cfg: XopConfig, customer: str | None, clock: str) -> str:
    return cfg.sla_for(customer).clocks[clock].on_breach


def effective_urgency(cfg: XopConfig, customer: str | None, urgency: str | None, proposed: str | None) -> str:
    """The urgency a clock is measured with: classified, else proposed, else the policy default."""
    return urgency or proposed or cfg.sla_for(customer).default_urgency
