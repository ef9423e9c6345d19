ALTER TABLE machines DROP COLUMN health_note, DROP COLUMN health_ok_streak, DROP COLUMN health_failed_at;
DROP TABLE machine_actions;
