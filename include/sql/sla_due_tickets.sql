-- Tickets the SLA sweep must act on now. Reads only the next_due_at index, so a sweep's cost
-- grows with what is due, not with how many tickets exist. Closed and paused tickets have no
-- next_due_at; resolved ones may (the RCA clock keeps running after a resolve); the state
-- filter keeps closed ones out even if a row were stale.
-- On PostgreSQL the caller appends FOR UPDATE SKIP LOCKED: two sweeps never take one ticket.
SELECT id, number, customer, system, subject, description, reporter_name, reporter_email,
       source, urgency, proposed_urgency, level, state, opened_at, recovered_at, reopen_count,
       emergency_at, owner
FROM tickets
WHERE next_due_at <= :now
  AND state IN ('open', 'waiting_customer', 'recovered', 'resolved')
ORDER BY next_due_at, id
LIMIT :limit
