-- Single sign-on: a person is known by the provider's stable subject, not only by email.
ALTER TABLE users
    ADD COLUMN sso_issuer  TEXT,
    ADD COLUMN sso_subject TEXT,
    ADD CONSTRAINT users_sso_both CHECK ((sso_issuer IS NULL) = (sso_subject IS NULL));
CREATE UNIQUE INDEX users_sso_key ON users (sso_issuer, sso_subject);

-- Sessions people can see and end: an id to name one by, when it was last used (the idle
-- timeout), what browser and address started it, how, and the ID token for the provider's
-- sign-out.
ALTER TABLE sessions
    ADD COLUMN id           BIGSERIAL NOT NULL,
    ADD COLUMN last_seen_at TIMESTAMPTZ,
    ADD COLUMN user_agent   TEXT NOT NULL DEFAULT '' CHECK (length(user_agent) <= 300),
    ADD COLUMN address      TEXT NOT NULL DEFAULT '' CHECK (length(address) <= 64),
    ADD COLUMN via          TEXT NOT NULL DEFAULT 'development login' CHECK (length(via) <= 120),
    ADD COLUMN id_token     TEXT CHECK (length(id_token) <= 16384);
UPDATE sessions SET last_seen_at = created_at;
ALTER TABLE sessions ALTER COLUMN last_seen_at SET NOT NULL;
CREATE UNIQUE INDEX sessions_id_key ON sessions (id);

-- A sign-in in flight: what the callback needs to finish it. The browser holds a random
-- binding value in a cookie and the provider returns `state`; only their SHA-256 are kept.
-- Each row is used once (deleted by the callback) and expires in minutes.
CREATE TABLE sign_in_attempts (
    state_hash    BYTEA PRIMARY KEY,
    binding_hash  BYTEA NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next_path     TEXT NOT NULL CHECK (length(next_path) <= 2048),
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX sign_in_attempts_expires_at_idx ON sign_in_attempts (expires_at);
