-- 00001: the predecessor's schema, as its Alembic history (head
-- fc2aec2ac737) left it: naive timestamps without defaults, money as double
-- precision, json, varchar(n), no CHECKs, foreign keys without ON DELETE.
--
-- Everything is IF NOT EXISTS, so that on a predecessor database this
-- migration changes nothing and the later ones convert it ("adoption").
-- user_activities and batch_operations, which Waybill does not use, are not
-- created here and are left alone where they exist. The materialized views
-- and functions are dealt with in 00002.

-- +goose Up
CREATE TABLE IF NOT EXISTS addresses (
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

CREATE TABLE IF NOT EXISTS parcels (
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

CREATE TABLE IF NOT EXISTS customs_infos (
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

CREATE TABLE IF NOT EXISTS shipments (
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

CREATE TABLE IF NOT EXISTS shipment_events (
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

CREATE TABLE IF NOT EXISTS shipment_metrics (
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

CREATE TABLE IF NOT EXISTS analytics_summaries (
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

CREATE TABLE IF NOT EXISTS carrier_performance (
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

CREATE TABLE IF NOT EXISTS system_metrics (
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

CREATE UNIQUE INDEX IF NOT EXISTS ix_addresses_easypost_id ON addresses (easypost_id);
CREATE INDEX IF NOT EXISTS ix_analytics_summaries_date ON analytics_summaries (date);
CREATE INDEX IF NOT EXISTS ix_carrier_performance_carrier ON carrier_performance (carrier);
CREATE INDEX IF NOT EXISTS ix_carrier_performance_date ON carrier_performance (date);
CREATE INDEX IF NOT EXISTS ix_carrier_performance_service ON carrier_performance (service);
CREATE UNIQUE INDEX IF NOT EXISTS ix_customs_infos_easypost_id ON customs_infos (easypost_id);
CREATE UNIQUE INDEX IF NOT EXISTS ix_parcels_easypost_id ON parcels (easypost_id);
CREATE INDEX IF NOT EXISTS ix_system_metrics_timestamp ON system_metrics ("timestamp");
CREATE UNIQUE INDEX IF NOT EXISTS ix_shipments_easypost_id ON shipments (easypost_id);
CREATE INDEX IF NOT EXISTS ix_shipments_tracking_code ON shipments (tracking_code);
CREATE INDEX IF NOT EXISTS ix_shipment_events_shipment_id ON shipment_events (shipment_id);
CREATE INDEX IF NOT EXISTS ix_shipments_carrier_service_created ON shipments (carrier, service, created_at);
CREATE INDEX IF NOT EXISTS ix_shipments_status_created ON shipments (status, created_at);
CREATE INDEX IF NOT EXISTS ix_shipments_to_address_created ON shipments (to_address_id, created_at);
CREATE INDEX IF NOT EXISTS ix_shipments_tracking_covering ON shipments (tracking_code) INCLUDE (status, carrier, service, updated_at);
CREATE INDEX IF NOT EXISTS ix_shipment_events_covering ON shipment_events (shipment_id, event_datetime DESC) INCLUDE (status, message, carrier_status);
CREATE INDEX IF NOT EXISTS ix_shipments_active ON shipments (created_at DESC) WHERE status NOT IN ('delivered', 'cancelled', 'returned');
CREATE INDEX IF NOT EXISTS ix_shipments_failed ON shipments (created_at DESC) WHERE status IN ('failure', 'error', 'cancelled');

-- +goose Down
-- Down to 0 drops the tables and every row in them: it exists for
-- development databases, not for rolling back an adopted one.
DROP TABLE IF EXISTS system_metrics;
DROP TABLE IF EXISTS carrier_performance;
DROP TABLE IF EXISTS analytics_summaries;
DROP TABLE IF EXISTS shipment_metrics;
DROP TABLE IF EXISTS shipment_events;
DROP TABLE IF EXISTS shipments;
DROP TABLE IF EXISTS customs_infos;
DROP TABLE IF EXISTS parcels;
DROP TABLE IF EXISTS addresses;
