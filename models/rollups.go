package models

import (
	"context"
	"fmt"
	"time"
)

// RollupResult says what a rollup recomputed: the range and how many
// analytics_summaries and carrier_performance rows it now holds (written,
// whether or not their figures changed).
type RollupResult struct {
	StartDate          Date `json:"start_date"`
	EndDate            Date `json:"end_date"`
	Days               int  `json:"days"`
	Summaries          int  `json:"summaries"`
	CarrierPerformance int  `json:"carrier_performance"`
}

// rollupShipmentsSQL is the day's shipments ($1 ≤ created_at < $2) with
// what the rollups derive from them. days is a delivered shipment's
// delivery time in whole days: delivery_days when recorded, else the UTC
// calendar days from created_at to delivery_date.
const rollupShipmentsSQL = `
s AS (
    SELECT sh.currency, sh.status, sh.total_cost,
           coalesce(sh.carrier, 'unknown') AS carrier, coalesce(sh.service, 'unknown') AS service,
           sh.status IN ` + failedStatusesSQL + ` AS failed,
           sh.status = 'delivered' AND sh.delivery_date <= sh.est_delivery_date AS on_time,
           sh.status = 'delivered' AND sh.delivery_date > sh.est_delivery_date AS delayed,
           CASE WHEN sh.status = 'delivered' THEN coalesce(sh.delivery_days,
               (sh.delivery_date AT TIME ZONE 'UTC')::date - (sh.created_at AT TIME ZONE 'UTC')::date) END AS days,
           o.country AS from_country, d.city AS to_city, d.state AS to_state, d.country AS to_country
    FROM shipments AS sh
    JOIN addresses AS o ON o.id = sh.from_address_id
    JOIN addresses AS d ON d.id = sh.to_address_id
    WHERE sh.created_at >= $1 AND sh.created_at < $2
)`

// summariesSQL upserts the day's ($3) daily analytics summaries, one per
// currency, and returns how many there are. A row whose figures did not
// change is not updated, so its updated_at stays.
const summariesSQL = `
WITH ` + rollupShipmentsSQL + `,
totals AS (
    SELECT currency, count(*) AS n,
           count(*) FILTER (WHERE status = 'delivered') AS delivered,
           count(*) FILTER (WHERE failed) AS failed,
           coalesce(sum(total_cost), 0) AS cost,
           round(avg(total_cost), 2) AS avg_cost,
           round(avg(days), 2)::float8 AS avg_days,
           round(100.0 * count(*) FILTER (WHERE on_time) / nullif(count(*) FILTER (WHERE on_time OR delayed), 0), 2)::float8 AS on_time_rate
    FROM s GROUP BY currency
),
carriers AS (
    SELECT currency, jsonb_object_agg(carrier, jsonb_build_object('shipments', n, 'delivered', delivered, 'total_cost', cost)) AS j
    FROM (SELECT currency, carrier, count(*) AS n, count(*) FILTER (WHERE status = 'delivered') AS delivered,
                 coalesce(sum(total_cost), 0) AS cost
          FROM s GROUP BY currency, carrier) AS x
    GROUP BY currency
),
services AS (
    SELECT currency, jsonb_object_agg(service, n) AS j
    FROM (SELECT currency, service, count(*) AS n FROM s GROUP BY currency, service) AS x
    GROUP BY currency
),
destinations AS (
    SELECT currency,
           jsonb_agg(jsonb_build_object('city', to_city, 'state', to_state, 'country', to_country, 'shipments', n)
                     ORDER BY rn) FILTER (WHERE rn <= 5) AS j
    FROM (SELECT currency, to_city, to_state, to_country, count(*) AS n,
                 row_number() OVER (PARTITION BY currency ORDER BY count(*) DESC, to_country COLLATE "C",
                                    to_state COLLATE "C", to_city COLLATE "C") AS rn
          FROM s GROUP BY currency, to_city, to_state, to_country) AS x
    GROUP BY currency
),
scope AS (
    SELECT currency, jsonb_build_object('domestic', count(*) FILTER (WHERE from_country = to_country),
                                        'international', count(*) FILTER (WHERE from_country <> to_country)) AS j
    FROM s GROUP BY currency
),
data AS (
    SELECT $3::date AS date, 'daily' AS period, t.currency, t.n, t.delivered, t.failed, t.cost, t.avg_cost,
           t.avg_days, t.on_time_rate, c.j AS carrier_stats, dst.j AS top_destinations,
           sc.j AS domestic_vs_international, sv.j AS service_breakdown
    FROM totals AS t
    JOIN carriers AS c USING (currency)
    JOIN services AS sv USING (currency)
    JOIN destinations AS dst USING (currency)
    JOIN scope AS sc USING (currency)
),
up AS (
    INSERT INTO analytics_summaries AS a (date, period, currency, total_shipments, successful_shipments,
        failed_shipments, total_cost, average_cost_per_shipment, average_delivery_days, on_time_delivery_rate,
        carrier_stats, top_destinations, domestic_vs_international, service_breakdown)
    SELECT * FROM data
    ON CONFLICT (date, period, currency) DO UPDATE SET
        total_shipments = excluded.total_shipments, successful_shipments = excluded.successful_shipments,
        failed_shipments = excluded.failed_shipments, total_cost = excluded.total_cost,
        average_cost_per_shipment = excluded.average_cost_per_shipment,
        average_delivery_days = excluded.average_delivery_days, on_time_delivery_rate = excluded.on_time_delivery_rate,
        carrier_stats = excluded.carrier_stats, top_destinations = excluded.top_destinations,
        domestic_vs_international = excluded.domestic_vs_international, service_breakdown = excluded.service_breakdown
    WHERE (a.total_shipments, a.successful_shipments, a.failed_shipments, a.total_cost, a.average_cost_per_shipment,
           a.average_delivery_days, a.on_time_delivery_rate, a.carrier_stats, a.top_destinations,
           a.domestic_vs_international, a.service_breakdown)
        IS DISTINCT FROM
          (excluded.total_shipments, excluded.successful_shipments, excluded.failed_shipments, excluded.total_cost,
           excluded.average_cost_per_shipment, excluded.average_delivery_days, excluded.on_time_delivery_rate,
           excluded.carrier_stats, excluded.top_destinations, excluded.domestic_vs_international,
           excluded.service_breakdown)
    RETURNING 1
)
SELECT count(*) FROM data`

