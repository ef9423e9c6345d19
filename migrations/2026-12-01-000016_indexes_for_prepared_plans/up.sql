-- Indexes for what every loan request reads, usable by the plans PostgreSQL keeps for prepared
-- statements. The queries bind the state as a parameter, so a partial index on a state
-- (`WHERE state = 'waiting'`) fits only a plan made for one value; these lead with the pool or
-- the person and hold the state as a column.
-- The pool's waiting line: a loan's place, and the head of the line, in (approved_at, id) order.
CREATE INDEX loans_pool_state_idx ON loans (pool_id, state, approved_at, id);
DROP INDEX loans_waiting_idx;
-- A person's active loans per pool (the caps), read from the index alone.
CREATE INDEX loans_user_state_idx ON loans (user_id, state) INCLUDE (pool_id);
-- When a worker's lane next has work: the earliest lease to run out, among the few held jobs.
CREATE INDEX jobs_leased_idx ON jobs (lane, locked_until) WHERE failed_at IS NULL AND locked_until IS NOT NULL;
