CREATE TABLE loans (
    id             BIGSERIAL PRIMARY KEY,
    user_id        BIGINT NOT NULL REFERENCES users (id),
    pool_id        BIGINT NOT NULL REFERENCES pools (id),
    machine_id     BIGINT REFERENCES machines (id),
    state          TEXT NOT NULL CHECK (state IN
                       ('requested', 'approved', 'waiting', 'provisioning', 'ready', 'expired', 'returning',
                        'returned', 'reclaiming', 'reclaimed', 'denied', 'cancelled', 'failed')),
    reason         TEXT NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 2000),
    bug_ref        TEXT CHECK (bug_ref IS NULL OR length(bug_ref) BETWEEN 1 AND 500),
    duration_hours INTEGER NOT NULL CHECK (duration_hours > 0),
    ssh_public_key TEXT NOT NULL,
    expires_at     TIMESTAMPTZ,
    approved_by    BIGINT REFERENCES users (id),
    requested_at   TIMESTAMPTZ NOT NULL,
    approved_at    TIMESTAMPTZ,
    ready_at       TIMESTAMPTZ,
    ended_at       TIMESTAMPTZ,
    updated_at     TIMESTAMPTZ NOT NULL,
    -- A loan that holds a machine has one.
    CHECK (machine_id IS NOT NULL OR state NOT IN ('provisioning', 'ready', 'expired', 'returning', 'reclaiming'))
);
-- A machine is in at most one active loan: the database enforces it, whatever the code does.
CREATE UNIQUE INDEX loans_one_active_loan_per_machine ON loans (machine_id)
    WHERE state IN ('provisioning', 'ready', 'expired', 'returning', 'reclaiming');
CREATE INDEX loans_user_id_idx ON loans (user_id, requested_at DESC);
CREATE INDEX loans_state_idx ON loans (state);

-- The history of a loan: append-only, one row per step, written with the state change it records.
CREATE TABLE loan_events (
    id       BIGSERIAL PRIMARY KEY,
    loan_id  BIGINT NOT NULL REFERENCES loans (id),
    at       TIMESTAMPTZ NOT NULL,
    -- NULL when the scheduler acted.
    actor_id BIGINT REFERENCES users (id),
    kind     TEXT NOT NULL CHECK (kind ~ '^[a-z_]+$'),
    message  TEXT NOT NULL,
    output   TEXT,
    details  JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX loan_events_loan_id_idx ON loan_events (loan_id, id);

CREATE FUNCTION loaner_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER loan_events_append_only BEFORE UPDATE OR DELETE ON loan_events
    FOR EACH ROW EXECUTE FUNCTION loaner_refuse_change();
CREATE TRIGGER loan_events_no_truncate BEFORE TRUNCATE ON loan_events
    FOR EACH STATEMENT EXECUTE FUNCTION loaner_refuse_change();
