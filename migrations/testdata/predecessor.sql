-- predecessor.sql
-- Rebuilds the schema of the Python predecessor (easypost-mcp-project) as it
-- stands at Alembic head fc2aec2ac737, reached through the chain
--   7e2202dec93c -> 72c02b9d8f35 -> 41963d524981 -> 73e8f9a2b1c4
--   -> 048236ac54f8 -> fc2aec2ac737
-- Target: PostgreSQL 15, starting from an empty database.
-- Run with: psql -v ON_ERROR_STOP=1 -d <db> -f predecessor.sql
--
-- Hand-written DDL from the facts in schema.md. Constraint and index names are
-- the ones PostgreSQL/Alembic produce (no naming convention was configured
-- in the predecessor, so PKs are <table>_pkey, FKs <table>_<col>_fkey, and the
-- one unique constraint is shipment_metrics_shipment_id_key).
-- Id columns have no server default; created_at/updated_at have no server
-- default (the predecessor filled them in the application).

BEGIN;

-- ---------------------------------------------------------------------------
-- Extension (added by 73e8f9a2b1c4; never actually used by any column)
-- ---------------------------------------------------------------------------
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";

-- ---------------------------------------------------------------------------
-- Tables from 72c02b9d8f35 (same creation order as the migration)
-- ---------------------------------------------------------------------------

