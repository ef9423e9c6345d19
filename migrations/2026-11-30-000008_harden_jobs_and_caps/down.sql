ALTER TABLE site_policy
    ALTER COLUMN max_loans_per_user DROP DEFAULT,
    ALTER COLUMN max_loans_per_user_per_pool DROP DEFAULT;

DROP INDEX jobs_dedupe_key_pending;
-- Given-up rows may share a key with a pending one now; keep the pending one.
DELETE FROM jobs a USING jobs b
WHERE a.dedupe_key = b.dedupe_key AND a.id <> b.id AND a.failed_at IS NOT NULL;
DELETE FROM jobs a USING jobs b
WHERE a.dedupe_key = b.dedupe_key AND a.id < b.id;
ALTER TABLE jobs ADD CONSTRAINT jobs_dedupe_key_key UNIQUE (dedupe_key);
