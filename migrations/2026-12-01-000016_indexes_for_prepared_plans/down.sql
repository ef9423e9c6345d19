DROP INDEX jobs_leased_idx;
DROP INDEX loans_user_state_idx;
CREATE INDEX loans_waiting_idx ON loans (pool_id, approved_at, id) WHERE state = 'waiting';
DROP INDEX loans_pool_state_idx;
