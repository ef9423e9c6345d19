-- Claims up to $2 jobs of lane $5 (any lane when NULL) due at $1 for worker $3, with a lease
-- until $4. Rows another worker is claiming at this moment are skipped, not waited for; a row
-- whose lease ran out is due again. Only kinds this worker knows ($6) are claimed: a job added
-- by a newer version waits for a worker that can run it.
--
-- The rows are picked in a MATERIALIZED CTE, run exactly once. Written as
-- `UPDATE … WHERE id IN (SELECT … LIMIT $2 FOR UPDATE SKIP LOCKED)` PostgreSQL may run the
-- subquery again when a row changes under it (a running job's heartbeat or delete), and then
-- claims more rows than $2: rows that nobody runs until their lease runs out.
WITH picked AS MATERIALIZED (
    SELECT id
    FROM jobs
    WHERE failed_at IS NULL
      AND ($5::text IS NULL OR lane = $5)
      AND kind = ANY($6)
      AND run_at <= $1
      AND (locked_until IS NULL OR locked_until < $1)
    ORDER BY run_at, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs
SET attempts = jobs.attempts + 1,
    locked_by = $3,
    locked_until = $4
FROM picked
WHERE jobs.id = picked.id
RETURNING jobs.*
