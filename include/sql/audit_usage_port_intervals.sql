-- Port occupancy intervals (start to hang-up, any disposition) overlapping the audited day,
-- for the peak-concurrency sweep in numpy: only the two epochs are fetched.
WITH legs AS ({legs})
SELECT start_s, end_s
FROM legs
WHERE start_s < :day_end AND end_s > :day_start
