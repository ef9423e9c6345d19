-- Settings every machine of a pool shares (a console server, an image store), under the
-- machine's own: for the `command` driver, `env` entries of the machine win over the pool's.
-- References to credentials only, never the secrets themselves.
ALTER TABLE pools
    ADD COLUMN driver_settings JSONB NOT NULL DEFAULT '{}'
        CHECK (jsonb_typeof(driver_settings) = 'object');
