-- Per conference: legs that started in the day, answered ones, answered seconds inside the day.
WITH legs AS ({legs})
SELECT
    conference,
    SUM(CASE WHEN start_s >= :day_start THEN 1 ELSE 0 END) AS legs,
    SUM(CASE WHEN start_s >= :day_start THEN answered ELSE 0 END) AS answered_legs,
    SUM(CASE WHEN answered = 1 AND end_s > :day_start AND answer_s < :day_end AND end_s > answer_s
        THEN (CASE WHEN end_s < :day_end THEN end_s ELSE :day_end END)
           - (CASE WHEN answer_s > :day_start THEN answer_s ELSE :day_start END)
        ELSE 0 END) AS answered_seconds
FROM legs
WHERE conference IS NOT NULL AND start_s < :day_end AND (end_s > :day_start OR start_s >= :day_start)
GROUP BY conference
ORDER BY conference
