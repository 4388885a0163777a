"""What the daily audit reads and checks: typed settings embedded in the configuration.

* :class:`CdrMapping` names the table and columns of a system's call detail records.
* :data:`HealthProbeSpec` is one health probe, a union discriminated by ``kind``.
* :class:`AuditSpec` holds the run-wide settings (recipients, where reports go).

Severities follow the seed's classification (section 1, level 3):

=====================  ==========  ==========================================================
impact                 severity    seed's example
=====================  ==========  ==========================================================
``service_affecting``  critical    server failure, conferencing hardware malfunction
``needs_correction``   major       loss of replication: not service affecting, must be fixed
``complaint``          minor       incorrect time of day on the server
=====================  ==========  ==========================================================

Every probe has an ``impact`` for its main failure (a sensible default per kind) and may
override it; probes with several kinds of failure (database, listening ports, ClamAV) have a
field per kind. Nothing here reads a connection or touches the network.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from xop.core.specs.common import TimeZoneName
from xop.core.specs.safepaths import LocalPath

Severity = Literal["critical", "major", "minor"]
Impact = Literal["service_affecting", "needs_correction", "complaint"]

#: The seed's rule, as data: what a kind of problem is classified as.
SEVERITY_BY_IMPACT: dict[Impact, Severity] = {
    "service_affecting": "critical",
    "needs_correction": "major",
    "complaint": "minor",
}

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_PROBE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def severity_of(impact: Impact) -> Severity:
    """The seed's classification of a problem with the given impact."""
    return SEVERITY_BY_IMPACT[impact]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------
# Call detail records


