-- 00002: the database owns time. Every timestamp becomes timestamptz, the
-- stored naive values read as UTC (the predecessor wrote datetime.utcnow()),
-- whatever this session's or the database's TimeZone is: "col AT TIME ZONE
-- 'UTC'" interprets a naive value in UTC explicitly. created_at, updated_at
-- and the time-series columns default to now(); BEFORE UPDATE triggers keep
-- updated_at current for every client of the database.
--
-- The predecessor's three materialized views read shipments' and
-- addresses' columns, which blocks ALTER COLUMN ... TYPE. Nothing reads or
-- refreshes them (refresh_analytics_views() always failed), and Waybill
-- computes analytics from the tables, so they are dropped with that
-- function. Down does not recreate them. See docs/adoption.md.

-- +goose Up
DROP FUNCTION IF EXISTS refresh_analytics_views();
DROP MATERIALIZED VIEW IF EXISTS mv_top_routes;
DROP MATERIALIZED VIEW IF EXISTS mv_carrier_performance;
DROP MATERIALIZED VIEW IF EXISTS mv_daily_shipment_analytics;

ALTER TABLE addresses
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN updated_at TYPE timestamptz USING updated_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE parcels
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN updated_at TYPE timestamptz USING updated_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE customs_infos
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN updated_at TYPE timestamptz USING updated_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE shipments
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN updated_at TYPE timestamptz USING updated_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at SET DEFAULT now(),
    ALTER COLUMN delivery_date TYPE timestamptz USING delivery_date AT TIME ZONE 'UTC',
    ALTER COLUMN est_delivery_date TYPE timestamptz USING est_delivery_date AT TIME ZONE 'UTC';
ALTER TABLE shipment_events
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN event_datetime TYPE timestamptz USING event_datetime AT TIME ZONE 'UTC',
    ALTER COLUMN event_datetime SET DEFAULT now();
ALTER TABLE shipment_metrics
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE analytics_summaries
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE carrier_performance
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE system_metrics
    ALTER COLUMN "timestamp" TYPE timestamptz USING "timestamp" AT TIME ZONE 'UTC',
    ALTER COLUMN "timestamp" SET DEFAULT now();

-- Every table has created_at; system_metrics had only its "timestamp".
ALTER TABLE system_metrics ADD COLUMN created_at timestamptz;
UPDATE system_metrics SET created_at = "timestamp";
ALTER TABLE system_metrics ALTER COLUMN created_at SET NOT NULL, ALTER COLUMN created_at SET DEFAULT now();

-- Tables whose rows change get updated_at, starting at created_at.
ALTER TABLE shipment_metrics ADD COLUMN updated_at timestamptz;
UPDATE shipment_metrics SET updated_at = created_at;
ALTER TABLE shipment_metrics ALTER COLUMN updated_at SET NOT NULL, ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE analytics_summaries ADD COLUMN updated_at timestamptz;
UPDATE analytics_summaries SET updated_at = created_at;
ALTER TABLE analytics_summaries ALTER COLUMN updated_at SET NOT NULL, ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE carrier_performance ADD COLUMN updated_at timestamptz;
UPDATE carrier_performance SET updated_at = created_at;
ALTER TABLE carrier_performance ALTER COLUMN updated_at SET NOT NULL, ALTER COLUMN updated_at SET DEFAULT now();

-- +goose StatementBegin
CREATE FUNCTION waybill_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER addresses_set_updated_at BEFORE UPDATE ON addresses FOR EACH ROW EXECUTE FUNCTION waybill_set_updated_at();
CREATE TRIGGER parcels_set_updated_at BEFORE UPDATE ON parcels FOR EACH ROW EXECUTE FUNCTION waybill_set_updated_at();
CREATE TRIGGER customs_infos_set_updated_at BEFORE UPDATE ON customs_infos FOR EACH ROW EXECUTE FUNCTION waybill_set_updated_at();
CREATE TRIGGER shipments_set_updated_at BEFORE UPDATE ON shipments FOR EACH ROW EXECUTE FUNCTION waybill_set_updated_at();
CREATE TRIGGER shipment_metrics_set_updated_at BEFORE UPDATE ON shipment_metrics FOR EACH ROW EXECUTE FUNCTION waybill_set_updated_at();
CREATE TRIGGER analytics_summaries_set_updated_at BEFORE UPDATE ON analytics_summaries FOR EACH ROW EXECUTE FUNCTION waybill_set_updated_at();
CREATE TRIGGER carrier_performance_set_updated_at BEFORE UPDATE ON carrier_performance FOR EACH ROW EXECUTE FUNCTION waybill_set_updated_at();

-- +goose Down
DROP TRIGGER IF EXISTS addresses_set_updated_at ON addresses;
DROP TRIGGER IF EXISTS parcels_set_updated_at ON parcels;
DROP TRIGGER IF EXISTS customs_infos_set_updated_at ON customs_infos;
DROP TRIGGER IF EXISTS shipments_set_updated_at ON shipments;
DROP TRIGGER IF EXISTS shipment_metrics_set_updated_at ON shipment_metrics;
DROP TRIGGER IF EXISTS analytics_summaries_set_updated_at ON analytics_summaries;
DROP TRIGGER IF EXISTS carrier_performance_set_updated_at ON carrier_performance;
DROP FUNCTION IF EXISTS waybill_set_updated_at();
ALTER TABLE shipment_metrics DROP COLUMN updated_at;
ALTER TABLE analytics_summaries DROP COLUMN updated_at;
ALTER TABLE carrier_performance DROP COLUMN updated_at;
ALTER TABLE system_metrics DROP COLUMN created_at;
ALTER TABLE addresses
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN updated_at TYPE timestamp USING updated_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE parcels
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN updated_at TYPE timestamp USING updated_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE customs_infos
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN updated_at TYPE timestamp USING updated_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE shipments
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN updated_at TYPE timestamp USING updated_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at DROP DEFAULT,
    ALTER COLUMN delivery_date TYPE timestamp USING delivery_date AT TIME ZONE 'UTC',
    ALTER COLUMN est_delivery_date TYPE timestamp USING est_delivery_date AT TIME ZONE 'UTC';
ALTER TABLE shipment_events
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN event_datetime TYPE timestamp USING event_datetime AT TIME ZONE 'UTC',
    ALTER COLUMN event_datetime DROP DEFAULT;
ALTER TABLE shipment_metrics
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE analytics_summaries
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE carrier_performance
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE system_metrics
    ALTER COLUMN "timestamp" TYPE timestamp USING "timestamp" AT TIME ZONE 'UTC',
    ALTER COLUMN "timestamp" DROP DEFAULT;
