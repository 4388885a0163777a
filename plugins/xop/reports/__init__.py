"""SLA compliance: monthly reports per customer and for XOP, the compliance view, clock timelines.

Everything here reads the stored clocks and events set-based (pandas and the vectorised
business calendar) and writes nothing but report files and outbox rows.
"""

from xop.reports.figures import ALL, Month, SlaFigures, compute
from xop.reports.outcomes import clock_outcomes

__all__ = ["ALL", "Month", "SlaFigures", "clock_outcomes", "compute"]
