"""The pipeline's configuration: YAML data validated with pydantic.

The file is ``include/config/xop.yaml`` unless the environment variable ``XOP_CONFIG`` names
another. A file may start with ``extends: other.yaml`` (relative to itself): the other file is
loaded first and this one is deep-merged over it (mappings merge, lists and scalars replace).
That is how the demo config adds a customer to the shipped defaults without copying them.

Errors name the field to fix and show the bad value, e.g.
``customers[0].systems[1].trunks[0].port: Input should be a valid integer (got 'abc')``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

# The files are found and read (extends chain merged) by config_files; this module validates.
from xop.core.config_files import DEFAULT_CONFIG, config_path  # noqa: F401 - re-exported
from xop.core.config_files import read_yaml as _read_yaml
from xop.core.errors import ConfigError
from xop.core.specs.api import ApiSpec
from xop.core.specs.audit import AuditSpec, CdrMapping, HealthProbeSpec, check_probe_names
from xop.core.specs.backup import BackupSpec, PublicationSpec
from xop.core.specs.common import TimeZoneName
from xop.core.specs.deadlines import DeadlinesSpec
from xop.core.specs.emergency import EmergencyCallSpec
from xop.core.specs.intake import IntakeSpec
from xop.core.specs.portal import PortalSpec
from xop.core.specs.reports import ReportsSpec
from xop.core.specs.safepaths import RemoteFolder
from xop.core.specs.staff import StaffSpec
from xop.core.specs.trunks import AmiSpec, TrunkSpec
from xop.core.vocabulary import CLOCK_NAMES, URGENCY_ORDER, ClockName, Urgency

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(_Strict):
    """One row of the escalation matrix (seed section 3)."""

    name: str
    email: EmailStr
    phone: str | None = None
    hours: str = "8 am – 6 pm Central, Mon–Fri"


class EscalationMatrix(_Strict):
    """Who owns a ticket at each level, and who is called in an emergency."""

    level2: Contact
    level3: Contact
    level4: Contact
    emergency: Contact

    def for_level(self, level: int) -> Contact:
        try:
            return {2: self.level2, 3: self.level3, 4: self.level4}[level]
        except KeyError:
            raise ConfigError(f"escalation: no contact for level {level!r} (levels 2-4 have one)") from None


_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class CalendarSpec(_Strict):
    """Support hours. ``holidays_country`` uses the ``holidays`` package; ``holidays`` adds dates."""

    timezone: TimeZoneName = "America/Chicago"
    opens: str = "08:00"
    closes: str = "18:00"
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    holidays_country: str | None = "US"
    holidays: tuple[date, ...] = ()

    @field_validator("opens", "closes")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _TIME.match(v):
            raise ValueError(f"must be HH:MM (24 h), got {v!r}")
        return v

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(d not in range(7) for d in v):
            raise ValueError(f"must be a non-empty list of 0 (Mon) .. 6 (Sun), got {list(v)!r}")
        return tuple(sorted(set(v)))

    @model_validator(mode="after")
    def _order(self) -> CalendarSpec:
        if self.opens >= self.closes:
            raise ValueError(f"opens ({self.opens}) must be before closes ({self.closes})")
        return self

    @property
    def day_seconds(self) -> int:
        """Length of one business day, in seconds (10 h for 08:00-18:00)."""
        oh, om = map(int, self.opens.split(":"))
        ch, cm = map(int, self.closes.split(":"))
        return (ch * 60 + cm - oh * 60 - om) * 60


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|h|d)\s*$")


def parse_target(text: str | int | float, *, day_seconds: int) -> int:
    """``"2h"``, ``"30m"``, ``"3d"`` → seconds. A day is one business day of the clock's calendar."""
    if isinstance(text, int | float):
        raise ValueError(f"give a unit: '{text}h' or '{text}d', got {text!r}")
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"must look like '2h', '30m' or '3d', got {text!r}")
    value, unit = float(m.group(1)), m.group(2)
    seconds = value * {"m": 60, "h": 3600, "d": day_seconds}[unit]
    if seconds <= 0:
        raise ValueError(f"must be positive, got {text!r}")
    return round(seconds)


