-- 00006: indexes for the list routes (keyset pagination on
-- (created_at, id), the filters of SPEC 4.4) and for foreign-key checks
-- (deleting an address must find its references without a scan).
--
-- The predecessor's partial indexes hard-coded status strings ('returned'
-- is not even a status) and two covering indexes duplicated plain ones;
-- they are replaced. Down restores them.

-- +goose Up
DROP INDEX IF EXISTS ix_shipments_active;
DROP INDEX IF EXISTS ix_shipments_failed;
DROP INDEX IF EXISTS ix_shipments_tracking_covering;
DROP INDEX IF EXISTS ix_shipment_events_covering;
DROP INDEX IF EXISTS ix_shipment_events_shipment_id;
DROP INDEX IF EXISTS ix_shipments_status_created;
DROP INDEX IF EXISTS ix_shipments_carrier_service_created;
DROP INDEX IF EXISTS ix_shipments_to_address_created;

CREATE INDEX shipments_created_at_id_idx ON shipments (created_at DESC, id DESC);
CREATE INDEX shipments_status_created_at_idx ON shipments (status, created_at DESC, id DESC);
CREATE INDEX shipments_carrier_service_created_at_idx ON shipments (carrier, service, created_at DESC);
CREATE INDEX shipments_reference_idx ON shipments (reference);
CREATE INDEX shipments_from_address_id_idx ON shipments (from_address_id);
CREATE INDEX shipments_to_address_id_idx ON shipments (to_address_id);
CREATE INDEX shipments_return_address_id_idx ON shipments (return_address_id) WHERE return_address_id IS NOT NULL;
CREATE INDEX shipments_buyer_address_id_idx ON shipments (buyer_address_id) WHERE buyer_address_id IS NOT NULL;
CREATE INDEX shipments_parcel_id_idx ON shipments (parcel_id);
CREATE INDEX shipments_customs_info_id_idx ON shipments (customs_info_id) WHERE customs_info_id IS NOT NULL;
CREATE INDEX shipment_events_shipment_id_event_datetime_idx ON shipment_events (shipment_id, event_datetime, id);
CREATE INDEX addresses_created_at_id_idx ON addresses (created_at DESC, id DESC);
CREATE INDEX addresses_country_state_city_idx ON addresses (country, state, city);
CREATE INDEX analytics_summaries_period_date_idx ON analytics_summaries (period, date);
CREATE INDEX system_metrics_created_at_id_idx ON system_metrics (created_at DESC, id DESC);

-- +goose Down
DROP INDEX system_metrics_created_at_id_idx;
DROP INDEX analytics_summaries_period_date_idx;
DROP INDEX addresses_country_state_city_idx;
DROP INDEX addresses_created_at_id_idx;
DROP INDEX shipment_events_shipment_id_event_datetime_idx;
DROP INDEX shipments_customs_info_id_idx;
DROP INDEX shipments_parcel_id_idx;
DROP INDEX shipments_buyer_address_id_idx;
DROP INDEX shipments_return_address_id_idx;
DROP INDEX shipments_to_address_id_idx;
DROP INDEX shipments_from_address_id_idx;
DROP INDEX shipments_reference_idx;
DROP INDEX shipments_carrier_service_created_at_idx;
DROP INDEX shipments_status_created_at_idx;
DROP INDEX shipments_created_at_id_idx;

CREATE INDEX ix_shipments_to_address_created ON shipments (to_address_id, created_at);
CREATE INDEX ix_shipments_carrier_service_created ON shipments (carrier, service, created_at);
CREATE INDEX ix_shipments_status_created ON shipments (status, created_at);
CREATE INDEX ix_shipment_events_shipment_id ON shipment_events (shipment_id);
CREATE INDEX ix_shipment_events_covering ON shipment_events (shipment_id, event_datetime DESC)
    INCLUDE (status, message, carrier_status);
CREATE INDEX ix_shipments_tracking_covering ON shipments (tracking_code)
    INCLUDE (status, carrier, service, updated_at);
CREATE INDEX ix_shipments_failed ON shipments (created_at DESC) WHERE status IN ('failure', 'error', 'cancelled');
CREATE INDEX ix_shipments_active ON shipments (created_at DESC)
    WHERE status NOT IN ('delivered', 'cancelled', 'returned');
