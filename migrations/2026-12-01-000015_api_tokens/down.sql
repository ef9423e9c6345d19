CREATE OR REPLACE FUNCTION loaner_audit(kind TEXT, target_type TEXT, target_id TEXT, target TEXT, before JSONB, after JSONB)
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
DROP TABLE api_tokens;
DROP FUNCTION loaner_audit_token();
