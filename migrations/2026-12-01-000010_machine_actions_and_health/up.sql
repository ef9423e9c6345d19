-- Actions admins (and the command line) run on a machine outside a loan's steps: status, power,
-- reboot, re-image. Each is a job; this row is its record, with the driver's output.
CREATE TABLE machine_actions (
    id            BIGSERIAL PRIMARY KEY,
    machine_id    BIGINT NOT NULL REFERENCES machines (id),
    action        TEXT NOT NULL CHECK (action IN ('status', 'power_on', 'power_off', 'reboot', 'reimage')),
    driver        TEXT NOT NULL CHECK (driver IN ('ssh', 'ipmi', 'snmp_pdu', 'aws_ec2', 'auto')),
    -- The loan that held the machine when the action was asked for (its borrower was told).
    loan_id       BIGINT REFERENCES loans (id),
    requested_by  BIGINT REFERENCES users (id),
    -- Who asked, as the history shows it: a person's name, or "command line (user@host)".
    requested_as  TEXT NOT NULL,
    reason        TEXT,
    state         TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    output        TEXT NOT NULL DEFAULT '',
    error         TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    CHECK ((state IN ('succeeded', 'failed')) = (finished_at IS NOT NULL))
);

CREATE INDEX machine_actions_by_machine ON machine_actions (machine_id, id DESC);

-- Health checks of machines out of loans: the last result, how many good checks in a row, and
-- when a failed check took the machine out of the pool (so good checks may bring it back).
ALTER TABLE machines
    ADD COLUMN health_note TEXT,
    ADD COLUMN health_ok_streak INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN health_failed_at TIMESTAMPTZ;
