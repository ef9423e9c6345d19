CREATE OR REPLACE FUNCTION loaner_changed(old_row JSONB, new_row JSONB, OUT before JSONB, OUT after JSONB)
LANGUAGE sql IMMUTABLE AS $$
    SELECT
        (SELECT jsonb_object_agg(o.key, o.value) FROM jsonb_each(old_row) o
            WHERE o.key NOT IN ('updated_at', 'last_health_check_at') AND new_row -> o.key IS DISTINCT FROM o.value),
        (SELECT jsonb_object_agg(n.key, n.value) FROM jsonb_each(new_row) n
            WHERE n.key NOT IN ('updated_at', 'last_health_check_at') AND old_row -> n.key IS DISTINCT FROM n.value)
$$;
