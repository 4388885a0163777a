-- The running clocks of the claimed tickets whose next check (warning or due date) has come.
SELECT c.id, c.ticket_id, c.name, c.cycle, c.calendar, c.started_at, c.target_seconds,
       c.paused_seconds, c.paused_at, c.due_at, c.warned_fraction, c.breached_at
FROM ticket_clocks c
WHERE c.ticket_id IN :ids
  AND c.next_check_at <= :now
  AND c.met_at IS NULL
  AND c.stopped_at IS NULL
  AND c.breached_at IS NULL
ORDER BY c.ticket_id, c.id
