-- The audit trigger in one function: the row's difference and the audit row are written without
-- calling `loaner_changed` and `loaner_audit` (each call from plpgsql is a statement of its own,
-- and every loan request and machine change ran five of them). Same rows as before: for an
-- update, the changed columns before and after (without `updated_at` and
-- `last_health_check_at`); for an insert, the whole row. `loaner_audit` stays for the audit rows
-- written by hand (sign-ins, tokens); the actor, time and "via" are read here as it reads them.
CREATE OR REPLACE FUNCTION loaner_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    new_row JSONB := to_jsonb(NEW);
    old_row JSONB;
    target_id TEXT := CASE WHEN TG_TABLE_NAME = 'site_policy' THEN 'site' ELSE new_row ->> 'id' END;
    label TEXT;
    watched TEXT[] := TG_ARGV::TEXT[];
    before JSONB;
    after JSONB := new_row;
    kind TEXT := TG_TABLE_NAME || '.create';
    via TEXT := NULLIF(current_setting('loaner.via', true), '');
BEGIN
    IF TG_OP = 'UPDATE' THEN
        old_row := to_jsonb(OLD);
        SELECT jsonb_object_agg(n.key, n.value), jsonb_object_agg(n.key, old_row -> n.key)
            INTO after, before
            FROM jsonb_each(new_row) n
            WHERE n.key NOT IN ('updated_at', 'last_health_check_at') AND old_row -> n.key IS DISTINCT FROM n.value;
        IF after IS NULL THEN
            RETURN NEW;
        END IF;
        -- Tables that name the columns to watch are audited only when one of those changed.
        IF array_length(watched, 1) > 0 AND NOT (after ?| watched) THEN
            RETURN NEW;
        END IF;
        kind := TG_TABLE_NAME || CASE WHEN after ? 'state' THEN '.state' ELSE '.update' END;
    END IF;
    label := COALESCE(new_row ->> 'fqdn', new_row ->> 'slug', new_row ->> 'step_name',
                      CASE WHEN TG_TABLE_NAME = 'site_policy' THEN 'site policy' END, '#' || target_id);
    INSERT INTO audit_log (at, actor_id, actor, kind, target_type, target_id, target, before, after)
    VALUES (
        COALESCE(NULLIF(current_setting('loaner.now', true), '')::TIMESTAMPTZ, now()),
        NULLIF(current_setting('loaner.actor_id', true), '')::BIGINT,
        COALESCE(NULLIF(current_setting('loaner.actor', true), ''), 'scheduler') || COALESCE(' via ' || via, ''),
        kind, TG_TABLE_NAME, target_id, label, before, after);
    RETURN NEW;
END
$$;
