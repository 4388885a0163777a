-- Tickets the SLA sweep must act on now. Reads only the next_due_at index, so a sweep's cost
-- grows with what is due, not with how many tickets exist. Closed, resolved and paused tickets
-- have no next_due_at; the state filter keeps it so even if a row were stale.
-- On PostgreSQL the caller appends FOR UPDATE SKIP LOCKED: two sweeps never take one ticket.
SELECT id, number, customer, system, subject, description, reporter_name, reporter_email,
       source, urgency, proposed_urgency, level, state, opened_at, recovered_at, reopen_count
FROM tickets
WHERE next_due_at <= :now
  AND state IN ('open', 'waiting_customer', 'recovered')
ORDER BY next_due_at, id
LIMIT :limit
