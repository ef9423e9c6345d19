DROP TABLE link_tokens;
DROP TABLE emails;
DROP INDEX jobs_due_idx;
ALTER TABLE jobs DROP COLUMN lane;
CREATE INDEX jobs_due_idx ON jobs (run_at, id) WHERE failed_at IS NULL;
ALTER TABLE loans DROP COLUMN expired_at, DROP COLUMN extensions_used;
ALTER TABLE pools
    DROP CONSTRAINT pools_total_covers_max,
    DROP COLUMN grace_period_minutes,
    DROP COLUMN reminder_offsets_minutes,
    DROP COLUMN max_total_hours,
    DROP COLUMN max_extensions,
    DROP COLUMN extension_hours;
