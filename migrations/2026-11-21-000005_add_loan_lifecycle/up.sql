-- Every loan ends: extension policy, reminders, grace period.
ALTER TABLE pools
    ADD COLUMN extension_hours INTEGER NOT NULL DEFAULT 24 CHECK (extension_hours > 0),
    ADD COLUMN max_extensions INTEGER NOT NULL DEFAULT 2 CHECK (max_extensions >= 0),
    ADD COLUMN max_total_hours INTEGER NOT NULL DEFAULT 336 CHECK (max_total_hours > 0),
    -- Minutes before the deadline a reminder goes out; NULL means the site's default.
    ADD COLUMN reminder_offsets_minutes INTEGER[]
        CHECK (reminder_offsets_minutes IS NULL OR 0 < ALL (reminder_offsets_minutes)),
    -- After the deadline the machine is kept (access revoked) this long before it is re-imaged.
    ADD COLUMN grace_period_minutes INTEGER NOT NULL DEFAULT 0 CHECK (grace_period_minutes >= 0),
    ADD CONSTRAINT pools_total_covers_max CHECK (max_total_hours >= max_duration_hours);

ALTER TABLE loans
    ADD COLUMN extensions_used INTEGER NOT NULL DEFAULT 0 CHECK (extensions_used >= 0),
    -- When the deadline passed and the grace period began.
    ADD COLUMN expired_at TIMESTAMPTZ;

-- Timers (expiry, end of grace) run in their own lane so long steps never delay them.
ALTER TABLE jobs
    ADD COLUMN lane TEXT NOT NULL DEFAULT 'work' CHECK (lane IN ('timers', 'work'));
DROP INDEX jobs_due_idx;
CREATE INDEX jobs_due_idx ON jobs (lane, run_at, id) WHERE failed_at IS NULL;

-- Every message Loaner sends, as sent: the outbox's rendered copy and the development mailbox.
CREATE TABLE emails (
    id         BIGSERIAL PRIMARY KEY,
    kind       TEXT NOT NULL,
    loan_id    BIGINT REFERENCES loans (id),
    recipients TEXT[] NOT NULL CHECK (cardinality(recipients) > 0),
    subject    TEXT NOT NULL,
    body_text  TEXT NOT NULL,
    body_html  TEXT NOT NULL,
    -- One message per (kind, loan, deadline[, reminder offset]).
    dedupe_key TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    sent_at    TIMESTAMPTZ,
    -- 'smtp', or 'mailbox' for the development mailbox.
    transport  TEXT CHECK (transport IN ('smtp', 'mailbox'))
);
CREATE INDEX emails_created_at_idx ON emails (created_at DESC);

-- One-click links in emails: a random token (only its SHA-256 is kept) for one action on one
-- loan, valid until the deadline it was issued for, usable once.
CREATE TABLE link_tokens (
    id         BIGSERIAL PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    loan_id    BIGINT NOT NULL REFERENCES loans (id),
    action     TEXT NOT NULL CHECK (action IN ('return', 'extend')),
    deadline   TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX link_tokens_loan_id_idx ON link_tokens (loan_id);
