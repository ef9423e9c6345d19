-- Live updates: every committed change an open page shows is announced on the channel
-- `loaner_live` (one LISTEN per Loaner process fans it out to the pages' streams). NOTIFY is
-- delivered at commit, and only then; identical payloads in one transaction arrive once.
-- Payloads: `loan:<id>` (a loan or its history changed), `machines`, `tasks`.
CREATE FUNCTION loaner_live_notify() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER loan_events_live AFTER INSERT ON loan_events
    FOR EACH ROW EXECUTE FUNCTION loaner_live_notify();
CREATE TRIGGER loans_live AFTER INSERT OR UPDATE ON loans
    FOR EACH ROW EXECUTE FUNCTION loaner_live_notify();
CREATE TRIGGER machines_live AFTER INSERT OR UPDATE ON machines
    FOR EACH ROW EXECUTE FUNCTION loaner_live_notify();
CREATE TRIGGER admin_tasks_live AFTER INSERT OR UPDATE ON admin_tasks
    FOR EACH ROW EXECUTE FUNCTION loaner_live_notify();
