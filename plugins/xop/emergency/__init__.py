"""The emergency caller: an Emergency escalation rings the emergency bridge (seed section 3).

When a ticket reaches Emergency the ticket service or the sweep writes an ``emergency`` ticket
event (with the emergency email). The sweep DAG's own task then places one real SIP call per such
event to ``emergency_call.number`` through ``emergency_call.trunk`` and plays the announcement
of the ticket (number, customer, system, urgency, missed commitment) twice in G.711, retries as
configured, records every attempt as a ticket event and sends a follow-up email saying whether
the bridge was reached.

Modules: ``run`` (one run: :func:`ring_emergencies`), ``store`` (rows, claims, events),
``tables`` (``emergency_calls``), ``announcement`` (text and audio), ``audio`` (espeak-ng, the
shipped recordings, resampling), ``g711`` (µ-law / A-law), ``followup`` (the follow-up email).
Import them directly: this package imports nothing at load time, so the DAG file stays cheap.
"""
