-- Statistics read these instead of the loan history: one row per loan with the moments the
-- history holds but the loan does not (machine assigned, machine back in the pool, machine
-- broken, how the loan ended), and one row per loan and step with how often the step ran and
-- failed. A trigger on `loan_events` keeps them, in the transaction that writes the event, so
-- they can never disagree with the history; the statistics page then reads one row per loan
-- instead of ten events (scripts/bench: 100,000 loans, 1,000,000 events).
CREATE TABLE loan_facts (
    loan_id BIGINT PRIMARY KEY REFERENCES loans (id),
    -- The first machine given to the loan.
    assigned_at TIMESTAMPTZ,
    -- The last clean-up that finished: the machine is back in the pool.
    back_at TIMESTAMPTZ,
    -- Clean-up failed and the machine was marked broken.
    broken_at TIMESTAMPTZ,
    -- How the borrower's use ended: 'returned' (by the borrower), 'expired' (reclaimed at the
    -- end of the loan: the history says `expired`, or `reclaim_started` when the pool has no
    -- grace period), 'forced' (taken back by an admin). The last of these wins: a loan that
    -- expired, was restored and then given back was returned.
    ended_how TEXT CHECK (ended_how IN ('returned', 'expired', 'forced'))
);

CREATE TABLE loan_step_runs (
    loan_id BIGINT NOT NULL REFERENCES loans (id),
    phase TEXT NOT NULL,
    name TEXT NOT NULL,
    succeeded INT NOT NULL DEFAULT 0,
    failed INT NOT NULL DEFAULT 0,
    PRIMARY KEY (loan_id, phase, name)
);

CREATE FUNCTION loaner_loan_facts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind IN ('step_succeeded', 'step_failed') THEN
        INSERT INTO loan_step_runs AS r (loan_id, phase, name, succeeded, failed)
        VALUES (NEW.loan_id, COALESCE(NEW.details ->> 'phase', ''), COALESCE(NEW.details ->> 'name', ''),
                (NEW.kind = 'step_succeeded')::INT, (NEW.kind = 'step_failed')::INT)
        ON CONFLICT (loan_id, phase, name) DO UPDATE
            SET succeeded = r.succeeded + EXCLUDED.succeeded, failed = r.failed + EXCLUDED.failed;
    ELSE
        -- The clean-up of the machine a moved loan left: not the loan's own machine coming back.
        IF NEW.details ? 'moved_away' THEN
            RETURN NULL;
        END IF;
        INSERT INTO loan_facts AS f (loan_id, assigned_at, back_at, broken_at, ended_how)
        VALUES (NEW.loan_id,
                CASE WHEN NEW.kind = 'machine_assigned' THEN NEW.at END,
                CASE WHEN NEW.kind = 'cleanup_finished' THEN NEW.at END,
                CASE WHEN NEW.kind = 'machine_broken' THEN NEW.at END,
                CASE NEW.kind WHEN 'return_requested' THEN 'returned' WHEN 'expired' THEN 'expired' WHEN 'reclaim_started' THEN 'expired'
                              WHEN 'forced_return' THEN 'forced' END)
        ON CONFLICT (loan_id) DO UPDATE
            SET assigned_at = COALESCE(f.assigned_at, EXCLUDED.assigned_at),
                back_at = COALESCE(EXCLUDED.back_at, f.back_at),
                broken_at = COALESCE(f.broken_at, EXCLUDED.broken_at),
                -- Restored after it expired: in use again, not ended.
                ended_how = CASE WHEN NEW.kind = 'restored' THEN NULL
                                 ELSE COALESCE(EXCLUDED.ended_how, f.ended_how) END;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER loan_events_facts AFTER INSERT ON loan_events FOR EACH ROW
    WHEN (NEW.kind IN ('machine_assigned', 'cleanup_finished', 'machine_broken', 'return_requested',
                       'expired', 'reclaim_started', 'forced_return', 'restored', 'step_succeeded',
                       'step_failed'))
    EXECUTE FUNCTION loaner_loan_facts();

-- The history so far.
INSERT INTO loan_facts (loan_id, assigned_at, back_at, broken_at, ended_how)
SELECT loan_id,
       min(at) FILTER (WHERE kind = 'machine_assigned'),
       max(at) FILTER (WHERE kind = 'cleanup_finished'),
       min(at) FILTER (WHERE kind = 'machine_broken'),
       (array_agg(CASE kind WHEN 'return_requested' THEN 'returned' WHEN 'expired' THEN 'expired' WHEN 'reclaim_started' THEN 'expired'
                            WHEN 'forced_return' THEN 'forced' END ORDER BY id DESC)
            FILTER (WHERE kind IN ('return_requested', 'expired', 'reclaim_started', 'forced_return', 'restored')))[1]
FROM loan_events
WHERE kind IN ('machine_assigned', 'cleanup_finished', 'machine_broken', 'return_requested', 'expired',
               'reclaim_started', 'forced_return', 'restored')
  -- Before this migration the moved-away clean-up said so only in its message.
  AND NOT (kind = 'cleanup_finished' AND message LIKE 'The machine the loan moved away from%')
  AND NOT (details ? 'moved_away')
GROUP BY loan_id;

INSERT INTO loan_step_runs (loan_id, phase, name, succeeded, failed)
SELECT loan_id, COALESCE(details ->> 'phase', ''), COALESCE(details ->> 'name', ''),
       count(*) FILTER (WHERE kind = 'step_succeeded'), count(*) FILTER (WHERE kind = 'step_failed')
FROM loan_events
WHERE kind IN ('step_succeeded', 'step_failed')
GROUP BY 1, 2, 3;

-- The machines out of the pool in a period: those back (or broken) after its start, and those
-- not back at all (out now, or never cleaned up).
CREATE INDEX loan_facts_back_idx ON loan_facts ((COALESCE(back_at, broken_at)));
CREATE INDEX loan_facts_out_idx ON loan_facts (assigned_at) WHERE back_at IS NULL AND broken_at IS NULL;

-- Machines that broke, for the time to repair: the audit rows that put a machine in `broken`.
CREATE INDEX audit_log_machine_broken_idx ON audit_log (at)
    WHERE target_type = 'machines' AND after ->> 'state' = 'broken';
CREATE INDEX audit_log_machine_state_idx ON audit_log (target_id, at)
    WHERE target_type = 'machines' AND after ? 'state';
