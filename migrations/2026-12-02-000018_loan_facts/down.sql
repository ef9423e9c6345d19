DROP INDEX audit_log_machine_state_idx;
DROP INDEX audit_log_machine_broken_idx;
DROP TRIGGER loan_events_facts ON loan_events;
DROP FUNCTION loaner_loan_facts();
DROP TABLE step_runs;
DROP TABLE loan_facts;
