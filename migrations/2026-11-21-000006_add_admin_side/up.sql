-- The site's loan policy: the defaults every pool inherits where its own column is NULL.
CREATE TABLE site_policy (
    id                          BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    approval_mode               TEXT NOT NULL DEFAULT 'automatic' CHECK (approval_mode IN ('automatic', 'manual')),
    default_duration_hours      INTEGER NOT NULL DEFAULT 24 CHECK (default_duration_hours > 0),
    max_duration_hours          INTEGER NOT NULL DEFAULT 168,
    extension_hours             INTEGER NOT NULL DEFAULT 24 CHECK (extension_hours > 0),
    max_extensions              INTEGER NOT NULL DEFAULT 2 CHECK (max_extensions >= 0),
    max_total_hours             INTEGER NOT NULL DEFAULT 336,
    bug_required                BOOLEAN NOT NULL DEFAULT FALSE,
    grace_period_minutes        INTEGER NOT NULL DEFAULT 0 CHECK (grace_period_minutes >= 0),
    -- Active loans one person may hold at once: over all pools, and in any one pool.
    max_loans_per_user          INTEGER CHECK (max_loans_per_user > 0),
    max_loans_per_user_per_pool INTEGER CHECK (max_loans_per_user_per_pool > 0),
    updated_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (max_duration_hours >= default_duration_hours),
    CHECK (max_total_hours >= max_duration_hours)
);
INSERT INTO site_policy DEFAULT VALUES;

-- A pool's policy columns become optional: NULL inherits the site's value.
ALTER TABLE pools
    ALTER COLUMN approval_mode DROP NOT NULL, ALTER COLUMN approval_mode DROP DEFAULT,
    ALTER COLUMN default_duration_hours DROP NOT NULL, ALTER COLUMN default_duration_hours DROP DEFAULT,
    ALTER COLUMN max_duration_hours DROP NOT NULL, ALTER COLUMN max_duration_hours DROP DEFAULT,
    ALTER COLUMN bug_required DROP NOT NULL, ALTER COLUMN bug_required DROP DEFAULT,
    ALTER COLUMN extension_hours DROP NOT NULL, ALTER COLUMN extension_hours DROP DEFAULT,
    ALTER COLUMN max_extensions DROP NOT NULL, ALTER COLUMN max_extensions DROP DEFAULT,
    ALTER COLUMN max_total_hours DROP NOT NULL, ALTER COLUMN max_total_hours DROP DEFAULT,
    ALTER COLUMN grace_period_minutes DROP NOT NULL, ALTER COLUMN grace_period_minutes DROP DEFAULT,
    ADD COLUMN max_loans_per_user INTEGER CHECK (max_loans_per_user > 0),
    -- Who may borrow: NULL means everyone; otherwise members of one of these groups.
    ADD COLUMN allowed_groups TEXT[],
    -- A retired pool is hidden from the catalogue and takes no requests.
    ADD COLUMN retired_at TIMESTAMPTZ;

-- A machine an admin took out of service while it was loaned goes to this state when the loan's
-- clean-up finishes, instead of back to the pool.
ALTER TABLE machines
    ADD COLUMN hold_state TEXT CHECK (hold_state IN ('maintenance', 'broken', 'retired')),
    ADD COLUMN hold_reason TEXT;

-- Why an admin denied, shortened or force-returned a loan.
ALTER TABLE loans ADD COLUMN decision_reason TEXT;
-- The waiting queue: first come (approved first), first served.
CREATE INDEX loans_waiting_idx ON loans (pool_id, approved_at, id) WHERE state = 'waiting';

-- Steps no script can do: an admin does them and says so.
CREATE TABLE admin_tasks (
    id           BIGSERIAL PRIMARY KEY,
    loan_id      BIGINT NOT NULL REFERENCES loans (id),
    machine_id   BIGINT NOT NULL REFERENCES machines (id),
    phase        TEXT NOT NULL,
    step_index   INTEGER NOT NULL CHECK (step_index >= 0),
    step_name    TEXT NOT NULL,
    instructions TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done', 'failed', 'cancelled')),
    created_at   TIMESTAMPTZ NOT NULL,
    closed_at    TIMESTAMPTZ,
    closed_by    BIGINT REFERENCES users (id),
    note         TEXT,
    UNIQUE (loan_id, machine_id, phase, step_index)
);
CREATE INDEX admin_tasks_open_idx ON admin_tasks (created_at) WHERE state = 'open';

