-- Answered conference legs (answer to hang-up) overlapping the audited day, for the
-- per-conference peak-participants sweep in numpy.
WITH legs AS ({legs})
SELECT conference, answer_s, end_s
FROM legs
WHERE answered = 1 AND conference IS NOT NULL AND answer_s < :day_end AND end_s > :day_start
