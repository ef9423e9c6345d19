-- The durable job queue. Workers claim due rows with FOR UPDATE SKIP LOCKED and hold a lease
-- (locked_until) that they renew while running; a row whose lease ran out is claimed again.
CREATE TABLE jobs (
    id           BIGSERIAL PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      JSONB NOT NULL DEFAULT '{}',
    loan_id      BIGINT,
    run_at       TIMESTAMPTZ NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    locked_by    TEXT,
    locked_until TIMESTAMPTZ,
    last_error   TEXT,
    -- Jobs that must exist at most once (a reminder for one deadline) carry a key.
    dedupe_key   TEXT UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    -- Set when the job used up its attempts; such rows stay for admins to read.
    failed_at    TIMESTAMPTZ
);
CREATE INDEX jobs_due_idx ON jobs (run_at, id) WHERE failed_at IS NULL;
CREATE INDEX jobs_loan_id_idx ON jobs (loan_id) WHERE loan_id IS NOT NULL;
