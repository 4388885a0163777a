-- The day's counts in one pass, by (hour, disposition, conference); xop.audit.usage sums them
-- into the totals, failures by disposition, calls per hour and the per-conference figures.
-- hour_index: elapsed hours since local midnight (a DST day has 23 or 25), NULL for legs that
-- started the day before and reach into this one: they add answered time inside the day only.
-- attempts/answered/answered_duration_s count legs that started in the day (ACD uses whole
-- calls); answered_seconds is answered time clipped to the day.
WITH legs AS ({legs})
SELECT
    CASE WHEN start_s >= :day_start THEN FLOOR((start_s - :day_start) / 3600.0) END AS hour_index,
    disposition,
    conference,
    SUM(CASE WHEN start_s >= :day_start THEN 1 ELSE 0 END) AS attempts,
    SUM(CASE WHEN start_s >= :day_start THEN answered ELSE 0 END) AS answered,
    SUM(CASE WHEN start_s >= :day_start AND answered = 1 THEN end_s - answer_s ELSE 0 END) AS answered_duration_s,
    SUM(CASE WHEN answered = 1 AND end_s > :day_start AND answer_s < :day_end AND end_s > answer_s
        THEN (CASE WHEN end_s < :day_end THEN end_s ELSE :day_end END)
           - (CASE WHEN answer_s > :day_start THEN answer_s ELSE :day_start END)
        ELSE 0 END) AS answered_seconds
FROM legs
WHERE start_s < :day_end AND (end_s > :day_start OR start_s >= :day_start)
GROUP BY 1, 2, 3
