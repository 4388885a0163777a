-- Call legs that may touch the audited day, times as Unix seconds (float).
-- Used as the CTE "legs" by the audit_usage_*.sql queries (xop.audit.usage).
-- Names in curly braces are filled in by xop.audit.usage: quoted identifiers, the dialect's
-- timestamp-to-seconds expression, and {fence}, the dialect's OFFSET 0, which keeps the planner
-- from inlining the subqueries: each timestamp is converted once per row, not once per use
-- (the conversion dominates the cost of these queries).
-- The range on the raw start column lets an index on it be used; it is one day wider on both
-- sides than needed, so how a driver compares a naive column with the bound value cannot drop
-- a row. Exact day filters use the *_s columns.
SELECT
    start_s,
    {end_s} AS end_s,
    CASE WHEN disposition = :answered THEN {answer_s} END AS answer_s,
    CASE WHEN disposition = :answered THEN 1 ELSE 0 END AS answered,
    disposition,
    conference
FROM (
    SELECT
        {start_epoch} AS start_s,
        {end_source} AS end_source,
        {answer_source} AS answer_source,
        {disposition} AS disposition,
        {conference} AS conference
    FROM {table}
    WHERE {start} >= :scan_from AND {start} < :scan_to
    {fence}
) AS cdr_epochs
{fence}
