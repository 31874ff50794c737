-- GET /v1/analytics/dashboard?start_date=:start_date&end_date=:end_date:
-- the statement of models.Store.Dashboard
-- (dashboardSQL in models/dashboard.go, as the server sends it, with $1 and
-- $2 written :start_date and :end_date). It reads the days the server has
-- materialized into the per-day tables (it does so for the range on the
-- first dashboard request, in the warm-up) and computes the others from
-- the shipments. When the dashboard's SQL changes, change this file with
-- it: it is the only place the harness keeps it.
WITH days AS (
    SELECT d::date AS day FROM generate_series(:start_date::date, :end_date::date, interval '1 day') AS d
),
fresh AS (
    SELECT m.day FROM dashboard_days AS m
    WHERE m.day BETWEEN :start_date AND :end_date
      AND NOT EXISTS (SELECT FROM dashboard_stale AS st WHERE st.day = m.day)
),
live AS (
    SELECT day FROM days EXCEPT SELECT day FROM fresh
),
per_day AS (
    SELECT day, carrier, currency, shipments, delivered, in_transit, failed, priced, cost, timed, on_time
    FROM dashboard_daily WHERE day IN (SELECT day FROM fresh)
    UNION ALL
    SELECT * FROM (
SELECT d.day, s.carrier, s.currency,
       count(*) AS shipments,
       count(*) FILTER (WHERE s.status = 'delivered') AS delivered,
       count(*) FILTER (WHERE s.status IN ('pre_transit', 'in_transit', 'out_for_delivery', 'available_for_pickup')) AS in_transit,
       count(*) FILTER (WHERE s.status IN ('failure', 'error', 'return_to_sender')) AS failed,
       count(s.total_cost) AS priced,
       coalesce(sum(s.total_cost), 0) AS cost,
       count(*) FILTER (WHERE s.status = 'delivered' AND s.delivery_date IS NOT NULL AND s.est_delivery_date IS NOT NULL) AS timed,
       count(*) FILTER (WHERE s.status = 'delivered' AND s.delivery_date <= s.est_delivery_date) AS on_time
FROM live AS d
JOIN shipments AS s ON s.created_at >= d.day::timestamp AT TIME ZONE 'UTC'
                   AND s.created_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
GROUP BY d.day, s.carrier, s.currency) AS l
    WHERE EXISTS (SELECT FROM live)
),
agg AS (
    SELECT GROUPING(day, carrier, currency) AS g, day, carrier, currency,
           coalesce(sum(shipments), 0) AS n, coalesce(sum(delivered), 0) AS delivered,
           coalesce(sum(in_transit), 0) AS in_transit, coalesce(sum(failed), 0) AS failed,
           coalesce(sum(cost), 0) AS cost,
           round(sum(cost) / nullif(sum(priced), 0), 2) AS avg_cost,
           round(100.0 * sum(delivered) / nullif(sum(shipments), 0), 2)::float8 AS delivery_rate,
           round(100.0 * sum(on_time) / nullif(sum(timed), 0), 2)::float8 AS on_time_rate
    FROM per_day
    GROUP BY GROUPING SETS ((), (currency), (carrier), (carrier, currency), (day, currency))
),
whole_weeks AS (
    SELECT w.week FROM (SELECT DISTINCT date_trunc('week', day::timestamp)::date AS week FROM days) AS w
    WHERE w.week >= :start_date AND w.week + 6 <= :end_date
      AND (SELECT count(*) FROM fresh AS f WHERE f.day >= w.week AND f.day < w.week + 7) = 7
),
routes AS (
    SELECT r.origin_city, r.origin_state, r.origin_country,
           r.destination_city, r.destination_state, r.destination_country, x.shipments
    FROM (SELECT route_id, sum(shipments) AS shipments
          FROM (SELECT route_id, shipments FROM dashboard_weekly_routes
                WHERE week IN (SELECT week FROM whole_weeks)
                UNION ALL
                SELECT route_id, shipments FROM dashboard_daily_routes
                WHERE day IN (SELECT day FROM fresh
                              WHERE date_trunc('week', day::timestamp)::date NOT IN (SELECT week FROM whole_weeks))
               ) AS counted
          GROUP BY route_id) AS x
    JOIN dashboard_routes AS r ON r.id = x.route_id
    UNION ALL
    SELECT origin_city, origin_state, origin_country, destination_city, destination_state, destination_country, shipments
    FROM (
SELECT d.day, o.city AS origin_city, o.state AS origin_state, o.country AS origin_country,
       t.city AS destination_city, t.state AS destination_state, t.country AS destination_country,
       count(*) AS shipments
FROM live AS d
JOIN shipments AS s ON s.created_at >= d.day::timestamp AT TIME ZONE 'UTC'
                   AND s.created_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
JOIN addresses AS o ON o.id = s.from_address_id
JOIN addresses AS t ON t.id = s.to_address_id
GROUP BY d.day, o.city, o.state, o.country, t.city, t.state, t.country) AS l
    WHERE EXISTS (SELECT FROM live)
),
top_routes AS (
    SELECT origin_city, origin_state, origin_country, destination_city, destination_state, destination_country,
           sum(shipments) AS n,
           row_number() OVER (ORDER BY sum(shipments) DESC,
               origin_country COLLATE "C", origin_state COLLATE "C", origin_city COLLATE "C",
               destination_country COLLATE "C", destination_state COLLATE "C", destination_city COLLATE "C") AS rank
    FROM routes
    GROUP BY origin_city, origin_state, origin_country, destination_city, destination_state, destination_country
    ORDER BY rank
    LIMIT 10
)
SELECT g, day, carrier, currency, n, delivered, in_transit, failed, cost, avg_cost, delivery_rate, on_time_rate,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL::bigint AS rank
FROM agg WHERE g <> 2
UNION ALL
SELECT 2, days.day, NULL, a.currency, coalesce(a.n, 0), 0, 0, 0, coalesce(a.cost, 0), a.avg_cost, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM days LEFT JOIN agg AS a ON a.g = 2 AND a.day = days.day
UNION ALL
SELECT 8, NULL, NULL, NULL, n, 0, 0, 0, 0, NULL, NULL, NULL,
       origin_city, origin_state, origin_country, destination_city, destination_state, destination_country, rank
FROM top_routes
UNION ALL
SELECT 9, day, NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM days
WHERE day <= (now() AT TIME ZONE 'UTC')::date AND day NOT IN (SELECT day FROM dashboard_days)
ORDER BY 1, 2, 4, 19;
