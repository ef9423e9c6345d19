-- The audit trigger as migration 6 wrote it (calling loaner_changed and loaner_audit).
CREATE OR REPLACE FUNCTION loaner_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
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
