DROP TABLE loan_events;
DROP FUNCTION loaner_refuse_change();
DROP TABLE loans;
