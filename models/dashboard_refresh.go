package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// dashboardRefreshLock is the advisory lock that lets one refresh at a time
// run against a database, however many Waybill processes share it.
const dashboardRefreshLock int64 = 0x5761_7962_696c_6c01 // "Waybill" 1

// refreshLockStatement takes the refresh's lock for the transaction, if
// no other refresh holds it: one boolean.
var refreshLockStatement = statement{name: "dashboard refresh lock", sql: `SELECT pg_try_advisory_xact_lock($1)`}

// refreshDaysStatement deletes every mark the refresh's snapshot sees and returns
// the days to recompute: the marked days that are materialized, and the
// requested days ($1) from the first shipment's day to today (so that
// dashboards of far-off ranges cannot fill dashboard_days). A mark for a
// day that is not materialized has nothing to invalidate.
var refreshDaysStatement = statement{name: "dashboard refresh days", sql: `
WITH marked AS (DELETE FROM dashboard_stale RETURNING day)
SELECT day FROM marked WHERE day IN (SELECT day FROM dashboard_days)
UNION
SELECT day FROM unnest($1::date[]) AS r (day)
WHERE day <= (now() AT TIME ZONE 'UTC')::date
  AND day >= ` + firstShipmentDaySQL + `
ORDER BY day`}

// daysParam is the relation d(day) of the days in $1, for dayFiguresSQL and
// dayRoutesSQL.
const daysParam = "(SELECT unnest($1::date[]) AS day)"

// refreshStatements recompute the per-day tables for the days in $1.
var refreshStatements = []statement{
	{"dashboard refresh: delete daily", `DELETE FROM dashboard_daily WHERE day = ANY($1)`},
	{"dashboard refresh: daily", `INSERT INTO dashboard_daily (day, carrier, currency, shipments, delivered, in_transit, failed, priced, cost, timed, on_time)` +
		fmt.Sprintf(dayFiguresSQL, daysParam)},
	{"dashboard refresh: delete daily routes", `DELETE FROM dashboard_daily_routes WHERE day = ANY($1)`},
	// A route seen for the first time gets its number; the statement's
	// snapshot does not see the rows it adds, hence the union with them.
	{"dashboard refresh: daily routes", `WITH r AS MATERIALIZED (` + fmt.Sprintf(dayRoutesSQL, daysParam) + `),
added AS (
    INSERT INTO dashboard_routes (origin_city, origin_state, origin_country,
                                  destination_city, destination_state, destination_country)
    SELECT DISTINCT origin_city, origin_state, origin_country, destination_city, destination_state, destination_country
    FROM r
    ON CONFLICT DO NOTHING
    RETURNING *
),
known AS (
    SELECT * FROM added UNION ALL SELECT * FROM dashboard_routes
)
INSERT INTO dashboard_daily_routes (day, route_id, shipments)
SELECT r.day, k.id, r.shipments
FROM r
JOIN known AS k ON k.origin_city = r.origin_city AND k.origin_country = r.origin_country
               AND k.destination_city = r.destination_city AND k.destination_country = r.destination_country
               AND k.origin_state IS NOT DISTINCT FROM r.origin_state
               AND k.destination_state IS NOT DISTINCT FROM r.destination_state`},
	{"dashboard refresh: days", `INSERT INTO dashboard_days (day) SELECT unnest($1::date[])
ON CONFLICT (day) DO UPDATE SET refreshed_at = now()`},
	// The weeks of the days: recomputed from their days when all seven
	// are materialized, dropped otherwise.
	{"dashboard refresh: weekly routes", `WITH weeks AS (
    SELECT DISTINCT date_trunc('week', d::timestamp)::date AS week FROM unnest($1::date[]) AS d
),
gone AS (
    DELETE FROM dashboard_weekly_routes WHERE week IN (SELECT week FROM weeks)
)
INSERT INTO dashboard_weekly_routes (week, route_id, shipments)
SELECT w.week, dr.route_id, sum(dr.shipments)
FROM weeks AS w
JOIN dashboard_daily_routes AS dr ON dr.day >= w.week AND dr.day < w.week + 7
WHERE (SELECT count(*) FROM dashboard_days AS m WHERE m.day >= w.week AND m.day < w.week + 7) = 7
GROUP BY w.week, dr.route_id`},
}

