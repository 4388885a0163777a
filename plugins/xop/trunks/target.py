"""What a SIP check or call is aimed at: the trunk, its system, and the digest credentials."""

from __future__ import annotations

from dataclasses import dataclass

from xop.core.specs.trunks import TrunkSpec


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    """Username and password answering the trunk's digest challenge (from an Airflow connection)."""

    username: str
    password: str

    def __repr__(self) -> str:  # never show the password in logs
        return f"DigestCredentials(username={self.username!r}, password='***')"


@dataclass(frozen=True, slots=True)
class SipTarget:
    """A SIP trunk to check or call through, with its system and (resolved) credentials."""

    system: str
    trunk: TrunkSpec
    credentials: DigestCredentials | None = None


__all__ = ["DigestCredentials", "SipTarget"]
