-- 00005: Waybill's own tables. API keys are stored as the SHA-256 of the
-- key, never the key. Idempotency records keep a POST's first completed
-- response for 24 hours, scoped to the API key that sent it; a row whose
-- status_code is NULL is a request still in flight.

-- +goose Up
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL CHECK (name <> ''),
    scope        text NOT NULL CHECK (scope IN ('read', 'write')),
    key_hash     bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE TRIGGER api_keys_set_updated_at BEFORE UPDATE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION waybill_set_updated_at();

CREATE TABLE idempotency_keys (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    api_key_id       uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    key              text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    method           text NOT NULL,
    path             text NOT NULL,
    request_hash     bytea NOT NULL,
    status_code      integer,
    response_headers jsonb,
    response_body    bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    UNIQUE (api_key_id, key)
);
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
CREATE TRIGGER idempotency_keys_set_updated_at BEFORE UPDATE ON idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION waybill_set_updated_at();

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE api_keys;
