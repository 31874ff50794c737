-- 00008: the time-ordered indexes become ascending. Rows arrive in time
-- order, so a descending index takes every insert at its leftmost leaf,
-- where B-tree pages split in half and stay half empty (at a million
-- shipments they were twice the size of ascending ones); an ascending
-- index takes them at its rightmost leaf, which PostgreSQL fills and
-- appends to cheaply. Keyset pages, newest first, scan them backwards just
-- as fast.

-- +goose Up
DROP INDEX shipments_created_at_id_idx;
CREATE INDEX shipments_created_at_id_idx ON shipments (created_at, id);
DROP INDEX shipments_status_created_at_idx;
CREATE INDEX shipments_status_created_at_idx ON shipments (status, created_at, id);
DROP INDEX shipments_carrier_service_created_at_idx;
CREATE INDEX shipments_carrier_service_created_at_idx ON shipments (carrier, service, created_at);
DROP INDEX addresses_created_at_id_idx;
CREATE INDEX addresses_created_at_id_idx ON addresses (created_at, id);
DROP INDEX system_metrics_created_at_id_idx;
CREATE INDEX system_metrics_created_at_id_idx ON system_metrics (created_at, id);

-- +goose Down
DROP INDEX system_metrics_created_at_id_idx;
CREATE INDEX system_metrics_created_at_id_idx ON system_metrics (created_at DESC, id DESC);
DROP INDEX addresses_created_at_id_idx;
CREATE INDEX addresses_created_at_id_idx ON addresses (created_at DESC, id DESC);
DROP INDEX shipments_carrier_service_created_at_idx;
CREATE INDEX shipments_carrier_service_created_at_idx ON shipments (carrier, service, created_at DESC);
DROP INDEX shipments_status_created_at_idx;
CREATE INDEX shipments_status_created_at_idx ON shipments (status, created_at DESC, id DESC);
DROP INDEX shipments_created_at_id_idx;
CREATE INDEX shipments_created_at_id_idx ON shipments (created_at DESC, id DESC);
