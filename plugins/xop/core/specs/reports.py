"""Settings of the monthly SLA compliance reports (``reports:`` in the configuration)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from xop.core.specs.safepaths import LocalPath


class ReportsSpec(BaseModel):
    """Where the SLA reports go and who gets XOP's own report.

    The customer's report goes to its ``management_contacts``; XOP's report to
    ``management_recipients``, else the escalation matrix's emergency/management contact.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    report_dir: LocalPath = Field(
        Path("var/reports/sla"), description="where report files are kept (relative: to the repository)"
    )
    subject_prefix: str = "[XOP SLA]"
    management_recipients: tuple[EmailStr, ...] = Field(
        (), description="who gets XOP's report; empty: escalation.emergency.email"
    )
    pdf: bool = Field(True, description="also print the page to PDF with headless Chromium")
    chromium: str = Field("/usr/bin/chromium", description="Debian's chromium, used for the PDF")
    trend_months: int = Field(12, ge=1, le=36, description="months in the compliance trend chart")


__all__ = ["ReportsSpec"]
