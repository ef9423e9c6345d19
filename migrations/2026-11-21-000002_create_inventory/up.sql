-- A pool is a machine type a developer asks for, with its loan policy and the steps that prepare
-- and clean its machines.
CREATE TABLE pools (
    id                     BIGSERIAL PRIMARY KEY,
    slug                   TEXT NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name                   TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 120),
    description            TEXT NOT NULL DEFAULT '',
    platform               TEXT NOT NULL CHECK (length(btrim(platform)) BETWEEN 1 AND 80),
    image_name             TEXT NOT NULL CHECK (length(btrim(image_name)) BETWEEN 1 AND 120),
    image_version          TEXT NOT NULL CHECK (length(btrim(image_version)) BETWEEN 1 AND 80),
    login_user             TEXT NOT NULL DEFAULT 'loaner' CHECK (login_user ~ '^[a-z_][a-z0-9_.-]{0,31}$'),
    -- Ordered steps run through the drivers: [{"name", "action", "driver", "command", "timeout_secs"}].
    provision_steps        JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(provision_steps) = 'array'),
    reclaim_steps          JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(reclaim_steps) = 'array'),
    -- Loan policy.
    approval_mode          TEXT NOT NULL DEFAULT 'automatic' CHECK (approval_mode IN ('automatic', 'manual')),
    default_duration_hours INTEGER NOT NULL DEFAULT 24 CHECK (default_duration_hours > 0),
    max_duration_hours     INTEGER NOT NULL DEFAULT 168 CHECK (max_duration_hours >= default_duration_hours),
    bug_required           BOOLEAN NOT NULL DEFAULT FALSE,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at             TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One host. Driver settings hold references to credentials, never the secrets themselves.
CREATE TABLE machines (
    id                   BIGSERIAL PRIMARY KEY,
    fqdn                 TEXT NOT NULL UNIQUE CHECK (fqdn ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$'),
    pool_id              BIGINT NOT NULL REFERENCES pools (id),
    state                TEXT NOT NULL DEFAULT 'available' CHECK (state IN
                             ('available', 'provisioning', 'loaned', 'reclaiming', 'maintenance', 'broken', 'retired')),
    state_reason         TEXT,
    driver_settings      JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(driver_settings) = 'object'),
    notes                TEXT NOT NULL DEFAULT '',
    current_image        TEXT,
    last_health_check_at TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX machines_pool_state_idx ON machines (pool_id, state);
