"""Configuration models of the trunk checks: one :class:`TrunkSpec` per trunk, one :class:`AmiSpec`
per system with an Asterisk Manager Interface.

The lead's config loader embeds these under each system. Validation is strict (unknown keys are
refused) and every message names the field and shows the bad value.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from xop.core.specs.safepaths import LocalPath

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_DIAL = re.compile(r"^\+?[0-9*#]{1,32}$")
_SIP_USER = re.compile(r"^[A-Za-z0-9_.!~*'()&=+$,;?/%-]{1,64}$")


def normalise_host(value: str) -> str:
    """An IPv4 or IPv6 address (brackets allowed) or an RFC 1123 host name, without brackets."""
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    name = text.rstrip(".")
    if not name or len(name) > 253 or not all(_HOSTNAME_LABEL.match(label) for label in name.split(".")):
        raise ValueError(f"host must be an IPv4/IPv6 address or a DNS name, got {value!r}")
    return name


class TlsSpec(BaseModel):
    """How the TLS transport verifies the trunk's certificate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verify: bool = Field(True, description="verify the certificate chain and host name")
    ca_file: str | None = Field(None, description="PEM bundle of trusted CAs; system store when unset")
    server_name: str | None = Field(None, description="SNI / name to verify; the trunk host when unset")


class QualitySpec(BaseModel):
    """Thresholds grading the test call's audio (defaults from issue 19).

    Degraded (a major ticket: needs correction, callers still hear each other): MOS below
    ``degraded_mos``, loss over ``max_loss_pct``, jitter over ``max_jitter_ms``, or the echo more
    than ``max_level_loss_db`` quieter than what was sent. Failed (a critical ticket: service
    affecting): MOS below ``failed_mos``, nothing came back (one-way audio), silence, or audio
    that does not correlate with the test signal.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    degraded_mos: float = Field(3.6, ge=1, le=4.5, description="MOS below this is degraded")
    failed_mos: float = Field(3.1, ge=1, le=4.5, description="MOS below this is failed")
    max_loss_pct: float = Field(1.0, ge=0, le=100, description="packet loss over this is degraded")
    max_jitter_ms: float = Field(30.0, ge=0, description="RFC 3550 jitter over this is degraded")
    min_correlation: float = Field(0.5, ge=0, le=1, description="echo correlation below this is failed")
    silence_dbfs: float = Field(-50.0, le=0, description="echo level below this is silence (failed)")
    max_level_loss_db: float = Field(12.0, ge=0, description="echo quieter than sent by more: degraded")
    concealment: bool = Field(
        True, description="the far end conceals lost packets (G.711 Bpl 25.1, else 4.3)"
    )
    jitter_buffer_factor: float = Field(2.0, ge=0, le=10, description="jitter buffer = factor x jitter")
    jitter_buffer_min_ms: float = Field(40.0, ge=0, le=500, description="a typical phone's smallest buffer")
    jitter_buffer_max_ms: float = Field(200.0, ge=0, le=2000)

    @model_validator(mode="after")
    def _check_order(self) -> Self:
        if self.failed_mos > self.degraded_mos:
            raise ValueError(
                f"quality: failed_mos ({self.failed_mos}) must not exceed degraded_mos ({self.degraded_mos})"
            )
        if self.jitter_buffer_min_ms > self.jitter_buffer_max_ms:
            raise ValueError("quality: jitter_buffer_min_ms must not exceed jitter_buffer_max_ms")
        return self


class TrunkSpec(BaseModel):
    """One voice trunk of a system: a SIP trunk probed and called, or a PRI span read through AMI."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="unique trunk name, e.g. 'acme-sip-1'")
    kind: Literal["sip", "pri"] = "sip"
    # --- SIP trunks ---
    transport: Literal["udp", "tcp", "tls"] = "udp"
    host: str | None = Field(None, description="IPv4, IPv6 or DNS name of the trunk's SIP peer")
    port: int | None = Field(None, ge=1, le=65535, description="5060 (udp/tcp) or 5061 (tls) when unset")
    dial_number: str | None = Field(None, description="the system's dial-in number called by the test call")
    test_call: bool = Field(True, description="place a real test call after the OPTIONS probe")
    from_user: str = "xop-monitor"
    from_domain: str | None = Field(None, description="domain of the From URI; the local address when unset")
    conn_id: str | None = Field(None, description="Airflow connection holding digest login/password")
    accepted_codes: list[int] = Field(default_factory=lambda: [200], min_length=1)
    options_timeout_s: float = Field(5.0, gt=0, le=60)
    call_timeout_s: float = Field(30.0, gt=0, le=300, description="INVITE to final answer")
    media_seconds: float = Field(3.0, ge=0, le=60, description="RTP sent after the answer")
    require_echo: bool = Field(True, description="no RTP back from the far end fails the call")
    tls: TlsSpec = Field(default_factory=TlsSpec)
    quality: QualitySpec = Field(default_factory=QualitySpec, description="call quality thresholds")
    # --- PRI spans ---
    span: int | None = Field(None, ge=1, le=1024, description="DAHDI span number (kind 'pri')")

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"trunk id must be letters, digits and _.:- (max 100), got {value!r}")
        return value

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str | None) -> str | None:
        return None if value is None else normalise_host(value)

    @field_validator("dial_number")
    @classmethod
    def _check_dial_number(cls, value: str | None) -> str | None:
        if value is not None and not _DIAL.match(value):
            raise ValueError(f"dial_number must be digits (optionally +, *, #), got {value!r}")
        return value

    @field_validator("from_user")
    @classmethod
    def _check_from_user(cls, value: str) -> str:
        if not _SIP_USER.match(value):
            raise ValueError(f"from_user is not a valid SIP user part: {value!r}")
        return value

    @field_validator("from_domain")
    @classmethod
    def _check_from_domain(cls, value: str | None) -> str | None:
        return None if value is None else normalise_host(value)

    @field_validator("accepted_codes")
    @classmethod
    def _check_codes(cls, value: list[int]) -> list[int]:
        bad = [code for code in value if not 200 <= code <= 699]
        if bad:
            raise ValueError(f"accepted_codes must be final SIP codes 200-699, got {bad}")
        return value

    @model_validator(mode="after")
    def _check_kind_fields(self) -> Self:
        if self.kind == "sip":
            if self.host is None:
                raise ValueError(f"trunk {self.id!r}: kind 'sip' needs host")
            if self.test_call and self.dial_number is None:
                raise ValueError(f"trunk {self.id!r}: test_call needs dial_number (or set test_call: false)")
            if self.span is not None:
                raise ValueError(f"trunk {self.id!r}: span is only for kind 'pri'")
        else:
            if self.span is None:
                raise ValueError(f"trunk {self.id!r}: kind 'pri' needs span (the DAHDI span number)")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or (5061 if self.transport == "tls" else 5060)

    @property
    def target(self) -> str:
        """``transport:host:port`` for logs and the results table."""
        if self.kind == "pri":
            return f"pri-span:{self.span}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.effective_port}"


