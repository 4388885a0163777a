"""Settings of the ticket API (``api:`` in the config): request limits and key expiry."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ApiSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Request bodies larger than this are refused with 413 before they are read.",
    )
    idempotency_key_hours: int = Field(
        24,
        ge=1,
        le=24 * 366,
        description="Idempotency-Key records older than this are deleted by the SLA sweep.",
    )
