package models

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// MaxAnalyticsDays is the longest range, in days, that the dashboard and a
// rollup accept (docs/analytics.md).
const MaxAnalyticsDays = 366

// Days returns how many days [start, end] spans, both days included.
func Days(start, end Date) int {
	return int(end.Sub(start.Time).Hours()/24) + 1
}

// checkRange records a problem with a date range that is empty, reversed
// or longer than MaxAnalyticsDays.
func checkRange(v *ValidationError, startField, endField string, start, end Date) {
	switch {
	case start.IsZero():
		v.Add(startField, "is required")
	case end.IsZero():
		v.Add(endField, "is required")
	case start.After(end.Time):
		v.Add(startField, "must not be after %s", endField)
	case Days(start, end) > MaxAnalyticsDays:
		v.Add(endField, "must be at most %d days after %s, both included", MaxAnalyticsDays, startField)
	}
}

// dayBounds returns the instants that bound [start, end] in UTC: from
// start's midnight, included, to the midnight after end, excluded.
func dayBounds(start, end Date) (time.Time, time.Time) {
	lo := time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)
	hi := time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
	return lo, hi
}

// Costs is a money figure of the dashboard. When the range's shipments
// have at most one currency it is written as a single amount (One; null
// when absent); otherwise as an object with one amount per currency of the
// range (ByCurrency), such as {"EUR": 4.50, "USD": 10.00}.
type Costs struct {
	One        *Money
	ByCurrency map[string]*Money
}

// MarshalJSON writes c as a number, null, or an object by currency.
func (c Costs) MarshalJSON() ([]byte, error) {
	if c.ByCurrency != nil {
		return json.Marshal(c.ByCurrency)
	}
	if c.One == nil {
		return []byte("null"), nil
	}
	return c.One.MarshalJSON()
}

// DashboardSummary is the dashboard's totals over the whole range.
type DashboardSummary struct {
	TotalShipments int      `json:"total_shipments"`
	TotalCost      Costs    `json:"total_cost"`
	AverageCost    Costs    `json:"average_cost"`
	Delivered      int      `json:"delivered"`
	InTransit      int      `json:"in_transit"`
	Failed         int      `json:"failed"`
	DeliveryRate   *float64 `json:"delivery_rate"`
	OnTimeRate     *float64 `json:"on_time_rate"`
}

// CarrierFigures is one carrier's line of the dashboard; Carrier is nil
// for shipments without a carrier.
type CarrierFigures struct {
	Carrier     *string  `json:"carrier"`
	Shipments   int      `json:"shipments"`
	TotalCost   Costs    `json:"total_cost"`
	AverageCost Costs    `json:"average_cost"`
	Delivered   int      `json:"delivered"`
	OnTimeRate  *float64 `json:"on_time_rate"`
}

// DateFigures is one day of the dashboard. Its shipments are counted by
// status group too: Delivered, InTransit and Failed as in the summary, and
// Other for the rest (cancelled, unknown), so the four add up to Shipments.
type DateFigures struct {
	Date      Date  `json:"date"`
	Shipments int   `json:"shipments"`
	Delivered int   `json:"delivered"`
	InTransit int   `json:"in_transit"`
	Failed    int   `json:"failed"`
	Other     int   `json:"other"`
	TotalCost Costs `json:"total_cost"`
}

// RoutePlace is one end of a route.
type RoutePlace struct {
	City    string  `json:"city"`
	State   *string `json:"state"`
	Country string  `json:"country"`
}

// Route is an origin → destination pair and its number of shipments.
type Route struct {
	Origin      RoutePlace `json:"origin"`
	Destination RoutePlace `json:"destination"`
	Shipments   int        `json:"shipments"`
}

// DateRange is the days a figure covers, both included.
type DateRange struct {
	StartDate Date `json:"start_date"`
	EndDate   Date `json:"end_date"`
	Days      int  `json:"days"`
}

