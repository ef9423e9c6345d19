DROP TRIGGER users_audit ON users;
DROP TRIGGER admin_tasks_audit ON admin_tasks;
DROP TRIGGER site_policy_audit ON site_policy;
DROP TRIGGER pools_audit ON pools;
DROP TRIGGER machines_audit ON machines;
DROP TRIGGER loans_audit ON loans;
DROP FUNCTION loaner_audit_row();
DROP FUNCTION loaner_changed(JSONB, JSONB);
DROP FUNCTION loaner_audit(TEXT, TEXT, TEXT, TEXT, JSONB, JSONB);
DROP TABLE audit_log;
ALTER TABLE link_tokens
    DROP COLUMN user_id,
    DROP CONSTRAINT link_tokens_action_check,
    ADD CONSTRAINT link_tokens_action_check CHECK (action IN ('return', 'extend'));
DROP TABLE admin_tasks;
DROP INDEX loans_waiting_idx;
ALTER TABLE loans DROP COLUMN decision_reason;
ALTER TABLE machines DROP COLUMN hold_reason, DROP COLUMN hold_state;
UPDATE pools p SET
    approval_mode = COALESCE(p.approval_mode, s.approval_mode),
    default_duration_hours = COALESCE(p.default_duration_hours, s.default_duration_hours),
    max_duration_hours = COALESCE(p.max_duration_hours, s.max_duration_hours),
    bug_required = COALESCE(p.bug_required, s.bug_required),
    extension_hours = COALESCE(p.extension_hours, s.extension_hours),
    max_extensions = COALESCE(p.max_extensions, s.max_extensions),
    max_total_hours = COALESCE(p.max_total_hours, s.max_total_hours),
    grace_period_minutes = COALESCE(p.grace_period_minutes, s.grace_period_minutes)
FROM site_policy s;
ALTER TABLE pools
    DROP COLUMN retired_at,
    DROP COLUMN allowed_groups,
    DROP COLUMN max_loans_per_user,
    ALTER COLUMN approval_mode SET NOT NULL, ALTER COLUMN approval_mode SET DEFAULT 'automatic',
    ALTER COLUMN default_duration_hours SET NOT NULL, ALTER COLUMN default_duration_hours SET DEFAULT 24,
    ALTER COLUMN max_duration_hours SET NOT NULL, ALTER COLUMN max_duration_hours SET DEFAULT 168,
    ALTER COLUMN bug_required SET NOT NULL, ALTER COLUMN bug_required SET DEFAULT FALSE,
    ALTER COLUMN extension_hours SET NOT NULL, ALTER COLUMN extension_hours SET DEFAULT 24,
    ALTER COLUMN max_extensions SET NOT NULL, ALTER COLUMN max_extensions SET DEFAULT 2,
    ALTER COLUMN max_total_hours SET NOT NULL, ALTER COLUMN max_total_hours SET DEFAULT 336,
    ALTER COLUMN grace_period_minutes SET NOT NULL, ALTER COLUMN grace_period_minutes SET DEFAULT 0;
DROP TABLE site_policy;