// RefreshDashboard brings the dashboard's per-day tables up to date: it
// recomputes every materialized day that a change has marked since its
// last refresh, and materializes the days of more (days after today or
// before the first shipment are skipped). It returns the days it wrote,
// oldest first.
//
// It runs in one REPEATABLE READ transaction and deletes only the marks
// its snapshot sees, so a change committed while it runs keeps its mark
// and its day stays live until the next refresh. When another refresh
// holds the lock, it returns at once with no days: that one does the work.
func (s *Store) RefreshDashboard(ctx context.Context, more []Date) ([]Date, error) {
	days, err := s.refreshDashboard(ctx, more)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "40001" {
		// A refresh that committed while this one took its snapshot has
		// done the work.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("refresh dashboard: %w", classify(err))
	}
	return days, nil
}

func (s *Store) refreshDashboard(ctx context.Context, more []Date) ([]Date, error) {
	tx, err := s.pool.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op

	locked, err := queryRow[bool](ctx, tx, refreshLockStatement, dashboardRefreshLock)
	if err != nil || !locked {
		return nil, err
	}
	requested := make([]time.Time, len(more))
	for i, d := range more {
		requested[i] = d.Time
	}
	param, err := query[time.Time](ctx, tx, refreshDaysStatement, requested)
	if err != nil {
		return nil, err
	}
	var days []Date
	for _, day := range param {
		days = append(days, Date{day.UTC()})
	}
	if len(days) > 0 {
		for _, st := range refreshStatements {
			if err := exec(ctx, tx, st, param); err != nil {
				return nil, err
			}
		}
	}
	// Committing even with no days to write: the marks it deleted go.
	return days, tx.Commit()
}

// dashboardQueue collects the days that dashboards found unmaterialized,
// for the refresher (RunDashboardRefresher) to materialize.
type dashboardQueue struct {
	mu   sync.Mutex
	days map[Date]struct{}
	wake chan struct{}
}

func newDashboardQueue() *dashboardQueue {
	return &dashboardQueue{days: map[Date]struct{}{}, wake: make(chan struct{}, 1)}
}

// add queues days.
func (q *dashboardQueue) add(days []Date) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, d := range days {
		q.days[d] = struct{}{}
	}
}

// materializeLater queues days for the refresher and wakes it. Without a
// refresher running nothing happens: those days stay live.
func (s *Store) materializeLater(days []Date) {
	s.dashQueue.add(days)
	select {
	case s.dashQueue.wake <- struct{}{}:
	default:
	}
}

// take empties the queue, oldest day first.
func (q *dashboardQueue) take() []Date {
	q.mu.Lock()
	defer q.mu.Unlock()
	days := make([]Date, 0, len(q.days))
	for d := range q.days {
		days = append(days, d)
	}
	clear(q.days)
	slices.SortFunc(days, func(a, b Date) int { return a.Compare(b.Time) })
	return days
}

// RunDashboardRefresher refreshes the dashboard's per-day tables every
// interval, and at once when a dashboard finds days not yet materialized,
// until ctx ends. report is told of each refresh that wrote days, or
// failed (the failed days are queued again).
func (s *Store) RunDashboardRefresher(ctx context.Context, interval time.Duration, report func([]Date, time.Duration, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.dashQueue.wake:
		}
		queued := s.dashQueue.take()
		start := time.Now()
		days, err := s.RefreshDashboard(ctx, queued)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.dashQueue.add(queued) // for the next tick
		}
		if err != nil || len(days) > 0 {
			report(days, time.Since(start), err)
		}
	}
}