-- Links for admins (approve, deny) act as the admin they were sent to.
ALTER TABLE link_tokens
    DROP CONSTRAINT link_tokens_action_check,
    ADD CONSTRAINT link_tokens_action_check CHECK (action IN ('return', 'extend', 'approve', 'deny')),
    ADD COLUMN user_id BIGINT REFERENCES users (id);

-- The audit log: every admin action and every state change by anyone, written by triggers in the
-- transaction of the change. Append-only. The acting user and the application's clock come from
-- transaction settings (`loaner.actor_id`, `loaner.actor`, `loaner.now`); without them the actor
-- is the scheduler.
CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    actor_id    BIGINT REFERENCES users (id),
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    target      TEXT NOT NULL,
    before      JSONB,
    after       JSONB
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION loaner_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION loaner_refuse_change();

CREATE FUNCTION loaner_audit(kind TEXT, target_type TEXT, target_id TEXT, target TEXT, before JSONB, after JSONB)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    actor_id BIGINT := NULLIF(current_setting('loaner.actor_id', true), '')::BIGINT;
BEGIN
    INSERT INTO audit_log (at, actor_id, actor, kind, target_type, target_id, target, before, after)
    VALUES (
        COALESCE(NULLIF(current_setting('loaner.now', true), '')::TIMESTAMPTZ, now()),
        actor_id,
        COALESCE(NULLIF(current_setting('loaner.actor', true), ''), 'scheduler'),
        kind, target_type, target_id, target, before, after);
END
$$;

-- Only what changed, without the bookkeeping columns.
CREATE FUNCTION loaner_changed(old_row JSONB, new_row JSONB, OUT before JSONB, OUT after JSONB)
LANGUAGE sql IMMUTABLE AS $$
    SELECT
        (SELECT jsonb_object_agg(o.key, o.value) FROM jsonb_each(old_row) o
            WHERE o.key NOT IN ('updated_at', 'last_health_check_at') AND new_row -> o.key IS DISTINCT FROM o.value),
        (SELECT jsonb_object_agg(n.key, n.value) FROM jsonb_each(new_row) n
            WHERE n.key NOT IN ('updated_at', 'last_health_check_at') AND old_row -> n.key IS DISTINCT FROM n.value)
$$;

CREATE FUNCTION loaner_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row_json JSONB := to_jsonb(NEW);
    target_id TEXT := CASE WHEN TG_TABLE_NAME = 'site_policy' THEN 'site' ELSE row_json ->> 'id' END;
    label TEXT := COALESCE(row_json ->> 'fqdn', row_json ->> 'slug', row_json ->> 'step_name',
                           CASE WHEN TG_TABLE_NAME = 'site_policy' THEN 'site policy' END, '#' || target_id);
    diff RECORD;
    watched TEXT[] := TG_ARGV::TEXT[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM loaner_audit(TG_TABLE_NAME || '.create', TG_TABLE_NAME, target_id, label, NULL, row_json);
        RETURN NEW;
    END IF;
    SELECT * INTO diff FROM loaner_changed(to_jsonb(OLD), to_jsonb(NEW));
    IF diff.after IS NULL THEN
        RETURN NEW;
    END IF;
    -- Tables that name the columns to watch are audited only when one of those changed.
    IF array_length(watched, 1) > 0 AND NOT (diff.after ?| watched) THEN
        RETURN NEW;
    END IF;
    PERFORM loaner_audit(
        TG_TABLE_NAME || CASE WHEN diff.after ? 'state' THEN '.state' ELSE '.update' END,
        TG_TABLE_NAME, target_id, label, diff.before, diff.after);
    RETURN NEW;
END
$$;

CREATE TRIGGER loans_audit AFTER INSERT OR UPDATE ON loans
    FOR EACH ROW EXECUTE FUNCTION loaner_audit_row('state', 'machine_id', 'expires_at', 'duration_hours', 'approved_by');
CREATE TRIGGER machines_audit AFTER INSERT OR UPDATE ON machines
    FOR EACH ROW EXECUTE FUNCTION loaner_audit_row();
CREATE TRIGGER pools_audit AFTER INSERT OR UPDATE ON pools
    FOR EACH ROW EXECUTE FUNCTION loaner_audit_row();
CREATE TRIGGER site_policy_audit AFTER UPDATE ON site_policy
    FOR EACH ROW EXECUTE FUNCTION loaner_audit_row();
CREATE TRIGGER admin_tasks_audit AFTER INSERT OR UPDATE ON admin_tasks
    FOR EACH ROW EXECUTE FUNCTION loaner_audit_row();
CREATE TRIGGER users_audit AFTER UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION loaner_audit_row('role', 'groups');
