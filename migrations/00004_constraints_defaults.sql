-- 00004: the rules the predecessor kept only in Python move into the
-- database, so every client of it gets them:
--   * ids default to gen_random_uuid(); business defaults (status 'unknown',
--     currency 'USD', ...) and zero counters become column defaults;
--   * json becomes jsonb (string values such as "12.10" stay strings);
--   * CHECK constraints for status, mode, period, weight and score;
--   * events and metrics go with their shipment (ON DELETE CASCADE);
--   * shipments.easypost_id becomes optional (unique when present);
--   * analytics rows are unique per (date, period, currency) and
--     (carrier, service, date, currency).
--
-- Adoption never fails on old rows: each CHECK is added NOT VALID and then
-- validated only if every existing row passes; where some do not, it stays
-- NOT VALID (enforced for new and changed rows) and a NOTICE says so.
-- Duplicate analytics rows are moved, not deleted, to
-- legacy_duplicate_analytics_summaries / _carrier_performance.

-- +goose Up
ALTER TABLE addresses ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN country SET DEFAULT 'US',
    ALTER COLUMN verifications TYPE jsonb USING verifications::jsonb;
ALTER TABLE parcels ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN mass_unit SET DEFAULT 'oz',
    ALTER COLUMN distance_unit SET DEFAULT 'in';
ALTER TABLE customs_infos ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN contents_type SET DEFAULT 'merchandise',
    ALTER COLUMN customs_certify SET DEFAULT true,
    ALTER COLUMN non_delivery_option SET DEFAULT 'return',
    ALTER COLUMN restriction_type SET DEFAULT 'none',
    ALTER COLUMN customs_items TYPE jsonb USING customs_items::jsonb;
ALTER TABLE shipments ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN easypost_id DROP NOT NULL,
    ALTER COLUMN status SET DEFAULT 'unknown',
    ALTER COLUMN mode SET DEFAULT 'test',
    ALTER COLUMN currency SET DEFAULT 'USD',
    ALTER COLUMN rates_data TYPE jsonb USING rates_data::jsonb,
    ALTER COLUMN tracking_details TYPE jsonb USING tracking_details::jsonb,
    ALTER COLUMN extra_metadata TYPE jsonb USING extra_metadata::jsonb;
ALTER TABLE shipment_events ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN tracking_location TYPE jsonb USING tracking_location::jsonb;
ALTER TABLE shipment_metrics ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN currency SET DEFAULT 'USD',
    ALTER COLUMN tracking_updates_count SET DEFAULT 0,
    ALTER COLUMN exception_events_count SET DEFAULT 0,
    ALTER COLUMN delivery_attempts SET DEFAULT 0;
ALTER TABLE analytics_summaries ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN total_shipments SET DEFAULT 0,
    ALTER COLUMN successful_shipments SET DEFAULT 0,
    ALTER COLUMN failed_shipments SET DEFAULT 0,
    ALTER COLUMN total_cost SET DEFAULT 0,
    ALTER COLUMN currency SET DEFAULT 'USD',
    ALTER COLUMN carrier_stats TYPE jsonb USING carrier_stats::jsonb,
    ALTER COLUMN top_destinations TYPE jsonb USING top_destinations::jsonb,
    ALTER COLUMN domestic_vs_international TYPE jsonb USING domestic_vs_international::jsonb,
    ALTER COLUMN service_breakdown TYPE jsonb USING service_breakdown::jsonb;
ALTER TABLE carrier_performance ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN total_shipments SET DEFAULT 0,
    ALTER COLUMN on_time_deliveries SET DEFAULT 0,
    ALTER COLUMN delayed_deliveries SET DEFAULT 0,
    ALTER COLUMN failed_deliveries SET DEFAULT 0,
    ALTER COLUMN total_cost SET DEFAULT 0,
    ALTER COLUMN currency SET DEFAULT 'USD';
ALTER TABLE system_metrics ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN active_connections SET DEFAULT 0,
    ALTER COLUMN total_requests SET DEFAULT 0,
    ALTER COLUMN db_connections_active SET DEFAULT 0,
    ALTER COLUMN db_connections_idle SET DEFAULT 0,
    ALTER COLUMN db_query_count SET DEFAULT 0,
    ALTER COLUMN db_slow_queries SET DEFAULT 0,
    ALTER COLUMN easypost_requests SET DEFAULT 0,
    ALTER COLUMN easypost_errors SET DEFAULT 0;

ALTER TABLE shipments
    ADD CONSTRAINT shipments_status_check CHECK (status IN ('unknown', 'pre_transit', 'in_transit',
        'out_for_delivery', 'delivered', 'available_for_pickup', 'return_to_sender', 'failure',
        'cancelled', 'error')) NOT VALID,
    ADD CONSTRAINT shipments_mode_check CHECK (mode IN ('test', 'production')) NOT VALID;