// Dashboard is the analytics dashboard (docs/analytics.md).
type Dashboard struct {
	Summary   DashboardSummary `json:"summary"`
	ByCarrier []CarrierFigures `json:"by_carrier"`
	ByDate    []DateFigures    `json:"by_date"`
	TopRoutes []Route          `json:"top_routes"`
	DateRange DateRange        `json:"date_range"`
}

// The kinds of row of dashboardSQL. The first five are the sets of
// GROUPING(day, carrier, currency), with a bit set for each column
// aggregated away; the last two are the top routes and the days not yet
// materialized.
const (
	groupAll             = 7 // ()
	groupCurrency        = 6 // (currency)
	groupCarrier         = 5 // (carrier)
	groupCarrierCurrency = 4 // (carrier, currency)
	groupDayCurrency     = 2 // (day, currency)
	groupRoute           = 8
	groupUnmaterialized  = 9
)

// The statuses the dashboard and the rollups count as failed and as in
// transit (docs/analytics.md), as SQL lists.
const (
	failedStatusesSQL    = "('failure', 'error', 'return_to_sender')"
	inTransitStatusesSQL = "('pre_transit', 'in_transit', 'out_for_delivery', 'available_for_pickup')"
)

// firstShipmentDaySQL is the UTC day of the oldest shipment: no day before
// it is worth materializing, as it costs nothing to compute live.
const firstShipmentDaySQL = "(SELECT (min(created_at) AT TIME ZONE 'UTC')::date FROM shipments)"

// shipmentsOfDaysSQL joins each day of a relation d(day) to the shipments
// created on it, in UTC; the planner turns it into one index range scan of
// shipments per day.
const shipmentsOfDaysSQL = `
JOIN shipments AS s ON s.created_at >= d.day::timestamp AT TIME ZONE 'UTC'
                   AND s.created_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'`

// dayFiguresSQL adds up the shipments of each day of d(day) by carrier and
// currency: the columns of dashboard_daily. docs/analytics.md defines each.
const dayFiguresSQL = `
SELECT d.day, s.carrier, s.currency,
       count(*) AS shipments,
       count(*) FILTER (WHERE s.status = 'delivered') AS delivered,
       count(*) FILTER (WHERE s.status IN ` + inTransitStatusesSQL + `) AS in_transit,
       count(*) FILTER (WHERE s.status IN ` + failedStatusesSQL + `) AS failed,
       count(s.total_cost) AS priced,
       coalesce(sum(s.total_cost), 0) AS cost,
       count(*) FILTER (WHERE s.status = 'delivered' AND s.delivery_date IS NOT NULL AND s.est_delivery_date IS NOT NULL) AS timed,
       count(*) FILTER (WHERE s.status = 'delivered' AND s.delivery_date <= s.est_delivery_date) AS on_time
FROM %s AS d` + shipmentsOfDaysSQL + `
GROUP BY d.day, s.carrier, s.currency`

// dayRoutesSQL counts the shipments of each day of d(day) by origin and
// destination place; the addresses table is joined twice, once per end,
// under its own alias.
const dayRoutesSQL = `
SELECT d.day, o.city AS origin_city, o.state AS origin_state, o.country AS origin_country,
       t.city AS destination_city, t.state AS destination_state, t.country AS destination_country,
       count(*) AS shipments
FROM %s AS d` + shipmentsOfDaysSQL + `
JOIN addresses AS o ON o.id = s.from_address_id
JOIN addresses AS t ON t.id = s.to_address_id
GROUP BY d.day, o.city, o.state, o.country, t.city, t.state, t.country`

