-- 00003: money becomes exact, numeric(12,2). A double precision value is
-- converted through its shortest decimal text (float8 -> numeric gives the
-- same digits as float8's text output: 12.1, never 12.0999999999999996),
-- then rounded half away from zero to the cent.

-- +goose Up
ALTER TABLE shipments
    ALTER COLUMN base_cost TYPE numeric(12,2) USING round(base_cost::numeric, 2),
    ALTER COLUMN total_cost TYPE numeric(12,2) USING round(total_cost::numeric, 2);
ALTER TABLE shipment_metrics
    ALTER COLUMN base_rate TYPE numeric(12,2) USING round(base_rate::numeric, 2),
    ALTER COLUMN fuel_surcharge TYPE numeric(12,2) USING round(fuel_surcharge::numeric, 2),
    ALTER COLUMN insurance_cost TYPE numeric(12,2) USING round(insurance_cost::numeric, 2),
    ALTER COLUMN tracking_cost TYPE numeric(12,2) USING round(tracking_cost::numeric, 2),
    ALTER COLUMN other_fees TYPE numeric(12,2) USING round(other_fees::numeric, 2),
    ALTER COLUMN total_cost TYPE numeric(12,2) USING round(total_cost::numeric, 2);
ALTER TABLE analytics_summaries
    ALTER COLUMN total_cost TYPE numeric(12,2) USING round(total_cost::numeric, 2),
    ALTER COLUMN average_cost_per_shipment TYPE numeric(12,2) USING round(average_cost_per_shipment::numeric, 2);
ALTER TABLE carrier_performance
    ALTER COLUMN total_cost TYPE numeric(12,2) USING round(total_cost::numeric, 2),
    ALTER COLUMN average_cost TYPE numeric(12,2) USING round(average_cost::numeric, 2);

-- +goose Down
ALTER TABLE shipments
    ALTER COLUMN base_cost TYPE double precision USING base_cost::double precision,
    ALTER COLUMN total_cost TYPE double precision USING total_cost::double precision;
ALTER TABLE shipment_metrics
    ALTER COLUMN base_rate TYPE double precision USING base_rate::double precision,
    ALTER COLUMN fuel_surcharge TYPE double precision USING fuel_surcharge::double precision,
    ALTER COLUMN insurance_cost TYPE double precision USING insurance_cost::double precision,
    ALTER COLUMN tracking_cost TYPE double precision USING tracking_cost::double precision,
    ALTER COLUMN other_fees TYPE double precision USING other_fees::double precision,
    ALTER COLUMN total_cost TYPE double precision USING total_cost::double precision;
ALTER TABLE analytics_summaries
    ALTER COLUMN total_cost TYPE double precision USING total_cost::double precision,
    ALTER COLUMN average_cost_per_shipment TYPE double precision USING average_cost_per_shipment::double precision;
ALTER TABLE carrier_performance
    ALTER COLUMN total_cost TYPE double precision USING total_cost::double precision,
    ALTER COLUMN average_cost TYPE double precision USING average_cost::double precision;
