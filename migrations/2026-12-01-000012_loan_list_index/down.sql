DROP INDEX loans_requested_idx;
