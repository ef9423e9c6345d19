-- Each Loaner process keeps the catalogue (pools, their policies, the site's defaults, machine
-- counts) until the database announces a change on `loaner_live`. Machines and loans already
-- announce theirs; pools and the site policy now announce theirs as `pools`.
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
    ELSIF TG_TABLE_NAME IN ('pools', 'site_policy') THEN
        PERFORM pg_notify('loaner_live', 'pools');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER pools_live AFTER INSERT OR UPDATE OR DELETE ON pools
    FOR EACH ROW EXECUTE FUNCTION loaner_live_notify();
CREATE TRIGGER site_policy_live AFTER INSERT OR UPDATE OR DELETE ON site_policy
    FOR EACH ROW EXECUTE FUNCTION loaner_live_notify();
CREATE TRIGGER machines_live_delete AFTER DELETE ON machines
    FOR EACH ROW EXECUTE FUNCTION loaner_live_notify();
