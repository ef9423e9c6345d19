DROP TRIGGER machines_live_delete ON machines;
DROP TRIGGER site_policy_live ON site_policy;
DROP TRIGGER pools_live ON pools;
CREATE OR REPLACE FUNCTION loaner_live_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'loan_events' THEN
        PERFORM pg_notify('loaner_live', 'loan:' || NEW.loan_id);
    ELSIF TG_TABLE_NAME = 'loans' THEN
        PERFORM pg_notify('loaner_live', 'loan:' || NEW.id);
    ELSIF TG_TABLE_NAME = 'machines' THEN
        PERFORM pg_notify('loaner_live', 'machines');
    ELSIF TG_TABLE_NAME = 'admin_tasks' THEN
        PERFORM pg_notify('loaner_live', 'tasks');
    END IF;
    RETURN NULL;
END
$$;