class AmiSpec(BaseModel):
    """An Asterisk Manager Interface whose PRI spans are read with ``PRIShowSpans``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int = Field(5038, ge=1, le=65535)
    conn_id: str = Field(description="Airflow connection with the AMI username (login) and secret (password)")
    spans: list[int] = Field(
        default_factory=list, description="span numbers that must be present and up (besides pri trunks)"
    )
    timeout_s: float = Field(10.0, gt=0, le=120)
    tls: bool = Field(
        False,
        description="AMI over TLS (Asterisk's tlsenable, usually port 5039); the certificate is verified",
    )
    ca_file: LocalPath | None = Field(
        None, description="CA bundle for the AMI's certificate (default: system CAs)"
    )
    server_name: str | None = Field(
        None, description="name the certificate must carry, when it is not the host (e.g. host is an IP)"
    )

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        return normalise_host(value)

    @model_validator(mode="after")
    def _tls_settings_need_tls(self) -> AmiSpec:
        if not self.tls and (self.ca_file is not None or self.server_name is not None):
            raise ValueError("ca_file and server_name are for tls: true (AMI over TLS)")
        return self

    @field_validator("spans")
    @classmethod
    def _check_spans(cls, value: list[int]) -> list[int]:
        bad = [span for span in value if not 1 <= span <= 1024]
        if bad:
            raise ValueError(f"spans must be span numbers 1-1024, got {bad}")
        return value


__all__ = ["AmiSpec", "QualitySpec", "TlsSpec", "TrunkSpec", "normalise_host"]
