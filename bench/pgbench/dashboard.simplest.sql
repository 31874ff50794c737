-- GET /v1/analytics/dashboard?start_date=:start_date&end_date=:end_date,
-- the straightforward SQL for the same figures: three aggregate queries
-- over the range's shipments (UTC days) — the figures by carrier and
-- currency, the days, the top ten routes — computed from the shipments
-- on every request. The ceiling the targets are judged against; the
-- server reads the per-day tables it keeps instead (dashboard.sql), so
-- its own statement is the cheaper one here.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT carrier, currency, count(*) AS n,
       count(*) FILTER (WHERE status = 'delivered') AS delivered,
       count(*) FILTER (WHERE status IN ('pre_transit', 'in_transit', 'out_for_delivery', 'available_for_pickup')) AS in_transit,
       count(*) FILTER (WHERE status IN ('failure', 'error', 'return_to_sender')) AS failed,
       coalesce(sum(total_cost), 0) AS cost, round(avg(total_cost), 2) AS avg_cost,
       round(100.0 * count(*) FILTER (WHERE status = 'delivered') / count(*), 2) AS delivery_rate,
       round(100.0 * count(*) FILTER (WHERE status = 'delivered' AND delivery_date <= est_delivery_date)
             / nullif(count(*) FILTER (WHERE status = 'delivered' AND delivery_date IS NOT NULL AND est_delivery_date IS NOT NULL), 0), 2) AS on_time_rate
FROM shipments
WHERE created_at >= :start_date::timestamp AT TIME ZONE 'UTC' AND created_at < (:end_date::date + 1)::timestamp AT TIME ZONE 'UTC'
GROUP BY GROUPING SETS ((), (currency), (carrier), (carrier, currency));
SELECT d::date AS day, s.currency, count(s.id) AS n, coalesce(sum(s.total_cost), 0) AS cost
FROM generate_series(:start_date::date, :end_date::date, interval '1 day') AS d
LEFT JOIN shipments AS s ON s.created_at >= d AT TIME ZONE 'UTC' AND s.created_at < (d + interval '1 day') AT TIME ZONE 'UTC'
GROUP BY 1, 2 ORDER BY 1, 2;
SELECT o.city, o.state, o.country, t.city, t.state, t.country, count(*) AS n
FROM shipments AS s
JOIN addresses AS o ON o.id = s.from_address_id
JOIN addresses AS t ON t.id = s.to_address_id
WHERE s.created_at >= :start_date::timestamp AT TIME ZONE 'UTC' AND s.created_at < (:end_date::date + 1)::timestamp AT TIME ZONE 'UTC'
GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY n DESC LIMIT 10;
COMMIT;
