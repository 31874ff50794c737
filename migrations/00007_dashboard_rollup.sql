-- 00007: the dashboard's per-day figures, kept beside the shipments so
-- that a dashboard over a million shipments reads a few thousand small
-- rows instead of aggregating every shipment of its range
-- (docs/analytics.md, "How the dashboard stays fast and true").
--
-- dashboard_daily and dashboard_daily_routes hold each materialized day's
-- figures; dashboard_days lists the materialized days. Every change to a
-- shipment (or to an address's place) appends the days it touches to
-- dashboard_stale, in the writer's own transaction, so a day is only read
-- from the per-day tables when it is materialized and has no mark; any
-- other day is computed from the shipments. The refresher recomputes
-- marked days in a REPEATABLE READ transaction and deletes only the marks
-- its snapshot sees, so a change committed after that snapshot keeps its
-- mark and is never lost.

-- +goose Up
CREATE TABLE dashboard_days (
    day          date PRIMARY KEY,
    refreshed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dashboard_stale (
    day       date NOT NULL,
    marked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dashboard_stale_day_idx ON dashboard_stale (day);

CREATE TABLE dashboard_daily (
    day        date NOT NULL,
    carrier    varchar(50),
    currency   varchar(3) NOT NULL,
    shipments  integer NOT NULL,
    delivered  integer NOT NULL,
    in_transit integer NOT NULL,
    failed     integer NOT NULL,
    priced     integer NOT NULL, -- shipments with a total_cost
    cost       numeric NOT NULL, -- their sum
    timed      integer NOT NULL, -- delivered with a delivery_date and an est_delivery_date
    on_time    integer NOT NULL  -- of those, delivered no later than est_delivery_date
);
CREATE INDEX dashboard_daily_day_idx ON dashboard_daily (day);

-- A route is stored once and counted by its number, which keeps the daily
-- route rows small and quick to add up.
CREATE TABLE dashboard_routes (
    id                  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    origin_city         varchar(100) NOT NULL,
    origin_state        varchar(50),
    origin_country      varchar(2) NOT NULL,
    destination_city    varchar(100) NOT NULL,
    destination_state   varchar(50),
    destination_country varchar(2) NOT NULL,
    UNIQUE NULLS NOT DISTINCT (origin_city, origin_state, origin_country,
                               destination_city, destination_state, destination_country)
);

CREATE TABLE dashboard_daily_routes (
    day       date NOT NULL,
    route_id  integer NOT NULL REFERENCES dashboard_routes (id),
    shipments integer NOT NULL
);
CREATE INDEX dashboard_daily_routes_day_idx ON dashboard_daily_routes (day) INCLUDE (route_id, shipments);

-- The route counts of each whole week (Monday to Sunday) whose seven days
-- are materialized: a 30-day dashboard adds up four weeks and a few days
-- instead of thirty days.
CREATE TABLE dashboard_weekly_routes (
    week      date NOT NULL CHECK (extract(isodow FROM week) = 1),
    route_id  integer NOT NULL REFERENCES dashboard_routes (id),
    shipments integer NOT NULL
);
CREATE INDEX dashboard_weekly_routes_week_idx ON dashboard_weekly_routes (week) INCLUDE (route_id, shipments);

-- +goose StatementBegin
CREATE FUNCTION dashboard_mark_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dashboard_stale (day)
    SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date FROM new_rows;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION dashboard_mark_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dashboard_stale (day)
    SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date FROM old_rows;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- An update marks the old and the new day of every shipment whose
-- dashboard columns changed; a tracking event's status change is the usual
-- one.
-- +goose StatementBegin
CREATE FUNCTION dashboard_mark_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dashboard_stale (day)
    SELECT DISTINCT x.day
    FROM old_rows AS o
    JOIN new_rows AS n USING (id)
    CROSS JOIN LATERAL (VALUES ((o.created_at AT TIME ZONE 'UTC')::date),
                               ((n.created_at AT TIME ZONE 'UTC')::date)) AS x (day)
    WHERE (o.created_at, o.status, o.carrier, o.currency, o.total_cost, o.delivery_date,
           o.est_delivery_date, o.from_address_id, o.to_address_id)
          IS DISTINCT FROM
          (n.created_at, n.status, n.carrier, n.currency, n.total_cost, n.delivery_date,
           n.est_delivery_date, n.from_address_id, n.to_address_id);
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- TRUNCATE leaves nothing to mark: every day becomes unmaterialized.
-- +goose StatementBegin
CREATE FUNCTION dashboard_forget_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM dashboard_days;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- A change of an address's place changes the routes of every shipment
-- that starts or ends there.
-- +goose StatementBegin
CREATE FUNCTION dashboard_mark_address_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dashboard_stale (day)
    SELECT DISTINCT (s.created_at AT TIME ZONE 'UTC')::date
    FROM old_rows AS o
    JOIN new_rows AS n USING (id)
    JOIN shipments AS s ON s.from_address_id = n.id
    WHERE (o.city, o.state, o.country) IS DISTINCT FROM (n.city, n.state, n.country)
    UNION
    SELECT (s.created_at AT TIME ZONE 'UTC')::date
    FROM old_rows AS o
    JOIN new_rows AS n USING (id)
    JOIN shipments AS s ON s.to_address_id = n.id
    WHERE (o.city, o.state, o.country) IS DISTINCT FROM (n.city, n.state, n.country);
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER shipments_dashboard_insert AFTER INSERT ON shipments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dashboard_mark_inserted();
CREATE TRIGGER shipments_dashboard_update AFTER UPDATE ON shipments
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dashboard_mark_updated();
CREATE TRIGGER shipments_dashboard_delete AFTER DELETE ON shipments
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION dashboard_mark_deleted();
CREATE TRIGGER shipments_dashboard_truncate AFTER TRUNCATE ON shipments
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_forget_all();
CREATE TRIGGER addresses_dashboard_update AFTER UPDATE ON addresses
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dashboard_mark_address_moved();

-- +goose Down
DROP TRIGGER addresses_dashboard_update ON addresses;
DROP TRIGGER shipments_dashboard_truncate ON shipments;
DROP TRIGGER shipments_dashboard_delete ON shipments;
DROP TRIGGER shipments_dashboard_update ON shipments;
DROP TRIGGER shipments_dashboard_insert ON shipments;
DROP FUNCTION dashboard_mark_address_moved();
DROP FUNCTION dashboard_forget_all();
DROP FUNCTION dashboard_mark_updated();
DROP FUNCTION dashboard_mark_deleted();
DROP FUNCTION dashboard_mark_inserted();
DROP TABLE dashboard_weekly_routes;
DROP TABLE dashboard_daily_routes;
DROP TABLE dashboard_routes;
DROP TABLE dashboard_daily;
DROP TABLE dashboard_stale;
DROP TABLE dashboard_days;
