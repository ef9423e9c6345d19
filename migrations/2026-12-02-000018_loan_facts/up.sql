-- Statistics read these instead of the loan history: one row per loan with the moments the
-- history holds but the loan does not (machine assigned, machine back in the pool, machine
-- broken, how the loan ended) and the loan's pool and machine, so the time machines were out of
-- the pool is read from this table alone; and the step runs and failures per day the loan was
-- requested, pool and step. A trigger on `loan_events` keeps both, in the transaction that
-- writes the event, so they never disagree with the history. The statistics page then reads
-- one row per loan instead of ten history entries (scripts/bench-stats: a year of history,
-- 100,000 loans, 1,000,000 history entries).
CREATE TABLE loan_facts (
    loan_id BIGINT PRIMARY KEY REFERENCES loans (id),
    pool_id BIGINT NOT NULL,
    -- The loan's machine (the last it was given).
    machine_id BIGINT,
    -- The first machine given to the loan.
    assigned_at TIMESTAMPTZ,
    -- The last clean-up that finished: the machine is back in the pool.
    back_at TIMESTAMPTZ,
    -- Clean-up failed and the machine was marked broken.
    broken_at TIMESTAMPTZ,
    -- How the borrower's use ended: 'returned' (by the borrower), 'expired' (reclaimed at the
    -- end of the loan: the history says `expired`, or `reclaim_started` when the pool has no
    -- grace period), 'forced' (taken back by an admin). The last of these wins: a loan that
    -- expired, was restored and then given back was returned; a restored loan is open again.
    ended_how TEXT CHECK (ended_how IN ('returned', 'expired', 'forced'))
);

-- Every attempt of a step, counted per day its loan was requested, pool and step. `shard`
-- (the loan's id modulo 8) spreads the workers finishing the same step at once over eight rows.
CREATE TABLE step_runs (
    day DATE NOT NULL,
    pool_id BIGINT NOT NULL,
    phase TEXT NOT NULL,
    name TEXT NOT NULL,
    shard SMALLINT NOT NULL,
    succeeded INT NOT NULL DEFAULT 0,
    failed INT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, pool_id, phase, name, shard)
);

CREATE FUNCTION loaner_loan_facts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    loan RECORD;
BEGIN
    IF NEW.kind IN ('step_succeeded', 'step_failed') THEN
        SELECT pool_id, (requested_at AT TIME ZONE 'UTC')::DATE AS day INTO loan FROM loans WHERE id = NEW.loan_id;
        INSERT INTO step_runs AS r (day, pool_id, phase, name, shard, succeeded, failed)
        VALUES (loan.day, loan.pool_id, COALESCE(NEW.details ->> 'phase', ''), COALESCE(NEW.details ->> 'name', ''),
                NEW.loan_id % 8, (NEW.kind = 'step_succeeded')::INT, (NEW.kind = 'step_failed')::INT)
        ON CONFLICT (day, pool_id, phase, name, shard) DO UPDATE
            SET succeeded = r.succeeded + EXCLUDED.succeeded, failed = r.failed + EXCLUDED.failed;
        RETURN NULL;
    END IF;
    -- The clean-up of the machine a moved loan left: not the loan's own machine coming back.
    IF NEW.details ? 'moved_away' THEN
        RETURN NULL;
    END IF;
    INSERT INTO loan_facts AS f (loan_id, pool_id, machine_id, assigned_at, back_at, broken_at, ended_how)
    VALUES (NEW.loan_id,
            (SELECT pool_id FROM loans WHERE id = NEW.loan_id),
            CASE NEW.kind WHEN 'machine_assigned' THEN (NEW.details ->> 'machine_id')::BIGINT
                          WHEN 'moved' THEN (NEW.details ->> 'to')::BIGINT END,
            CASE WHEN NEW.kind = 'machine_assigned' THEN NEW.at END,
            CASE WHEN NEW.kind = 'cleanup_finished' THEN NEW.at END,
            CASE WHEN NEW.kind = 'machine_broken' THEN NEW.at END,
            CASE NEW.kind WHEN 'return_requested' THEN 'returned' WHEN 'expired' THEN 'expired'
                          WHEN 'reclaim_started' THEN 'expired' WHEN 'forced_return' THEN 'forced' END)
    ON CONFLICT (loan_id) DO UPDATE
        SET machine_id = COALESCE(EXCLUDED.machine_id, f.machine_id),
            assigned_at = COALESCE(f.assigned_at, EXCLUDED.assigned_at),
            back_at = COALESCE(EXCLUDED.back_at, f.back_at),
            broken_at = COALESCE(f.broken_at, EXCLUDED.broken_at),
            ended_how = CASE WHEN NEW.kind = 'restored' THEN NULL
                             ELSE COALESCE(EXCLUDED.ended_how, f.ended_how) END;
    RETURN NULL;