CREATE TABLE addresses (
    id               uuid                        NOT NULL,
    easypost_id      varchar(50),
    created_at       timestamp without time zone NOT NULL,
    updated_at       timestamp without time zone NOT NULL,
    name             varchar(100),
    company          varchar(100),
    street1          varchar(200)                NOT NULL,
    street2          varchar(200),
    city             varchar(100)                NOT NULL,
    state            varchar(50),
    zip              varchar(20)                 NOT NULL,
    country          varchar(2)                  NOT NULL,
    phone            varchar(20),
    email            varchar(200),
    verifications    json,
    is_residential   boolean,
    carrier_facility varchar(50),
    federal_tax_id   varchar(20),
    state_tax_id     varchar(20),
    CONSTRAINT addresses_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_addresses_easypost_id ON addresses (easypost_id);

CREATE TABLE analytics_summaries (
    id                        uuid                        NOT NULL,
    date                      date                        NOT NULL,
    period                    varchar(20)                 NOT NULL,
    created_at                timestamp without time zone NOT NULL,
    total_shipments           integer                     NOT NULL,
    successful_shipments      integer                     NOT NULL,
    failed_shipments          integer                     NOT NULL,
    total_cost                double precision            NOT NULL,
    average_cost_per_shipment double precision,
    currency                  varchar(3)                  NOT NULL,
    average_delivery_days     double precision,
    on_time_delivery_rate     double precision,
    carrier_stats             json,
    top_destinations          json,
    domestic_vs_international json,
    service_breakdown         json,
    CONSTRAINT analytics_summaries_pkey PRIMARY KEY (id)
);
CREATE INDEX ix_analytics_summaries_date ON analytics_summaries (date);

CREATE TABLE batch_operations (
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
CREATE UNIQUE INDEX ix_batch_operations_batch_id ON batch_operations (batch_id);

CREATE TABLE carrier_performance (
    id                    uuid                        NOT NULL,
    carrier               varchar(50)                 NOT NULL,
    service               varchar(50)                 NOT NULL,
    date                  date                        NOT NULL,
    created_at            timestamp without time zone NOT NULL,
    total_shipments       integer                     NOT NULL,
    on_time_deliveries    integer                     NOT NULL,
    delayed_deliveries    integer                     NOT NULL,
    failed_deliveries     integer                     NOT NULL,
    total_cost            double precision            NOT NULL,
    average_cost          double precision,
    currency              varchar(3)                  NOT NULL,
    average_delivery_days double precision,
    min_delivery_days     integer,
    max_delivery_days     integer,
    on_time_rate          double precision,
    reliability_score     double precision,
    CONSTRAINT carrier_performance_pkey PRIMARY KEY (id)
);
CREATE INDEX ix_carrier_performance_carrier ON carrier_performance (carrier);
CREATE INDEX ix_carrier_performance_date    ON carrier_performance (date);
CREATE INDEX ix_carrier_performance_service ON carrier_performance (service);

CREATE TABLE customs_infos (
    id                   uuid                        NOT NULL,
    easypost_id          varchar(50),
    created_at           timestamp without time zone NOT NULL,
    updated_at           timestamp without time zone NOT NULL,
    contents_type        varchar(50)                 NOT NULL,
    contents_explanation text,
    customs_certify      boolean                     NOT NULL,
    customs_signer       varchar(100),
    non_delivery_option  varchar(20)                 NOT NULL,
    restriction_type     varchar(20)                 NOT NULL,
    restriction_comments text,
    customs_items        json,
    eel_pfc              varchar(20),
    CONSTRAINT customs_infos_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_customs_infos_easypost_id ON customs_infos (easypost_id);

CREATE TABLE parcels (
    id                 uuid                        NOT NULL,
    easypost_id        varchar(50),
    created_at         timestamp without time zone NOT NULL,
    updated_at         timestamp without time zone NOT NULL,
    length             double precision,
    width              double precision,
    height             double precision,
    weight             double precision            NOT NULL,
    predefined_package varchar(50),
    mass_unit          varchar(10)                 NOT NULL,
    distance_unit      varchar(10)                 NOT NULL,
    CONSTRAINT parcels_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_parcels_easypost_id ON parcels (easypost_id);

CREATE TABLE system_metrics (
    id                            uuid                        NOT NULL,
    "timestamp"                   timestamp without time zone NOT NULL,
    active_connections            integer                     NOT NULL,
    total_requests                integer                     NOT NULL,
    error_rate                    double precision,
    avg_response_time_ms          double precision,
    p95_response_time_ms          double precision,
    p99_response_time_ms          double precision,
    cpu_usage_percent             double precision,
    memory_usage_mb               double precision,
    disk_usage_percent            double precision,
    db_connections_active         integer                     NOT NULL,
    db_connections_idle           integer                     NOT NULL,
    db_query_count                integer                     NOT NULL,
    db_slow_queries               integer                     NOT NULL,
    easypost_requests             integer                     NOT NULL,
    easypost_errors               integer                     NOT NULL,
    easypost_avg_response_time_ms double precision,
    cache_hit_rate                double precision,
    cache_miss_rate               double precision,
    CONSTRAINT system_metrics_pkey PRIMARY KEY (id)
);
CREATE INDEX ix_system_metrics_timestamp ON system_metrics ("timestamp");

CREATE TABLE user_activities (
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
CREATE INDEX ix_user_activities_session_id ON user_activities (session_id);
CREATE INDEX ix_user_activities_timestamp  ON user_activities ("timestamp");
CREATE INDEX ix_user_activities_user_id    ON user_activities (user_id);

-- parcel_id: created NOT NULL in 72c02b9d8f35, relaxed to NULL in 41963d524981.
CREATE TABLE shipments (
    id                uuid                        NOT NULL,
    easypost_id       varchar(50)                 NOT NULL,
    tracking_code     varchar(100),
    status            varchar(50)                 NOT NULL,
    created_at        timestamp without time zone NOT NULL,
    updated_at        timestamp without time zone NOT NULL,
    mode              varchar(20)                 NOT NULL,
    reference         varchar(100),
    from_address_id   uuid                        NOT NULL,
    to_address_id     uuid                        NOT NULL,
    return_address_id uuid,
    buyer_address_id  uuid,
    parcel_id         uuid,
    customs_info_id   uuid,
    selected_rate_id  varchar(50),
    rates_data        json,
    base_cost         double precision,
    total_cost        double precision,
    currency          varchar(3)                  NOT NULL,
    carrier           varchar(50),
    service           varchar(50),
    delivery_days     integer,
    delivery_date     timestamp without time zone,
    tracking_details  json,
    signed_by         varchar(100),
    weight            double precision,
    est_delivery_date timestamp without time zone,
    extra_metadata    json,
    batch_id          varchar(50),
    batch_status      varchar(20),
    CONSTRAINT shipments_pkey PRIMARY KEY (id),
    CONSTRAINT shipments_buyer_address_id_fkey  FOREIGN KEY (buyer_address_id)  REFERENCES addresses (id),
    CONSTRAINT shipments_customs_info_id_fkey   FOREIGN KEY (customs_info_id)   REFERENCES customs_infos (id),
    CONSTRAINT shipments_from_address_id_fkey   FOREIGN KEY (from_address_id)   REFERENCES addresses (id),
    CONSTRAINT shipments_parcel_id_fkey         FOREIGN KEY (parcel_id)         REFERENCES parcels (id),
    CONSTRAINT shipments_return_address_id_fkey FOREIGN KEY (return_address_id) REFERENCES addresses (id),
    CONSTRAINT shipments_to_address_id_fkey     FOREIGN KEY (to_address_id)     REFERENCES addresses (id)
);
CREATE UNIQUE INDEX ix_shipments_easypost_id ON shipments (easypost_id);
CREATE INDEX ix_shipments_tracking_code ON shipments (tracking_code);

CREATE TABLE shipment_events (
    id                uuid                        NOT NULL,
    shipment_id       uuid                        NOT NULL,
    created_at        timestamp without time zone NOT NULL,
    status            varchar(50)                 NOT NULL,
    message           text,
    description       text,
    carrier_status    varchar(100),
    tracking_location json,
    event_datetime    timestamp without time zone NOT NULL,
    CONSTRAINT shipment_events_pkey PRIMARY KEY (id),
    CONSTRAINT shipment_events_shipment_id_fkey FOREIGN KEY (shipment_id) REFERENCES shipments (id)
);

CREATE TABLE shipment_metrics (
    id                        uuid                        NOT NULL,
    shipment_id               uuid                        NOT NULL,
    created_at                timestamp without time zone NOT NULL,
    creation_to_purchase_time double precision,
    purchase_to_label_time    double precision,
    total_processing_time     double precision,
    base_rate                 double precision,
    fuel_surcharge            double precision,
    insurance_cost            double precision,
    tracking_cost             double precision,
    other_fees                double precision,
    total_cost                double precision,
    currency                  varchar(3)                  NOT NULL,
    estimated_delivery_days   integer,
    actual_delivery_days      integer,
    delivery_delay_days       integer,
    was_on_time               boolean,
    tracking_updates_count    integer                     NOT NULL,
    exception_events_count    integer                     NOT NULL,
    delivery_attempts         integer                     NOT NULL,
    origin_country            varchar(2),
    destination_country       varchar(2),
    distance_km               double precision,
    carrier                   varchar(50),
    service                   varchar(50),
    package_type              varchar(50),
    weight_kg                 double precision,
    CONSTRAINT shipment_metrics_pkey PRIMARY KEY (id),
    CONSTRAINT shipment_metrics_shipment_id_fkey FOREIGN KEY (shipment_id) REFERENCES shipments (id),
    CONSTRAINT shipment_metrics_shipment_id_key UNIQUE (shipment_id)
);

-- ---------------------------------------------------------------------------
-- 41963d524981: index on shipment_events.shipment_id
-- ---------------------------------------------------------------------------
CREATE INDEX ix_shipment_events_shipment_id ON shipment_events (shipment_id);

-- ---------------------------------------------------------------------------
-- 73e8f9a2b1c4: uuid_generate_v7() + composite / covering / partial indexes
-- ---------------------------------------------------------------------------

-- Faithful reproduction of the predecessor's function. It is BROKEN and was
-- never used as a column default: it calls gen_random_bytes() (pgcrypto,
-- which was never installed -- only uuid-ossp was), and its overlay() call
-- mixes bytea with bit strings. PL/pgSQL only syntax-checks the body at
-- CREATE time, so creation succeeds; every call raises an error.
CREATE OR REPLACE FUNCTION uuid_generate_v7()
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
AS $fn$
DECLARE
    unix_ts_ms bytea;
    uuid_bytes bytea;
BEGIN
    unix_ts_ms = substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3);
    uuid_bytes = unix_ts_ms || gen_random_bytes(10);
    RETURN encode(
        overlay(uuid_bytes placing get_byte(uuid_bytes, 6)::bit(8)::bit(4) || '0111'::bit(4) from 7 for 1) ||
        overlay(uuid_bytes placing '10'::bit(2) || substring(get_byte(uuid_bytes, 8)::bit(8) from 3) from 9 for 1),
        'hex'
    )::uuid;
END
$fn$;

COMMENT ON FUNCTION uuid_generate_v7() IS
    'Generate time-ordered UUID v7 for better B-tree locality and insert performance';

-- Composite b-tree indexes
CREATE INDEX ix_shipments_carrier_service_created ON shipments (carrier, service, created_at);
CREATE INDEX ix_shipments_status_created          ON shipments (status, created_at);
CREATE INDEX ix_shipments_to_address_created      ON shipments (to_address_id, created_at);

-- Covering (INCLUDE) indexes
CREATE INDEX ix_shipments_tracking_covering
    ON shipments (tracking_code)
    INCLUDE (status, carrier, service, updated_at);

CREATE INDEX ix_shipment_events_covering
    ON shipment_events (shipment_id, event_datetime DESC)
    INCLUDE (status, message, carrier_status);

-- Partial indexes with hard-coded status strings
CREATE INDEX ix_shipments_active
    ON shipments (created_at DESC)
    WHERE status NOT IN ('delivered', 'cancelled', 'returned');

CREATE INDEX ix_shipments_failed
    ON shipments (created_at DESC)
    WHERE status IN ('failure', 'error', 'cancelled');

-- ---------------------------------------------------------------------------
-- 048236ac54f8: analytics materialized views, their indexes, refresh function
-- (created WITH DATA, as in the migration; on an empty database they are
-- simply empty but populated)
-- ---------------------------------------------------------------------------

CREATE MATERIALIZED VIEW mv_daily_shipment_analytics AS
SELECT
    date(created_at)                                                   AS date,
    carrier,
    service,
    count(*)                                                           AS shipment_count,
    sum(total_cost)                                                    AS total_cost,
    avg(total_cost)                                                    AS avg_cost,
    count(CASE WHEN status = 'delivered' THEN 1 END)                   AS delivered_count,
    count(CASE WHEN status IN ('in_transit', 'pre_transit') THEN 1 END) AS in_transit_count,
    count(CASE WHEN status IN ('failure', 'cancelled') THEN 1 END)     AS failed_count,
    avg(delivery_days)                                                 AS avg_delivery_days,
    min(created_at)                                                    AS first_shipment_time,
    max(created_at)                                                    AS last_shipment_time
FROM shipments
WHERE created_at >= CURRENT_DATE - INTERVAL '90 days'
GROUP BY date(created_at), carrier, service
ORDER BY date DESC, shipment_count DESC;

CREATE UNIQUE INDEX ix_mv_daily_analytics_date_carrier_service
    ON mv_daily_shipment_analytics (date, carrier, service);
CREATE INDEX ix_mv_daily_analytics_date
    ON mv_daily_shipment_analytics (date DESC);

CREATE MATERIALIZED VIEW mv_carrier_performance AS
SELECT
    carrier,
    service,
    count(*)                                                                        AS total_shipments,
    sum(total_cost)                                                                 AS total_revenue,
    avg(total_cost)                                                                 AS avg_cost,
    count(CASE WHEN status = 'delivered' THEN 1 END)                                AS delivered_count,
    count(CASE WHEN status IN ('delivered', 'returned', 'cancelled') THEN 1 END)    AS completed_count,
    CASE
        WHEN count(CASE WHEN status IN ('delivered', 'returned', 'cancelled') THEN 1 END) > 0
        THEN (count(CASE WHEN status = 'delivered' THEN 1 END)::float
              / count(CASE WHEN status IN ('delivered', 'returned', 'cancelled') THEN 1 END) * 100)
        ELSE 95.0
    END                                                                             AS on_time_rate,
    avg(delivery_days)                                                              AS avg_delivery_days,
    min(created_at)                                                                 AS first_shipment,
    max(created_at)                                                                 AS last_shipment,
    max(updated_at)                                                                 AS last_updated
FROM shipments
WHERE created_at >= CURRENT_DATE - INTERVAL '90 days'
GROUP BY carrier, service
ORDER BY total_shipments DESC;

CREATE UNIQUE INDEX ix_mv_carrier_performance_carrier_service
    ON mv_carrier_performance (carrier, service);

CREATE MATERIALIZED VIEW mv_top_routes AS
SELECT
    fa.city              AS from_city,
    fa.state             AS from_state,
    fa.country           AS from_country,
    ta.city              AS to_city,
    ta.state             AS to_state,
    ta.country           AS to_country,
    count(s.id)          AS shipment_count,
    sum(s.total_cost)    AS total_cost,
    avg(s.total_cost)    AS avg_cost,
    avg(s.delivery_days) AS avg_delivery_days,
    max(s.created_at)    AS last_shipment
FROM shipments s
JOIN addresses fa ON s.from_address_id = fa.id
JOIN addresses ta ON s.to_address_id = ta.id
WHERE s.created_at >= CURRENT_DATE - INTERVAL '90 days'
GROUP BY fa.city, fa.state, fa.country, ta.city, ta.state, ta.country
HAVING count(s.id) >= 3
ORDER BY shipment_count DESC
LIMIT 100;

CREATE INDEX ix_mv_top_routes_count
    ON mv_top_routes (shipment_count DESC);

-- NOTE: as in the predecessor, this function fails at runtime on its third
-- statement: REFRESH ... CONCURRENTLY needs a unique index on the view, and
-- mv_top_routes has only a non-unique one.
CREATE OR REPLACE FUNCTION refresh_analytics_views()
RETURNS void
LANGUAGE plpgsql
AS $fn$
BEGIN
    REFRESH MATERIALIZED VIEW CONCURRENTLY mv_daily_shipment_analytics;
    REFRESH MATERIALIZED VIEW CONCURRENTLY mv_carrier_performance;
    REFRESH MATERIALIZED VIEW CONCURRENTLY mv_top_routes;
END;
$fn$;

COMMENT ON FUNCTION refresh_analytics_views() IS
    'Refresh all analytics materialized views. Run hourly via cron or pg_cron.';

-- ---------------------------------------------------------------------------
-- fc2aec2ac737: no-op (upgrade() is `pass`)
-- ---------------------------------------------------------------------------

-- ---------------------------------------------------------------------------
-- Alembic bookkeeping, in the shape Alembic itself creates it
-- ---------------------------------------------------------------------------
CREATE TABLE alembic_version (
    version_num varchar(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO alembic_version (version_num) VALUES ('fc2aec2ac737');

COMMIT;