// carrierPerformanceSQL upserts the day's ($3) carrier_performance rows,
// one per carrier, service and currency, and returns how many there are.
const carrierPerformanceSQL = `
WITH ` + rollupShipmentsSQL + `,
data AS (
    SELECT carrier, service, $3::date AS date, currency, n, on_time, delayed, failed, cost, avg_cost,
           avg_days, min_days, max_days, on_time_rate,
           round((on_time_rate * (1 - failed::numeric / n))::numeric, 2)::float8 AS reliability_score
    FROM (
        SELECT carrier, service, currency, count(*) AS n,
               count(*) FILTER (WHERE on_time) AS on_time,
               count(*) FILTER (WHERE delayed) AS delayed,
               count(*) FILTER (WHERE failed) AS failed,
               coalesce(sum(total_cost), 0) AS cost,
               round(avg(total_cost), 2) AS avg_cost,
               round(avg(days), 2)::float8 AS avg_days, min(days) AS min_days, max(days) AS max_days,
               round(100.0 * count(*) FILTER (WHERE on_time) / nullif(count(*) FILTER (WHERE on_time OR delayed), 0), 2) AS on_time_rate
        FROM s GROUP BY carrier, service, currency
    ) AS x
),
up AS (
    INSERT INTO carrier_performance AS c (carrier, service, date, currency, total_shipments, on_time_deliveries,
        delayed_deliveries, failed_deliveries, total_cost, average_cost, average_delivery_days, min_delivery_days,
        max_delivery_days, on_time_rate, reliability_score)
    SELECT carrier, service, date, currency, n, on_time, delayed, failed, cost, avg_cost, avg_days, min_days,
           max_days, on_time_rate::float8, reliability_score
    FROM data
    ON CONFLICT (carrier, service, date, currency) DO UPDATE SET
        total_shipments = excluded.total_shipments, on_time_deliveries = excluded.on_time_deliveries,
        delayed_deliveries = excluded.delayed_deliveries, failed_deliveries = excluded.failed_deliveries,
        total_cost = excluded.total_cost, average_cost = excluded.average_cost,
        average_delivery_days = excluded.average_delivery_days, min_delivery_days = excluded.min_delivery_days,
        max_delivery_days = excluded.max_delivery_days, on_time_rate = excluded.on_time_rate,
        reliability_score = excluded.reliability_score
    WHERE (c.total_shipments, c.on_time_deliveries, c.delayed_deliveries, c.failed_deliveries, c.total_cost,
           c.average_cost, c.average_delivery_days, c.min_delivery_days, c.max_delivery_days, c.on_time_rate,
           c.reliability_score)
        IS DISTINCT FROM
          (excluded.total_shipments, excluded.on_time_deliveries, excluded.delayed_deliveries,
           excluded.failed_deliveries, excluded.total_cost, excluded.average_cost, excluded.average_delivery_days,
           excluded.min_delivery_days, excluded.max_delivery_days, excluded.on_time_rate, excluded.reliability_score)
    RETURNING 1
)
SELECT count(*) FROM data`

