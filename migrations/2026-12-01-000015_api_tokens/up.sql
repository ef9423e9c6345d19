-- Personal API tokens: the secret is shown once and only its SHA-256 is kept.
CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    scopes       TEXT[] NOT NULL CHECK (cardinality(scopes) > 0 AND array_position(scopes, NULL) IS NULL
                     AND scopes <@ ARRAY['loans:read', 'loans:write', 'machines:read', 'machines:act', 'admin']),
    token_hash   BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    -- The secret's first characters, to tell tokens apart in lists.
    hint         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL CHECK (expires_at > created_at),
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    revoked_by   BIGINT REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id, created_at DESC);

-- Made and revoked tokens are audited (never their hash; last use is not an event).
CREATE FUNCTION loaner_audit_token() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    shown JSONB := jsonb_build_object('name', NEW.name, 'scopes', to_jsonb(NEW.scopes),
                                      'owner_id', NEW.user_id, 'expires_at', NEW.expires_at);
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM loaner_audit('api_tokens.create', 'api_tokens', NEW.id::TEXT, NEW.name, NULL, shown);
    ELSIF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
        PERFORM loaner_audit('api_tokens.revoke', 'api_tokens', NEW.id::TEXT, NEW.name, shown, NULL);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER api_tokens_audit AFTER INSERT OR UPDATE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION loaner_audit_token();

-- Which token did what: a change made through the API names the token after the person.
CREATE OR REPLACE FUNCTION loaner_audit(kind TEXT, target_type TEXT, target_id TEXT, target TEXT, before JSONB, after JSONB)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    actor_id BIGINT := NULLIF(current_setting('loaner.actor_id', true), '')::BIGINT;
    via TEXT := NULLIF(current_setting('loaner.via', true), '');
BEGIN
    INSERT INTO audit_log (at, actor_id, actor, kind, target_type, target_id, target, before, after)
    VALUES (
        COALESCE(NULLIF(current_setting('loaner.now', true), '')::TIMESTAMPTZ, now()),
        actor_id,
        COALESCE(NULLIF(current_setting('loaner.actor', true), ''), 'scheduler') || COALESCE(' via ' || via, ''),
        kind, target_type, target_id, target, before, after);
END
$$;