class ClockPolicy(_Strict):
    """Targets of one SLA clock by urgency, its calendar and what a breach does."""

    targets: dict[Urgency, str]
    calendar: Literal["business", "24x7"] = "business"
    on_breach: Literal["escalate", "notify"] = "notify"

    @field_validator("targets")
    @classmethod
    def _all_urgencies(cls, v: dict[str, str]) -> dict[str, str]:
        missing = [u for u in URGENCY_ORDER if u not in v]
        if missing:
            raise ValueError(f"missing target for {', '.join(missing)}")
        for t in v.values():
            parse_target(t, day_seconds=36000)  # validates the syntax; real length per calendar
        return v


class SlaPolicy(_Strict):
    """The seed's SLA tables as data (README: SLA clocks)."""

    default_urgency: Urgency = "major"
    warn_at: tuple[float, ...] = (0.5, 0.75, 0.9)
    clocks: dict[ClockName, ClockPolicy]

    @field_validator("warn_at")
    @classmethod
    def _fractions(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < f < 1 for f in v):
            raise ValueError(f"warning fractions must be between 0 and 1 exclusive, got {list(v)!r}")
        return tuple(sorted(set(v)))

    @field_validator("clocks")
    @classmethod
    def _all_clocks(cls, v: dict[str, ClockPolicy]) -> dict[str, ClockPolicy]:
        missing = [c for c in CLOCK_NAMES if c not in v]
        if missing:
            raise ValueError(f"missing clock policy for {', '.join(missing)}")
        return v


class SystemSpec(_Strict):
    """One customer system XOP supports and (with consent) monitors."""

    id: Slug
    name: str
    db_conn_id: str | None = None
    trunks: tuple[TrunkSpec, ...] = ()
    ami: AmiSpec | None = None
    cdr: CdrMapping | None = None
    health_probes: tuple[HealthProbeSpec, ...] = ()
    backup: BackupSpec | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> SystemSpec:
        ids = [t.id for t in self.trunks]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate trunk id(s) {dupes}")
        check_probe_names(self.health_probes)
        return self


class ManagementContact(_Strict):
    name: str
    email: EmailStr


class CustomerSpec(_Strict):
    id: Slug
    name: str
    #: Seed section 2: health monitoring only with the customer's permission.
    monitoring: bool = False
    management_contacts: tuple[ManagementContact, ...] = ()
    ftp_folder: RemoteFolder | None = None  # validated like every config path (no '..')
    publication: PublicationSpec | None = None
    #: A customer-specific SLA (e.g. 24x7 critical clocks); the global policy otherwise.
    sla: SlaPolicy | None = None
    systems: tuple[SystemSpec, ...] = ()


class SupportSpec(_Strict):
    """Who the pipeline is, as an email sender and signature, and who gets internal mail."""

    name: str = "XOP Networks Support"
    email: EmailStr = "support@xopnetworks.com"
    phone: str | None = "972-590-0200, option 2"
    hours: str = "8 am – 6 pm Central, Mon–Fri"
    sender: str = "XOP Networks Support <support@xopnetworks.com>"
    internal_recipients: tuple[EmailStr, ...] = ("support@xopnetworks.com",)
    ticket_url: str = "https://myxop.com/tickets/{number}"

    @property
    def identity(self) -> dict[str, str | None]:
        """Name, email, phone and hours as every email's footer shows them."""
        return {"name": self.name, "email": str(self.email), "phone": self.phone, "hours": self.hours}

    @property
    def message_domain(self) -> str:
        """The domain of the Message-IDs the pipeline writes: the support address's."""
        return str(self.email).rsplit("@", 1)[1]


class Schedules(_Strict):
    """Local (America/Chicago) times of the monitoring DAGs."""

    trunk_check: tuple[str, ...] = ("09:00", "15:00")
    daily_audit: str = "04:00"


