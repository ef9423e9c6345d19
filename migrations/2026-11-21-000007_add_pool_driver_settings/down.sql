ALTER TABLE pools DROP COLUMN driver_settings;
