DROP TRIGGER admin_tasks_live ON admin_tasks;
DROP TRIGGER machines_live ON machines;
DROP TRIGGER loans_live ON loans;
DROP TRIGGER loan_events_live ON loan_events;
DROP FUNCTION loaner_live_notify();