class CdrMapping(_Strict):
    """Where a system keeps its call detail records, one row per call leg.

    The default is Asterisk's ``cdr`` table (``cdr_pgsql`` / ``cdr_odbc``): ``calldate`` is the
    start, ``duration`` the seconds from start to hang-up, ``billsec`` the seconds from answer
    to hang-up, ``disposition`` ``ANSWERED`` / ``NO ANSWER`` / ``BUSY`` / ``FAILED``, ``dst`` the
    number dialled (the conference bridge on a conferencing server). Tables with explicit
    ``answer`` and ``end`` timestamps (``cdr_adaptive_odbc``) map those instead of the second
    counts. Timestamp columns with a time zone need nothing more; a column without one holds
    UTC unless ``timezone`` names the zone of its wall-clock times (Asterisk's default back end
    writes local time: set ``timezone`` to the server's zone, e.g. ``America/Chicago``).
    """

    table: str = "cdr"
    schema_: str | None = Field(None, alias="schema", description="database schema of the table")
    start: str = Field("calldate", description="when the call leg started (timestamp)")
    end: str | None = Field(None, description="hang-up time (timestamp); else start + duration")
    duration: str | None = Field("duration", description="seconds from start to hang-up")
    answer: str | None = Field(None, description="answer time (timestamp); else end - billsec")
    billsec: str | None = Field("billsec", description="seconds from answer to hang-up")
    disposition: str = "disposition"
    answered_value: str = Field("ANSWERED", min_length=1, description="disposition of an answered call")
    conference: str | None = Field(
        "dst", description="conference (bridge) the leg joined; None: no conferences"
    )
    timezone: TimeZoneName | None = Field(
        None, description="zone of naive local timestamps (IANA name); None: the columns are UTC or zoned"
    )
    max_call_hours: float = Field(
        24,
        gt=0,
        le=24 * 7,
        description="longest call; how far before the day to look for calls crossing midnight",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator(
        "table", "schema_", "start", "end", "duration", "answer", "billsec", "disposition", "conference"
    )
    @classmethod
    def _plain_identifier(cls, value: str | None) -> str | None:
        if value is not None and not _IDENTIFIER.match(value):
            raise ValueError(
                f"{value!r} is not a plain SQL identifier (letters, digits, _; not starting with a digit)"
            )
        return value

    @model_validator(mode="after")
    def _end_and_answer_derivable(self) -> CdrMapping:
        if self.end is None and self.duration is None:
            raise ValueError("map either 'end' (hang-up timestamp) or 'duration' (seconds); both are None")
        if self.answer is None and self.billsec is None:
            raise ValueError("map either 'answer' (answer timestamp) or 'billsec' (seconds); both are None")
        return self


# --------------------------------------------------------------------------------------------
# Health probes


class _Probe(_Strict):
    """What every probe has: a name (unique per system), where it runs, a timeout."""

    name: str | None = Field(
        None, description="unique per system, names the ticket (system, probe); default: the kind"
    )
    ssh_conn_id: str | None = Field(
        None,
        min_length=1,
        description="Airflow SSH connection of the host to run on; None: the pipeline host",
    )
    timeout_s: float = Field(15, gt=0, le=3600)

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        if value is not None and not _PROBE_NAME.match(value):
            raise ValueError(f"probe name {value!r}: use lowercase letters, digits, '.', '_', '-' (max 64)")
        return value

    @property
    def probe_name(self) -> str:
        return self.name or self.kind  # type: ignore[attr-defined]


class TcpProbe(_Probe):
    """A TCP service accepts connections (from the probing host)."""

    kind: Literal["tcp"]
    host: str = Field(..., min_length=1)
    port: int = Field(..., ge=1, le=65535)
    impact: Impact = "service_affecting"


class HttpProbe(_Probe):
    """An HTTP(S) endpoint answers with the expected status (and text, if given)."""

    kind: Literal["http"]
    url: str = Field(..., pattern=r"^https?://", description="http:// or https:// URL")
    expect_status: int = Field(200, ge=100, le=599)
    expect_text: str | None = None
    verify_tls: bool = True
    impact: Impact = "service_affecting"


class DiskProbe(_Probe):
    """A filesystem is not too full. Each threshold is a used percentage; the worst wins."""

    kind: Literal["disk"]
    path: str = "/"
    minor_percent: float | None = Field(None, gt=0, le=100)
    major_percent: float | None = Field(85, gt=0, le=100)
    critical_percent: float | None = Field(95, gt=0, le=100)
    impact: Impact = Field("needs_correction", description="the filesystem could not be checked")

    @model_validator(mode="after")
    def _ordered(self) -> DiskProbe:
        given = [p for p in (self.minor_percent, self.major_percent, self.critical_percent) if p is not None]
        if not given:
            raise ValueError("set at least one of minor_percent, major_percent, critical_percent")
        if given != sorted(given):
            raise ValueError(
                "thresholds must rise minor <= major <= critical, got "
                f"{self.minor_percent!r}, {self.major_percent!r}, {self.critical_percent!r}"
            )
        return self


class DatabaseProbe(_Probe):
    """The system database answers; replication is in the expected state and not lagging.

    Runs from the pipeline host through the Airflow connection ``conn_id`` (PostgreSQL).
    ``role="primary"`` expects at least ``min_standbys`` streaming standbys; ``"standby"``
    expects to be in recovery with a running WAL receiver and replay lag under the limit.
    """

    kind: Literal["database"]
    conn_id: str = Field(..., min_length=1, description="Airflow connection of the system database")
    role: Literal["standalone", "primary", "standby"] = "standalone"
    min_standbys: int = Field(1, ge=0)
    max_lag_s: float = Field(300, gt=0)
    impact: Impact = Field("service_affecting", description="database unreachable")
    replication_impact: Impact = Field("needs_correction", description="replication lost or lagging")

    @model_validator(mode="after")
    def _local_only(self) -> DatabaseProbe:
        if self.ssh_conn_id is not None:
            raise ValueError(
                "a database probe runs from the pipeline host through conn_id; remove ssh_conn_id"
            )
        return self


class ClockProbe(_Probe):
    """The host's clock is within ``max_offset_s`` of an NTP server or the database clock."""

    kind: Literal["clock"]
    reference: Literal["ntp", "database"] = "ntp"
    ntp_server: str | None = Field(None, description="host or host:port (reference=ntp)")
    conn_id: str | None = Field(
        None, description="Airflow connection of a PostgreSQL database (reference=database)"
    )
    max_offset_s: float = Field(5, gt=0)
    time_command: tuple[str, ...] = Field(
        ("date", "+%s.%N"), min_length=1, description="prints the host's time as Unix seconds"
    )
    impact: Impact = "complaint"

    @model_validator(mode="after")
    def _reference_given(self) -> ClockProbe:
        if self.reference == "ntp" and not self.ntp_server:
            raise ValueError("reference 'ntp' needs ntp_server (host or host:port)")
        if self.reference == "database" and not self.conn_id:
            raise ValueError(
                "reference 'database' needs conn_id (Airflow connection of a PostgreSQL database)"
            )
        return self


class FailedLoginsProbe(_Probe):
    """Failed logins during the audited day stay under ``max_failures`` (intrusion attempts).

    ``source="journal"`` reads ``journalctl`` (``unit``), ``"auth_log"`` reads ``log_path``.
    Log lines in the classic syslog form carry no year or zone: they are read in ``log_timezone``.
    """

    kind: Literal["failed_logins"]
    source: Literal["journal", "auth_log"] = "auth_log"
    log_path: str = "/var/log/auth.log"
    unit: str = "ssh"
    log_timezone: TimeZoneName = "UTC"
    max_failures: int = Field(20, ge=0)
    impact: Impact = "needs_correction"


class ListeningPortsProbe(_Probe):
    """The host listens on the expected TCP ports and on nothing outside the baseline."""

    kind: Literal["listening_ports"]
    expected: tuple[int, ...] = Field(
        ..., description="ports that must listen (a missing one is a service down)"
    )
    allowed: tuple[int, ...] = Field((), description="ports that may listen")
    report_unexpected: bool = True
    impact: Impact = Field("service_affecting", description="an expected port is not listening")
    unexpected_impact: Impact = Field("needs_correction", description="a port outside the baseline listens")

    @field_validator("expected", "allowed")
    @classmethod
    def _ports(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        bad = [p for p in value if not 1 <= p <= 65535]
        if bad:
            raise ValueError(f"ports must be 1-65535, got {bad}")
        return tuple(sorted(set(value)))


class FileIntegrityProbe(_Probe):
    """Files still have the sha256 recorded in ``baseline_file`` (``sha256sum`` format).

    The baseline lives on the pipeline host; the files are hashed where the probe runs.
    """

    kind: Literal["file_integrity"]
    baseline_file: LocalPath
    impact: Impact = "needs_correction"


class ClamavProbe(_Probe):
    """A ClamAV scan of ``paths`` with fresh signatures.

    ClamAV absent, signatures missing or older than ``max_signature_age_days``, and a failing
    scan are findings, never crashes of the audit.
    """

    kind: Literal["clamav"]
    paths: tuple[str, ...] = Field(..., min_length=1)
    clamscan: str = "clamscan"
    database_dir: str | None = Field(None, description="signature directory; default: ClamAV's own")
    max_signature_age_days: float = Field(3, gt=0)
    impact: Impact = Field("service_affecting", description="infected files found")
    absent_impact: Impact = "complaint"
    signature_impact: Impact = "needs_correction"
    timeout_s: float = Field(600, gt=0, le=6 * 3600)


HealthProbeSpec = Annotated[
    TcpProbe
    | HttpProbe
    | DiskProbe
    | DatabaseProbe
    | ClockProbe
    | FailedLoginsProbe
    | ListeningPortsProbe
    | FileIntegrityProbe
    | ClamavProbe,
    Field(discriminator="kind"),
]
"""One health probe of a system; ``kind`` selects which."""

PROBE_KINDS: tuple[str, ...] = (
    "tcp",
    "http",
    "disk",
    "database",
    "clock",
    "failed_logins",
    "listening_ports",
    "file_integrity",
    "clamav",
)


def check_probe_names(probes: tuple[HealthProbeSpec, ...] | list[HealthProbeSpec]) -> None:
    """Raise ``ValueError`` when two probes of one system share a name (tickets key on it)."""
    names = [p.probe_name for p in probes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate probe name(s) {dupes}: give probes of the same kind distinct 'name's")


# --------------------------------------------------------------------------------------------
# The run


class AuditSpec(_Strict):
    """Run-wide settings of the daily audit.

    The schedule (local time) is in the config's ``schedules.daily_audit``; ``timezone`` is
    the zone whose calendar day is audited.
    """

    recipients: tuple[EmailStr, ...] = Field(
        (), description="who gets the report; empty: the support team's internal recipients"
    )
    timezone: TimeZoneName = "America/Chicago"
    report_dir: LocalPath = Field(
        Path("var/audit/reports"), description="where report files are kept (relative: to the repository)"
    )
    backup_dir: LocalPath = Field(
        Path("var/backups"),
        description="backup root when a system's backup has no directory (relative: repo)",
    )
    subject_prefix: str = "[XOP audit]"
    open_tickets: bool = Field(True, description="findings open monitoring tickets")
    reporter_name: str = "XOP daily audit"
    reporter_email: EmailStr = "support@xopnetworks.com"


__all__ = [
    "PROBE_KINDS",
    "SEVERITY_BY_IMPACT",
    "AuditSpec",
    "CdrMapping",
    "ClamavProbe",
    "ClockProbe",
    "DatabaseProbe",
    "DiskProbe",
    "FailedLoginsProbe",
    "FileIntegrityProbe",
    "HealthProbeSpec",
    "HttpProbe",
    "Impact",
    "ListeningPortsProbe",
    "Severity",
    "TcpProbe",
    "check_probe_names",
    "severity_of",
]