// dashboardSQL answers the whole dashboard for the days $1 to $2 in one
// statement, so every figure comes from one snapshot. A day is read from
// the per-day tables when it is materialized and unmarked ("fresh") and
// computed from the shipments otherwise ("live"); the sums are the same
// either way. It returns, ordered by g:
//   - the grouping sets of the range's figures (g = groupAll …
//     groupDayCurrency), the (day, currency) groups joined to every day of
//     the range so that a day without shipments is a row of zeros
//     (currency NULL);
//   - the top ten routes (g = groupRoute) in order, ties broken by the
//     places' text in byte order so the answer does not depend on the
//     database's locale;
//   - the days of the range, from the first shipment's to today, that are
//     not materialized yet (g = groupUnmaterialized), for the caller to
//     have materialized (RefreshDashboard skips the others).
var dashboardSQL = fmt.Sprintf(`
WITH days AS (
    SELECT d::date AS day FROM generate_series($1::date, $2::date, interval '1 day') AS d
),
fresh AS (
    SELECT m.day FROM dashboard_days AS m
    WHERE m.day BETWEEN $1 AND $2
      AND NOT EXISTS (SELECT FROM dashboard_stale AS st WHERE st.day = m.day)
),
live AS (
    SELECT day FROM days EXCEPT SELECT day FROM fresh
),
per_day AS (
    SELECT day, carrier, currency, shipments, delivered, in_transit, failed, priced, cost, timed, on_time
    FROM dashboard_daily WHERE day IN (SELECT day FROM fresh)
    UNION ALL
    SELECT * FROM (%s) AS l
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
    WHERE w.week >= $1 AND w.week + 6 <= $2
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
    FROM (%s) AS l
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
       NULL AS origin_city, NULL AS origin_state, NULL AS origin_country,
       NULL AS destination_city, NULL AS destination_state, NULL AS destination_country, NULL::bigint AS rank
FROM agg WHERE g <> %d
UNION ALL
SELECT %[3]d, days.day, NULL, a.currency, coalesce(a.n, 0), coalesce(a.delivered, 0), coalesce(a.in_transit, 0),
       coalesce(a.failed, 0), coalesce(a.cost, 0), a.avg_cost, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM days LEFT JOIN agg AS a ON a.g = %[3]d AND a.day = days.day
UNION ALL
SELECT %d, NULL, NULL, NULL, n, 0, 0, 0, 0, NULL, NULL, NULL,
       origin_city, origin_state, origin_country, destination_city, destination_state, destination_country, rank
FROM top_routes
UNION ALL
SELECT %d, day, NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM days
WHERE day <= (now() AT TIME ZONE 'UTC')::date AND day NOT IN (SELECT day FROM dashboard_days)
  AND day >= %s
ORDER BY 1, 2, 4, 19`,
	fmt.Sprintf(dayFiguresSQL, "live"), fmt.Sprintf(dayRoutesSQL, "live"),
	groupDayCurrency, groupRoute, groupUnmaterialized, firstShipmentDaySQL)

// DashboardStatement is the statement Dashboard sends, with the range's
// first and last day as $1 and $2, for tools that measure it (task bench).
func DashboardStatement() string { return dashboardSQL }

// dashboardRow is one row of dashboardSQL; only route rows have places.
type dashboardRow struct {
	G                  int        `db:"g"`
	Day                *time.Time `db:"day"`
	Carrier            *string    `db:"carrier"`
	Currency           *string    `db:"currency"`
	N                  int        `db:"n"`
	Delivered          int        `db:"delivered"`
	InTransit          int        `db:"in_transit"`
	Failed             int        `db:"failed"`
	Cost               Money      `db:"cost"`
	AvgCost            *Money     `db:"avg_cost"`
	DeliveryRate       *float64   `db:"delivery_rate"`
	OnTimeRate         *float64   `db:"on_time_rate"`
	OriginCity         *string    `db:"origin_city"`
	OriginState        *string    `db:"origin_state"`
	OriginCountry      *string    `db:"origin_country"`
	DestinationCity    *string    `db:"destination_city"`
	DestinationState   *string    `db:"destination_state"`
	DestinationCountry *string    `db:"destination_country"`
	Rank               *int64     `db:"rank"`
}

