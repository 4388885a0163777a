"""Field types that several config sections share, validated one way."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name like 'America/Chicago')") from None
    return value


#: An IANA time zone name that this machine's tz database knows.
TimeZoneName = Annotated[str, AfterValidator(_known_zone)]