ALTER TABLE shipment_events
    ADD CONSTRAINT shipment_events_status_check CHECK (status IN ('unknown', 'pre_transit', 'in_transit',
        'out_for_delivery', 'delivered', 'available_for_pickup', 'return_to_sender', 'failure',
        'cancelled', 'error')) NOT VALID;
ALTER TABLE parcels ADD CONSTRAINT parcels_weight_check CHECK (weight > 0) NOT VALID;
ALTER TABLE analytics_summaries
    ADD CONSTRAINT analytics_summaries_period_check CHECK (period IN ('daily', 'weekly', 'monthly')) NOT VALID;
ALTER TABLE carrier_performance
    ADD CONSTRAINT carrier_performance_reliability_score_check
        CHECK (reliability_score BETWEEN 0 AND 100) NOT VALID;

-- +goose StatementBegin
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
        WHERE contype = 'c' AND NOT convalidated AND conname IN (
            'shipments_status_check', 'shipments_mode_check', 'shipment_events_status_check',
            'parcels_weight_check', 'analytics_summaries_period_check',
            'carrier_performance_reliability_score_check')
    LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', c.tbl, c.conname);
        EXCEPTION WHEN check_violation THEN
            RAISE NOTICE 'waybill: % kept NOT VALID: existing rows of % violate it', c.conname, c.tbl;
        END;
    END LOOP;
END
$$;
-- +goose StatementEnd

-- Events and metrics belong to their shipment. The predecessor's foreign
-- keys are found by column, not by name.
-- +goose StatementBegin
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT con.conrelid::regclass AS tbl, con.conname FROM pg_constraint con
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
        WHERE con.contype = 'f' AND a.attname = 'shipment_id'
          AND con.conrelid IN ('shipment_events'::regclass, 'shipment_metrics'::regclass)
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
    END LOOP;
END
$$;
-- +goose StatementEnd
ALTER TABLE shipment_events ADD CONSTRAINT shipment_events_shipment_id_fkey
    FOREIGN KEY (shipment_id) REFERENCES shipments (id) ON DELETE CASCADE;
ALTER TABLE shipment_metrics ADD CONSTRAINT shipment_metrics_shipment_id_fkey
    FOREIGN KEY (shipment_id) REFERENCES shipments (id) ON DELETE CASCADE;

-- Keep the newest row of each duplicate group; move the others aside.
CREATE TABLE legacy_duplicate_analytics_summaries (LIKE analytics_summaries);
WITH ranked AS (
    SELECT id, row_number() OVER (PARTITION BY date, period, currency ORDER BY created_at DESC, id DESC) AS n
    FROM analytics_summaries
), moved AS (
    DELETE FROM analytics_summaries a USING ranked r WHERE a.id = r.id AND r.n > 1 RETURNING a.*
)
INSERT INTO legacy_duplicate_analytics_summaries SELECT * FROM moved;
CREATE TABLE legacy_duplicate_carrier_performance (LIKE carrier_performance);
WITH ranked AS (
    SELECT id, row_number() OVER (PARTITION BY carrier, service, date, currency ORDER BY created_at DESC, id DESC) AS n
    FROM carrier_performance
), moved AS (
    DELETE FROM carrier_performance c USING ranked r WHERE c.id = r.id AND r.n > 1 RETURNING c.*
)
INSERT INTO legacy_duplicate_carrier_performance SELECT * FROM moved;
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM legacy_duplicate_analytics_summaries) THEN
        DROP TABLE legacy_duplicate_analytics_summaries;
    ELSE
        RAISE NOTICE 'waybill: duplicate analytics_summaries rows moved to legacy_duplicate_analytics_summaries';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM legacy_duplicate_carrier_performance) THEN
        DROP TABLE legacy_duplicate_carrier_performance;
    ELSE
        RAISE NOTICE 'waybill: duplicate carrier_performance rows moved to legacy_duplicate_carrier_performance';
    END IF;
END
$$;
-- +goose StatementEnd
ALTER TABLE analytics_summaries
    ADD CONSTRAINT analytics_summaries_date_period_currency_key UNIQUE (date, period, currency);
ALTER TABLE carrier_performance
    ADD CONSTRAINT carrier_performance_carrier_service_date_currency_key UNIQUE (carrier, service, date, currency);

-- +goose Down
ALTER TABLE carrier_performance DROP CONSTRAINT carrier_performance_carrier_service_date_currency_key;
ALTER TABLE analytics_summaries DROP CONSTRAINT analytics_summaries_date_period_currency_key;
-- Rows moved aside come back; the tables that held them go.
-- +goose StatementBegin
DO $$
BEGIN
    IF to_regclass('legacy_duplicate_analytics_summaries') IS NOT NULL THEN
        INSERT INTO analytics_summaries SELECT * FROM legacy_duplicate_analytics_summaries;
        DROP TABLE legacy_duplicate_analytics_summaries;
    END IF;
    IF to_regclass('legacy_duplicate_carrier_performance') IS NOT NULL THEN
        INSERT INTO carrier_performance SELECT * FROM legacy_duplicate_carrier_performance;
        DROP TABLE legacy_duplicate_carrier_performance;
    END IF;
