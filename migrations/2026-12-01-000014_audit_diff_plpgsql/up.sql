-- The audit trigger's diff of a row, in plpgsql: PostgreSQL 15 plans a SQL-language function
-- called from a trigger afresh on every call, while plpgsql keeps its statements' plans for the
-- session. Same signature, same answers.
CREATE OR REPLACE FUNCTION loaner_changed(old_row JSONB, new_row JSONB, OUT before JSONB, OUT after JSONB)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    SELECT jsonb_object_agg(o.key, o.value) INTO before FROM jsonb_each(old_row) o
        WHERE o.key NOT IN ('updated_at', 'last_health_check_at') AND new_row -> o.key IS DISTINCT FROM o.value;
    SELECT jsonb_object_agg(n.key, n.value) INTO after FROM jsonb_each(new_row) n
        WHERE n.key NOT IN ('updated_at', 'last_health_check_at') AND old_row -> n.key IS DISTINCT FROM n.value;
END
$$;