// staleSummariesSQL deletes the day's ($3) daily summaries of a currency
// that no longer has shipments that day.
const staleSummariesSQL = `
DELETE FROM analytics_summaries AS a
WHERE a.date = $3::date AND a.period = 'daily' AND NOT EXISTS (
    SELECT 1 FROM shipments AS sh
    WHERE sh.created_at >= $1 AND sh.created_at < $2 AND sh.currency = a.currency)`

// staleCarrierPerformanceSQL deletes the day's ($3) carrier_performance
// rows that no longer have shipments that day.
const staleCarrierPerformanceSQL = `
DELETE FROM carrier_performance AS c
WHERE c.date = $3::date AND NOT EXISTS (
    SELECT 1 FROM shipments AS sh
    WHERE sh.created_at >= $1 AND sh.created_at < $2 AND sh.currency = c.currency
      AND coalesce(sh.carrier, 'unknown') = c.carrier AND coalesce(sh.service, 'unknown') = c.service)`

// The rollup's statements, named. The upserts return how many rows they
// wrote.
var (
	rollupSummaries               = statement{"rollup: daily summaries", summariesSQL}
	rollupCarrierPerformance      = statement{"rollup: carrier performance", carrierPerformanceSQL}
	rollupStaleSummaries          = statement{"rollup: stale daily summaries", staleSummariesSQL}
	rollupStaleCarrierPerformance = statement{"rollup: stale carrier performance", staleCarrierPerformanceSQL}
)

// Rollup recomputes, from the shipments, the daily analytics_summaries and
// the carrier_performance rows of every day from start to end (UTC, both
// included), one transaction per day: rows are upserted, rows whose
// figures did not change are left alone (updated_at stays), and rows of a
// day that no longer has such shipments are deleted. Running it twice
// changes nothing. A range that is reversed or longer than
// MaxAnalyticsDays is a *ValidationError. The activity rollup.create is
// recorded in the last day's transaction.
func (s *Store) Rollup(ctx context.Context, start, end Date) (RollupResult, error) {
	var v ValidationError
	checkRange(&v, "start_date", "end_date", start, end)
	if err := v.Err(); err != nil {
		return RollupResult{}, err
	}
	res := RollupResult{StartDate: start, EndDate: end, Days: Days(start, end)}
	for i := range res.Days {
		day := Date{start.AddDate(0, 0, i)}
		var audit *AuditEvent
		if i == res.Days-1 {
			audit = &AuditEvent{Action: "rollup.create", ResourceType: "rollup", Status: 200,
				Metadata: map[string]any{"start_date": start.Format(DateFormat), "end_date": end.Format(DateFormat)}}
		}
		summaries, carriers, err := s.rollupDay(ctx, day, audit)
		if err != nil {
			return RollupResult{}, fmt.Errorf("rollup %s: %w", day.Format(DateFormat), err)
		}
		res.Summaries += summaries
		res.CarrierPerformance += carriers
	}
	return res, nil
}

// rollupDay recomputes one day in one transaction, recording audit (if
// not nil) in it.
func (s *Store) rollupDay(ctx context.Context, day Date, audit *AuditEvent) (summaries, carriers int, err error) {
	lo, hi := dayBounds(day, day)
	tx, err := s.pool.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, classify(err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	args := []any{lo, hi, day}
	for _, st := range []statement{rollupStaleSummaries, rollupStaleCarrierPerformance} {
		if err = exec(ctx, tx, st, args...); err != nil {
			return 0, 0, classify(err)
		}
	}
	if summaries, err = queryRow[int](ctx, tx, rollupSummaries, args...); err != nil {
		return 0, 0, classify(err)
	}
	if carriers, err = queryRow[int](ctx, tx, rollupCarrierPerformance, args...); err != nil {
		return 0, 0, classify(err)
	}
	if audit != nil {
		if err = recordActivity(ctx, tx, *audit); err != nil {
			return 0, 0, err
		}
	}
	if err = tx.Commit(); err != nil {
		return 0, 0, commitOutcome(err)
	}
	return summaries, carriers, nil
}

// Today is the current UTC day.
func Today() Date {
	now := time.Now().UTC()
	return Date{time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)}
}
