-- A recurring job (waiting-line sweep, daily digest, mail purge) that gave up once must not
-- block every later run: a dedupe key is unique among pending jobs only.
ALTER TABLE jobs DROP CONSTRAINT jobs_dedupe_key_key;
CREATE UNIQUE INDEX jobs_dedupe_key_pending ON jobs (dedupe_key) WHERE failed_at IS NULL;

-- Sensible caps out of the box: 3 active loans per person over all pools, 2 in any one pool.
-- Admins change them on the policies page.
ALTER TABLE site_policy
    ALTER COLUMN max_loans_per_user SET DEFAULT 3,
    ALTER COLUMN max_loans_per_user_per_pool SET DEFAULT 2;
SELECT set_config('loaner.actor', 'migration: default loan caps', true);
UPDATE site_policy
SET max_loans_per_user = COALESCE(max_loans_per_user, 3),
    max_loans_per_user_per_pool = COALESCE(max_loans_per_user_per_pool, 2);

-- Messages sent before this version kept their one-click links; cut them out of the stored
-- copies as sending does now (a link token is 64 hex digits).
UPDATE emails
SET body_text = regexp_replace(body_text, '(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])', 'sent-link-removed', 'g'),
    body_html = regexp_replace(body_html, '(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])', 'sent-link-removed', 'g')
WHERE sent_at IS NOT NULL AND transport = 'smtp';