// route is the route of a route row.
func (r dashboardRow) route() Route {
	return Route{
		Origin:      RoutePlace{City: deref(r.OriginCity), State: r.OriginState, Country: deref(r.OriginCountry)},
		Destination: RoutePlace{City: deref(r.DestinationCity), State: r.DestinationState, Country: deref(r.DestinationCountry)},
		Shipments:   r.N,
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Dashboard computes the dashboard of the shipments created from start to
// end (UTC days, both included). A range that is reversed or longer than
// MaxAnalyticsDays is a *ValidationError.
//
// Concurrent calls for the same range share one computation that starts
// after each of them began (see coalescer), so every answer includes every
// write committed before its call; callers must not modify the answer.
func (s *Store) Dashboard(ctx context.Context, start, end Date) (Dashboard, error) {
	var v ValidationError
	checkRange(&v, "start_date", "end_date", start, end)
	if err := v.Err(); err != nil {
		return Dashboard{}, err
	}
	// The source is chosen per caller (a replica, or the primary): callers
	// share a computation only on the same source.
	pool, source := s.readPool(ctx)
	d, err := s.dashFlights.do(ctx, dashboardKey{start, end, source}, func(ctx context.Context) (Dashboard, error) {
		return s.dashboard(ctx, pool, start, end)
	})
	if err != nil && ctx.Err() != nil {
		// This caller's own deadline, not the computation's failure.
		return Dashboard{}, fmt.Errorf("dashboard: %w", classify(ctx.Err()))
	}
	return d, err
}

// dashboardKey is a dashboard computation: its range and its source, the
// index of a replica or -1 for the primary.
type dashboardKey struct {
	start, end Date
	source     int
}

// dashboard runs the dashboard's statement on pool, assembles its rows,
// and queues the days it found unmaterialized for the refresher.
func (s *Store) dashboard(ctx context.Context, pool *sql.DB, start, end Date) (Dashboard, error) {
	var rows []dashboardRow
	err := onPgx(ctx, pool, func(c *pgx.Conn) error {
		r, err := c.Query(ctx, dashboardSQL, start, end)
		if err != nil {
			return err
		}
		_, err = collect(s.db, r, dashboardSQL, &rows)
		return err
	})
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard: %w", classify(err))
	}
	d, unmaterialized := assembleDashboard(rows, start, end)
	if len(unmaterialized) > 0 {
		s.materializeLater(unmaterialized)
	}
	return d, nil
}

// assembleDashboard builds the dashboard of [start, end] from the rows of
// dashboardSQL, and returns the days the rows name unmaterialized.
func assembleDashboard(rows []dashboardRow, start, end Date) (Dashboard, []Date) {
	d := Dashboard{
		DateRange: DateRange{StartDate: start, EndDate: end, Days: Days(start, end)},
		ByCarrier: []CarrierFigures{}, ByDate: []DateFigures{}, TopRoutes: []Route{},
	}
	shape := newCostShape(rows)
	summaryCosts := byCurrency{}
	carrierCosts := map[string]byCurrency{} // by carrierKey
	var days dayFigures
	var unmaterialized []Date
	for _, r := range rows {
		switch r.G {
		case groupAll:
			d.Summary.TotalShipments, d.Summary.Delivered = r.N, r.Delivered
			d.Summary.InTransit, d.Summary.Failed = r.InTransit, r.Failed
			d.Summary.DeliveryRate, d.Summary.OnTimeRate = r.DeliveryRate, r.OnTimeRate
		case groupCurrency:
			summaryCosts[*r.Currency] = r
		case groupCarrier:
			d.ByCarrier = append(d.ByCarrier, CarrierFigures{Carrier: r.Carrier, Shipments: r.N, Delivered: r.Delivered,
				OnTimeRate: r.OnTimeRate})
		case groupCarrierCurrency:
			k := carrierKey(r.Carrier)
			if carrierCosts[k] == nil {
				carrierCosts[k] = byCurrency{}
			}
			carrierCosts[k][*r.Currency] = r
		case groupDayCurrency:
			days.add(r)
		case groupRoute:
			d.TopRoutes = append(d.TopRoutes, r.route())
		case groupUnmaterialized:
			unmaterialized = append(unmaterialized, Date{r.Day.UTC()})
		}
	}
	d.Summary.TotalCost, d.Summary.AverageCost = shape.costs(summaryCosts, false), shape.costs(summaryCosts, true)
	for i := range d.ByCarrier {
		cc := carrierCosts[carrierKey(d.ByCarrier[i].Carrier)]
		d.ByCarrier[i].TotalCost, d.ByCarrier[i].AverageCost = shape.costs(cc, false), shape.costs(cc, true)
	}
	sortCarriers(d.ByCarrier)
	d.ByDate = days.figures(shape)
	return d, unmaterialized
}

// byCurrency is the rows of one group, keyed by currency.
type byCurrency map[string]dashboardRow

// costShape is the shape of every cost of a dashboard, which the range's
// currencies decide: one amount, or one per currency.
type costShape struct {
	currencies []string // sorted
}

func newCostShape(rows []dashboardRow) costShape {
	var c costShape
	for _, r := range rows {
		if r.G == groupCurrency {
			c.currencies = append(c.currencies, *r.Currency)
		}
	}
	slices.Sort(c.currencies)
	return c
}

// costs builds a Costs, total or average, from the rows of one group.
func (c costShape) costs(rows byCurrency, average bool) Costs {
	if len(c.currencies) <= 1 {
		var r dashboardRow
		ok := false
		for _, x := range rows {
			r, ok = x, true
		}
		return Costs{One: pickCost(r, ok, average)}
	}
	out := Costs{ByCurrency: map[string]*Money{}}
	for _, cur := range c.currencies {
		r, ok := rows[cur]
		out.ByCurrency[cur] = pickCost(r, ok, average)
	}
	return out
}

// pickCost is r's average or total cost; a total is 0 where the group has
// no row (ok false), an average null.
func pickCost(r dashboardRow, ok, average bool) *Money {
	switch {
	case average:
		return r.AvgCost
	case ok:
		return &r.Cost
	}
	zero := Money(0)
	return &zero
}

// dayFigures collects the (day, currency) rows, in the statement's order
// of days, adding up each day's counts over its currencies.
type dayFigures struct {
	order  []time.Time
	costs  map[time.Time]byCurrency
	counts map[time.Time]*DateFigures
}

func (f *dayFigures) add(r dashboardRow) {
	if f.costs == nil {
		f.costs, f.counts = map[time.Time]byCurrency{}, map[time.Time]*DateFigures{}
	}
	day := r.Day.UTC()
	if _, seen := f.costs[day]; !seen {
		f.order = append(f.order, day)
		f.costs[day] = byCurrency{}
		f.counts[day] = &DateFigures{Date: Date{day}}
	}
	if r.Currency != nil { // a day without shipments
		f.costs[day][*r.Currency] = r
	}
	c := f.counts[day]
	c.Shipments += r.N
	c.Delivered += r.Delivered
	c.InTransit += r.InTransit
	c.Failed += r.Failed
}

func (f *dayFigures) figures(shape costShape) []DateFigures {
	out := []DateFigures{}
	for _, day := range f.order {
		c := *f.counts[day]
		c.Other = c.Shipments - c.Delivered - c.InTransit - c.Failed
		c.TotalCost = shape.costs(f.costs[day], false)
		out = append(out, c)
	}
	return out
}

// carrierKey keys a carrier's rows; shipments without a carrier have a key
// no carrier name can be.
func carrierKey(c *string) string {
	if c == nil {
		return "\x00null"
	}
	return *c
}

// sortCarriers puts the busiest carrier first; ties by name, shipments
// without a carrier last.
func sortCarriers(cs []CarrierFigures) {
	slices.SortStableFunc(cs, func(a, b CarrierFigures) int {
		switch {
		case a.Shipments != b.Shipments:
			return b.Shipments - a.Shipments
		case a.Carrier == nil || b.Carrier == nil:
			return boolCmp(a.Carrier == nil, b.Carrier == nil)
		}
		return cmp.Compare(*a.Carrier, *b.Carrier)
	})
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