END
$$;
-- +goose StatementEnd
ALTER TABLE shipment_metrics DROP CONSTRAINT shipment_metrics_shipment_id_fkey,
    ADD CONSTRAINT shipment_metrics_shipment_id_fkey FOREIGN KEY (shipment_id) REFERENCES shipments (id);
ALTER TABLE shipment_events DROP CONSTRAINT shipment_events_shipment_id_fkey,
    ADD CONSTRAINT shipment_events_shipment_id_fkey FOREIGN KEY (shipment_id) REFERENCES shipments (id);
ALTER TABLE carrier_performance DROP CONSTRAINT carrier_performance_reliability_score_check;
ALTER TABLE analytics_summaries DROP CONSTRAINT analytics_summaries_period_check;
ALTER TABLE parcels DROP CONSTRAINT parcels_weight_check;
ALTER TABLE shipment_events DROP CONSTRAINT shipment_events_status_check;
ALTER TABLE shipments DROP CONSTRAINT shipments_mode_check, DROP CONSTRAINT shipments_status_check;

ALTER TABLE system_metrics ALTER COLUMN id DROP DEFAULT,
    ALTER COLUMN active_connections DROP DEFAULT,
    ALTER COLUMN total_requests DROP DEFAULT,
    ALTER COLUMN db_connections_active DROP DEFAULT,
    ALTER COLUMN db_connections_idle DROP DEFAULT,
    ALTER COLUMN db_query_count DROP DEFAULT,
    ALTER COLUMN db_slow_queries DROP DEFAULT,
    ALTER COLUMN easypost_requests DROP DEFAULT,
    ALTER COLUMN easypost_errors DROP DEFAULT;
ALTER TABLE carrier_performance ALTER COLUMN id DROP DEFAULT,
    ALTER COLUMN total_shipments DROP DEFAULT,
    ALTER COLUMN on_time_deliveries DROP DEFAULT,
    ALTER COLUMN delayed_deliveries DROP DEFAULT,
    ALTER COLUMN failed_deliveries DROP DEFAULT,
    ALTER COLUMN total_cost DROP DEFAULT,
    ALTER COLUMN currency DROP DEFAULT;
ALTER TABLE analytics_summaries ALTER COLUMN id DROP DEFAULT,
    ALTER COLUMN total_shipments DROP DEFAULT,
    ALTER COLUMN successful_shipments DROP DEFAULT,
    ALTER COLUMN failed_shipments DROP DEFAULT,
    ALTER COLUMN total_cost DROP DEFAULT,
    ALTER COLUMN currency DROP DEFAULT,
    ALTER COLUMN carrier_stats TYPE json USING carrier_stats::json,
    ALTER COLUMN top_destinations TYPE json USING top_destinations::json,
    ALTER COLUMN domestic_vs_international TYPE json USING domestic_vs_international::json,
    ALTER COLUMN service_breakdown TYPE json USING service_breakdown::json;
ALTER TABLE shipment_metrics ALTER COLUMN id DROP DEFAULT,
    ALTER COLUMN currency DROP DEFAULT,
    ALTER COLUMN tracking_updates_count DROP DEFAULT,
    ALTER COLUMN exception_events_count DROP DEFAULT,
    ALTER COLUMN delivery_attempts DROP DEFAULT;
ALTER TABLE shipment_events ALTER COLUMN id DROP DEFAULT,
    ALTER COLUMN tracking_location TYPE json USING tracking_location::json;
-- easypost_id stays nullable: rows Waybill created without one would
-- otherwise make the down migration fail.
ALTER TABLE shipments ALTER COLUMN id DROP DEFAULT,
    ALTER COLUMN status DROP DEFAULT,
    ALTER COLUMN mode DROP DEFAULT,
    ALTER COLUMN currency DROP DEFAULT,
    ALTER COLUMN rates_data TYPE json USING rates_data::json,
    ALTER COLUMN tracking_details TYPE json USING tracking_details::json,
    ALTER COLUMN extra_metadata TYPE json USING extra_metadata::json;
ALTER TABLE customs_infos ALTER COLUMN id DROP DEFAULT,
    ALTER COLUMN contents_type DROP DEFAULT,
    ALTER COLUMN customs_certify DROP DEFAULT,
    ALTER COLUMN non_delivery_option DROP DEFAULT,
    ALTER COLUMN restriction_type DROP DEFAULT,
    ALTER COLUMN customs_items TYPE json USING customs_items::json;
ALTER TABLE parcels ALTER COLUMN id DROP DEFAULT,
    ALTER COLUMN mass_unit DROP DEFAULT,
    ALTER COLUMN distance_unit DROP DEFAULT;
ALTER TABLE addresses ALTER COLUMN id DROP DEFAULT,
    ALTER COLUMN country DROP DEFAULT,
    ALTER COLUMN verifications TYPE json USING verifications::json;
