-- 00010: batch imports of shipments (POST /v1/batches).
--
-- batch_operations is the predecessor's table: a predecessor database has
-- it (naive timestamps, json, no defaults), a fresh one gets it here in the
-- same shape, and both are then converted as 00002..00004 convert the
-- others: timestamptz read as UTC, jsonb, defaults, an updated_at kept by
-- the trigger, CHECKs (NOT VALID where old rows break them). Waybill adds a
-- lease (lease_token, lease_expires_at): the instance processing a batch
-- holds it and renews it with every chunk, so a batch whose instance died
-- is taken over once the lease runs out.
--
-- batch_items holds the rows of a batch not yet processed, each as the
-- JSON body of a shipment create; a chunk's rows are deleted in the
-- transaction that inserts their shipments, so a batch resumes where it
-- stopped and no row is imported twice.
--
-- status widens to varchar(30) for 'completed_with_errors'.
--
-- Down removes batch_items and Waybill's additions and restores the
-- predecessor's shape ('completed_with_errors' becomes 'completed': its
-- failed_items still say how many rows failed); the table itself stays,
-- as 00001 leaves it.

-- +goose Up
CREATE TABLE IF NOT EXISTS batch_operations (
    id                    uuid                        NOT NULL,
    batch_id              varchar(50)                 NOT NULL,
    operation_type        varchar(50)                 NOT NULL,
    created_at            timestamp without time zone NOT NULL,
    started_at            timestamp without time zone,
    completed_at          timestamp without time zone,
    status                varchar(20)                 NOT NULL,
    total_items           integer                     NOT NULL,
    processed_items       integer                     NOT NULL,
    successful_items      integer                     NOT NULL,
    failed_items          integer                     NOT NULL,
    total_processing_time double precision,
    avg_item_time         double precision,
    errors                json,
    user_id               varchar(100),
    source                varchar(50),
    parameters            json,
    CONSTRAINT batch_operations_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS ix_batch_operations_batch_id ON batch_operations (batch_id);

ALTER TABLE batch_operations
    ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN batch_id SET DEFAULT 'batch_' || replace(gen_random_uuid()::text, '-', ''),
    ALTER COLUMN operation_type SET DEFAULT 'shipment_import',
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN started_at TYPE timestamptz USING started_at AT TIME ZONE 'UTC',
    ALTER COLUMN completed_at TYPE timestamptz USING completed_at AT TIME ZONE 'UTC',
    ALTER COLUMN status TYPE varchar(30),
    ALTER COLUMN status SET DEFAULT 'pending',
    ALTER COLUMN total_items SET DEFAULT 0,
    ALTER COLUMN processed_items SET DEFAULT 0,
    ALTER COLUMN successful_items SET DEFAULT 0,
    ALTER COLUMN failed_items SET DEFAULT 0,
    ALTER COLUMN errors TYPE jsonb USING errors::jsonb,
    ALTER COLUMN parameters TYPE jsonb USING parameters::jsonb,
    ADD COLUMN updated_at timestamptz,
    ADD COLUMN lease_token uuid,
    ADD COLUMN lease_expires_at timestamptz;
UPDATE batch_operations SET updated_at = coalesce(completed_at, started_at, created_at);
ALTER TABLE batch_operations ALTER COLUMN updated_at SET NOT NULL, ALTER COLUMN updated_at SET DEFAULT now();
CREATE TRIGGER batch_operations_set_updated_at BEFORE UPDATE ON batch_operations
    FOR EACH ROW EXECUTE FUNCTION waybill_set_updated_at();

ALTER TABLE batch_operations
    ADD CONSTRAINT batch_operations_status_check CHECK (status IN ('pending', 'processing', 'completed',
        'completed_with_errors', 'failed')) NOT VALID,
    ADD CONSTRAINT batch_operations_counts_check CHECK (total_items >= 0 AND processed_items >= 0
        AND successful_items >= 0 AND failed_items >= 0) NOT VALID;
-- +goose StatementBegin
DO $$
DECLARE
    c text;
BEGIN
    FOREACH c IN ARRAY ARRAY['batch_operations_status_check', 'batch_operations_counts_check'] LOOP
        BEGIN
            EXECUTE format('ALTER TABLE batch_operations VALIDATE CONSTRAINT %I', c);
        EXCEPTION WHEN check_violation THEN
            RAISE NOTICE 'waybill: % kept NOT VALID: existing rows of batch_operations violate it', c;
        END;
    END LOOP;
END
$$;
-- +goose StatementEnd

-- The batches a worker may have to take up: few, and found without a scan.
CREATE INDEX batch_operations_open_idx ON batch_operations (created_at)
    WHERE status IN ('pending', 'processing');

CREATE TABLE batch_items (
    batch_operation_id uuid    NOT NULL REFERENCES batch_operations (id) ON DELETE CASCADE,
    item_row           integer NOT NULL CHECK (item_row >= 1),
    shipment           jsonb   NOT NULL,
    PRIMARY KEY (batch_operation_id, item_row)
);

-- +goose Down
DROP TABLE batch_items;
DROP INDEX batch_operations_open_idx;
DROP TRIGGER batch_operations_set_updated_at ON batch_operations;
ALTER TABLE batch_operations
    DROP CONSTRAINT batch_operations_status_check,
    DROP CONSTRAINT batch_operations_counts_check,
    DROP COLUMN updated_at,
    DROP COLUMN lease_token,
    DROP COLUMN lease_expires_at,
    ALTER COLUMN id DROP DEFAULT,
    ALTER COLUMN batch_id DROP DEFAULT,
    ALTER COLUMN operation_type DROP DEFAULT,
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN started_at TYPE timestamp USING started_at AT TIME ZONE 'UTC',
    ALTER COLUMN completed_at TYPE timestamp USING completed_at AT TIME ZONE 'UTC',
    ALTER COLUMN status TYPE varchar(20)
        USING CASE status WHEN 'completed_with_errors' THEN 'completed' ELSE status END,
    ALTER COLUMN status DROP DEFAULT,
    ALTER COLUMN total_items DROP DEFAULT,
    ALTER COLUMN processed_items DROP DEFAULT,
    ALTER COLUMN successful_items DROP DEFAULT,
    ALTER COLUMN failed_items DROP DEFAULT,
    ALTER COLUMN errors TYPE json USING errors::json,
    ALTER COLUMN parameters TYPE json USING parameters::json;