END
$$;

CREATE TRIGGER loan_events_facts AFTER INSERT ON loan_events FOR EACH ROW
    WHEN (NEW.kind IN ('machine_assigned', 'moved', 'cleanup_finished', 'machine_broken', 'return_requested',
                       'expired', 'reclaim_started', 'forced_return', 'restored', 'step_succeeded',
                       'step_failed'))
    EXECUTE FUNCTION loaner_loan_facts();

-- The history so far.
INSERT INTO loan_facts (loan_id, pool_id, machine_id, assigned_at, back_at, broken_at, ended_how)
SELECT e.loan_id, l.pool_id, l.machine_id,
       min(e.at) FILTER (WHERE e.kind = 'machine_assigned'),
       max(e.at) FILTER (WHERE e.kind = 'cleanup_finished'),
       min(e.at) FILTER (WHERE e.kind = 'machine_broken'),
       (array_agg(CASE e.kind WHEN 'return_requested' THEN 'returned' WHEN 'expired' THEN 'expired'
                              WHEN 'reclaim_started' THEN 'expired' WHEN 'forced_return' THEN 'forced' END
                  ORDER BY e.id DESC)
            FILTER (WHERE e.kind IN ('return_requested', 'expired', 'reclaim_started', 'forced_return', 'restored')))[1]
FROM loan_events e JOIN loans l ON l.id = e.loan_id
WHERE e.kind IN ('machine_assigned', 'moved', 'cleanup_finished', 'machine_broken', 'return_requested', 'expired',
                 'reclaim_started', 'forced_return', 'restored')
  -- Before this migration the moved-away clean-up said so only in its message.
  AND NOT (e.kind = 'cleanup_finished' AND e.message LIKE 'The machine the loan moved away from%')
GROUP BY e.loan_id, l.pool_id, l.machine_id;

INSERT INTO step_runs (day, pool_id, phase, name, shard, succeeded, failed)
SELECT (l.requested_at AT TIME ZONE 'UTC')::DATE, l.pool_id, COALESCE(e.details ->> 'phase', ''),
       COALESCE(e.details ->> 'name', ''), 0,
       count(*) FILTER (WHERE e.kind = 'step_succeeded'), count(*) FILTER (WHERE e.kind = 'step_failed')
FROM loan_events e JOIN loans l ON l.id = e.loan_id
WHERE e.kind IN ('step_succeeded', 'step_failed')
GROUP BY 1, 2, 3, 4;

-- The machines out of the pool in a period: those back (or broken) after its start, and those
-- not back at all (out now, or never cleaned up).
CREATE INDEX loan_facts_back_idx ON loan_facts ((COALESCE(back_at, broken_at)));
CREATE INDEX loan_facts_out_idx ON loan_facts (assigned_at) WHERE back_at IS NULL AND broken_at IS NULL;

-- Machines that broke, for the time to repair: the audit rows that put a machine in `broken`.
CREATE INDEX audit_log_machine_broken_idx ON audit_log (at)
    WHERE target_type = 'machines' AND after ->> 'state' = 'broken';
CREATE INDEX audit_log_machine_state_idx ON audit_log (target_id, at)
    WHERE target_type = 'machines' AND after ? 'state';
