-- 00011: the audit trail (user_activities) and the admin scope of API keys.
--
-- user_activities is the predecessor's table: a predecessor database has it
-- (naive timestamps, json, no defaults), a fresh one gets it here in the
-- same shape, and both are then converted as 00002..00004 convert the
-- others: "timestamp" becomes timestamptz read as UTC with the database's
-- clock as default, extra_metadata jsonb. As 00002 did for system_metrics,
-- the table gets a created_at (equal to "timestamp"; the lists page on
-- (created_at, id)), and Waybill's own columns: the API key (its id and
-- name, never the secret) and the request id. status_code may be NULL: a
-- write made outside HTTP (waybill apikey revoke) has none.
--
-- api_key_id has no foreign key: an audit row outlives whatever it names,
-- and the key's name is kept beside its id.
--
-- api_keys.scope gains 'admin': everything write may do, plus reading the
-- audit trail.
--
-- Down removes Waybill's additions and restores the predecessor's shape
-- (rows without a status get 0); the table itself stays, as 00001 leaves
-- it. Admin keys become write keys.

-- +goose Up
CREATE TABLE IF NOT EXISTS user_activities (
    id               uuid                        NOT NULL,
    user_id          varchar(100),
    session_id       varchar(100),
    "timestamp"      timestamp without time zone NOT NULL,
    action           varchar(100)                NOT NULL,
    resource         varchar(100),
    resource_id      varchar(100),
    method           varchar(10)                 NOT NULL,
    endpoint         varchar(200)                NOT NULL,
    user_agent       text,
    ip_address       varchar(45),
    status_code      integer                     NOT NULL,
    response_time_ms double precision,
    error_message    text,
    extra_metadata   json,
    CONSTRAINT user_activities_pkey PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS ix_user_activities_session_id ON user_activities (session_id);
CREATE INDEX IF NOT EXISTS ix_user_activities_timestamp ON user_activities ("timestamp");
CREATE INDEX IF NOT EXISTS ix_user_activities_user_id ON user_activities (user_id);

ALTER TABLE user_activities
    ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN "timestamp" TYPE timestamptz USING "timestamp" AT TIME ZONE 'UTC',
    ALTER COLUMN "timestamp" SET DEFAULT now(),
    ALTER COLUMN status_code DROP NOT NULL,
    ALTER COLUMN extra_metadata TYPE jsonb USING extra_metadata::jsonb,
    ADD COLUMN created_at timestamptz,
    ADD COLUMN api_key_id uuid,
    ADD COLUMN api_key_name text,
    ADD COLUMN request_id varchar(128);
UPDATE user_activities SET created_at = "timestamp";
ALTER TABLE user_activities ALTER COLUMN created_at SET NOT NULL, ALTER COLUMN created_at SET DEFAULT now();

-- The list pages newest first on (created_at, id), and retention deletes
-- the oldest rows by created_at; the filters on a resource and on a key
-- walk their own rows in that order.
CREATE INDEX user_activities_created_at_idx ON user_activities (created_at, id);
CREATE INDEX user_activities_resource_idx ON user_activities (resource, resource_id, created_at, id);
CREATE INDEX user_activities_api_key_idx ON user_activities (api_key_id, created_at, id);

ALTER TABLE api_keys
    DROP CONSTRAINT api_keys_scope_check,
    ADD CONSTRAINT api_keys_scope_check CHECK (scope IN ('read', 'write', 'admin'));

-- +goose Down
UPDATE api_keys SET scope = 'write' WHERE scope = 'admin';
ALTER TABLE api_keys
    DROP CONSTRAINT api_keys_scope_check,
    ADD CONSTRAINT api_keys_scope_check CHECK (scope IN ('read', 'write'));

DROP INDEX user_activities_created_at_idx;
DROP INDEX user_activities_resource_idx;
DROP INDEX user_activities_api_key_idx;
UPDATE user_activities SET status_code = 0 WHERE status_code IS NULL;
ALTER TABLE user_activities
    DROP COLUMN created_at,
    DROP COLUMN api_key_id,
    DROP COLUMN api_key_name,
    DROP COLUMN request_id,
    ALTER COLUMN id DROP DEFAULT,
    ALTER COLUMN "timestamp" DROP DEFAULT,
    ALTER COLUMN "timestamp" TYPE timestamp USING "timestamp" AT TIME ZONE 'UTC',
    ALTER COLUMN status_code SET NOT NULL,
    ALTER COLUMN extra_metadata TYPE json USING extra_metadata::json;