class XopConfig(_Strict):
    support: SupportSpec = SupportSpec()
    calendar: CalendarSpec = CalendarSpec()
    escalation: EscalationMatrix
    sla: SlaPolicy
    schedules: Schedules = Schedules()
    audit: AuditSpec | None = None
    reports: ReportsSpec = ReportsSpec()
    portal: PortalSpec = PortalSpec()
    emergency_call: EmergencyCallSpec = EmergencyCallSpec()
    intake: IntakeSpec = IntakeSpec()
    customers: tuple[CustomerSpec, ...] = ()
    staff: StaffSpec = StaffSpec()
    api: ApiSpec = ApiSpec()
    deadlines: DeadlinesSpec = DeadlinesSpec()

    @model_validator(mode="after")
    def _unique_ids(self) -> XopConfig:
        for label, ids in (
            ("customer", [c.id for c in self.customers]),
            ("system", [s.id for c in self.customers for s in c.systems]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {label} id(s) {dupes}")
        return self

    # -- look-ups ------------------------------------------------------------------------
    def customer(self, customer_id: str) -> CustomerSpec:
        for c in self.customers:
            if c.id == customer_id:
                return c
        raise ConfigError(f"customers: no customer with id {customer_id!r}")

    def systems(self, *, monitored_only: bool = False) -> Iterator[tuple[CustomerSpec, SystemSpec]]:
        """Every (customer, system); with ``monitored_only`` only those whose customer consented."""
        for c in self.customers:
            if monitored_only and not c.monitoring:
                continue
            for s in c.systems:
                yield c, s

    def system(self, system_id: str) -> tuple[CustomerSpec, SystemSpec]:
        for c, s in self.systems():
            if s.id == system_id:
                return c, s
        raise ConfigError(f"customers[].systems: no system with id {system_id!r}")

    def staff_level(self, username: str, roles: Iterable[str] = ()) -> int:
        return self.staff.level_of(username, roles)

    def sla_for(self, customer_id: str | None) -> SlaPolicy:
        if customer_id:
            for c in self.customers:
                if c.id == customer_id and c.sla is not None:
                    return c.sla
        return self.sla

    @cached_property
    def fingerprint(self) -> str:
        """Short hash of the SLA-relevant config: stored on clocks to detect policy edits."""
        import hashlib

        data = self.model_dump_json(include={"calendar", "sla"}) + "".join(
            c.sla.model_dump_json() for c in self.customers if c.sla
        )
        return hashlib.sha256(data.encode()).hexdigest()[:12]

    def target_seconds(self, customer_id: str | None, clock: str, urgency: str) -> int:
        """Target of ``clock`` for ``urgency`` in seconds of the clock's own calendar."""
        policy = self.sla_for(customer_id).clocks[clock]
        day = self.calendar.day_seconds if policy.calendar == "business" else 86400
        return parse_target(policy.targets[urgency], day_seconds=day)


# -- loading ---------------------------------------------------------------------------------


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ""
        for part in err["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        value = err.get("input")
        shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
        lines.append(f"  {loc or '<top>'}: {err['msg']}{shown}")
    return f"{path}: invalid configuration:\n" + "\n".join(lines)


def _stamps(files: tuple[Path, ...]) -> tuple[tuple[int, int], ...] | None:
    try:
        return tuple((f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    except FileNotFoundError:
        return None


#: path -> (files of its extends chain, their stamps, the config): an edit of any file of the
#: chain, the parent included, is seen by the next load.
_cache: dict[Path, tuple[tuple[Path, ...], tuple[tuple[int, int], ...], XopConfig]] = {}


def load_config(path: str | Path | None = None) -> XopConfig:
    """Load and validate the configuration; raises :class:`ConfigError` naming the bad field."""
    p = Path(path).resolve() if path else config_path()
    cached = _cache.get(p)
    if cached is not None and _stamps(cached[0]) == cached[1]:
        return cached[2]
    data, files = _read_yaml(p)
    stamps = _stamps(files)
    try:
        cfg = XopConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(p, exc)) from None
    if stamps is not None:
        _cache[p] = (files, stamps, cfg)
    return cfg
