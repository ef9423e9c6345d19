DROP TABLE sign_in_attempts;
DROP INDEX sessions_id_key;
ALTER TABLE sessions
    DROP COLUMN id, DROP COLUMN last_seen_at, DROP COLUMN user_agent, DROP COLUMN address,
    DROP COLUMN via, DROP COLUMN id_token;
DROP INDEX users_sso_key;
ALTER TABLE users DROP CONSTRAINT users_sso_both, DROP COLUMN sso_issuer, DROP COLUMN sso_subject;
