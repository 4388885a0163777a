"""SLA clocks: business-time calendars, due dates, warnings and breaches."""
