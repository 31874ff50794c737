package models

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
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

// DateFigures is one day of the dashboard.
type DateFigures struct {
	Date      Date  `json:"date"`
	Shipments int   `json:"shipments"`
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

// Dashboard is the analytics dashboard of SPEC 6.3.
type Dashboard struct {
	Summary   DashboardSummary `json:"summary"`
	ByCarrier []CarrierFigures `json:"by_carrier"`
	ByDate    []DateFigures    `json:"by_date"`
	TopRoutes []Route          `json:"top_routes"`
	DateRange DateRange        `json:"date_range"`
}

// The sets of GROUPING(day, carrier, currency) in dashboardSQL: a bit is
// set for each column aggregated away.
const (
	groupAll             = 7 // ()
	groupCurrency        = 6 // (currency)
	groupCarrier         = 5 // (carrier)
	groupCarrierCurrency = 4 // (carrier, currency)
	groupDayCurrency     = 2 // (day, currency)
)

// dashboardSQL makes one pass over the range's shipments ($1 ≤ created_at
// < $2) and returns every group the dashboard needs; the (day, currency)
// groups are joined to every day from $3 to $4 so that a day without
// shipments comes back as a row of zeros (currency NULL).
const dashboardSQL = `
WITH s AS (
    SELECT (created_at AT TIME ZONE 'UTC')::date AS day, carrier, currency, status, total_cost,
           delivery_date, est_delivery_date
    FROM shipments
    WHERE created_at >= $1 AND created_at < $2
),
agg AS (
    SELECT GROUPING(day, carrier, currency) AS g, day, carrier, currency,
           count(*) AS n,
           count(*) FILTER (WHERE status = 'delivered') AS delivered,
           count(*) FILTER (WHERE status IN ('pre_transit', 'in_transit', 'out_for_delivery', 'available_for_pickup')) AS in_transit,
           count(*) FILTER (WHERE status IN ('failure', 'error', 'return_to_sender')) AS failed,
           coalesce(sum(total_cost), 0) AS cost,
           round(avg(total_cost), 2) AS avg_cost,
           round(100.0 * count(*) FILTER (WHERE status = 'delivered') / nullif(count(*), 0), 2)::float8 AS delivery_rate,
           round(100.0 * count(*) FILTER (WHERE status = 'delivered' AND delivery_date <= est_delivery_date)
                 / nullif(count(*) FILTER (WHERE status = 'delivered' AND delivery_date IS NOT NULL AND est_delivery_date IS NOT NULL), 0),
                 2)::float8 AS on_time_rate
    FROM s
    GROUP BY GROUPING SETS ((), (currency), (carrier), (carrier, currency), (day, currency))
),
days AS (
    SELECT d::date AS day FROM generate_series($3::date, $4::date, interval '1 day') AS d
)
SELECT g, day, carrier, currency, n, delivered, in_transit, failed, cost, avg_cost, delivery_rate, on_time_rate
FROM agg WHERE g <> 2
UNION ALL
SELECT 2, days.day, NULL, a.currency, coalesce(a.n, 0), 0, 0, 0, coalesce(a.cost, 0), a.avg_cost, NULL, NULL
FROM days LEFT JOIN agg AS a ON a.g = 2 AND a.day = days.day
ORDER BY g, day, currency`

// topRoutesSQL counts the range's shipments by origin and destination
// place; the addresses table is joined twice, once per end, under its own
// alias. Ties are broken by the places' text in byte order, so the answer
// does not depend on the database's locale.
const topRoutesSQL = `
SELECT o.city, o.state, o.country, d.city, d.state, d.country, count(*) AS n
FROM shipments AS s
JOIN addresses AS o ON o.id = s.from_address_id
JOIN addresses AS d ON d.id = s.to_address_id
WHERE s.created_at >= $1 AND s.created_at < $2
GROUP BY o.city, o.state, o.country, d.city, d.state, d.country
ORDER BY n DESC,
         o.country COLLATE "C", o.state COLLATE "C", o.city COLLATE "C",
         d.country COLLATE "C", d.state COLLATE "C", d.city COLLATE "C"
LIMIT 10`

// dashboardRow is one row of dashboardSQL.
type dashboardRow struct {
	g                             int
	day                           *time.Time
	carrier, currency             *string
	n, delivered, inTransit, fail int
	cost                          Money
	avgCost                       *Money
	deliveryRate, onTimeRate      *float64
}

// Dashboard computes the dashboard of the shipments created from start to
// end (UTC days, both included). A range that is reversed or longer than
// MaxAnalyticsDays is a *ValidationError.
func (s *Store) Dashboard(ctx context.Context, start, end Date) (Dashboard, error) {
	var v ValidationError
	checkRange(&v, "start_date", "end_date", start, end)
	if err := v.Err(); err != nil {
		return Dashboard{}, err
	}
	lo, hi := dayBounds(start, end)
	d := Dashboard{
		DateRange: DateRange{StartDate: start, EndDate: end, Days: Days(start, end)},
		ByCarrier: []CarrierFigures{}, ByDate: []DateFigures{}, TopRoutes: []Route{},
	}

	rows, err := s.pool.QueryContext(ctx, dashboardSQL, lo, hi, start, end)
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard: %w", classify(err))
	}
	var all []dashboardRow
	for rows.Next() {
		var r dashboardRow
		if err := rows.Scan(&r.g, &r.day, &r.carrier, &r.currency, &r.n, &r.delivered, &r.inTransit, &r.fail,
			&r.cost, &r.avgCost, &r.deliveryRate, &r.onTimeRate); err != nil {
			rows.Close()
			return Dashboard{}, fmt.Errorf("dashboard: %w", classify(err))
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Dashboard{}, fmt.Errorf("dashboard: %w", classify(err))
	}

	// The range's currencies decide the shape of every cost.
	var currencies []string
	for _, r := range all {
		if r.g == groupCurrency {
			currencies = append(currencies, *r.currency)
		}
	}
	slices.Sort(currencies)
	multi := len(currencies) > 1
	// costs builds a Costs from the rows of one group, keyed by currency.
	costs := func(byCur map[string]dashboardRow, average bool) Costs {
		pick := func(r dashboardRow, ok bool) *Money {
			switch {
			case average:
				return r.avgCost
			case ok:
				return &r.cost
			}
			zero := Money(0)
			return &zero
		}
		if !multi {
			var r dashboardRow
			ok := false
			for _, x := range byCur {
				r, ok = x, true
			}
			return Costs{One: pick(r, ok)}
		}
		c := Costs{ByCurrency: map[string]*Money{}}
		for _, cur := range currencies {
			r, ok := byCur[cur]
			c.ByCurrency[cur] = pick(r, ok)
		}
		return c
	}

	summaryCosts := map[string]dashboardRow{}
	carrierCosts := map[string]map[string]dashboardRow{} // by carrier key, then currency
	dayCosts := map[time.Time]map[string]dashboardRow{}
	var dayOrder []time.Time
	dayCounts := map[time.Time]int{}
	carrierKey := func(c *string) string {
		if c == nil {
			return "\x00null"
		}
		return *c
	}
	for _, r := range all {
		switch r.g {
		case groupAll:
			d.Summary.TotalShipments, d.Summary.Delivered = r.n, r.delivered
			d.Summary.InTransit, d.Summary.Failed = r.inTransit, r.fail
			d.Summary.DeliveryRate = r.deliveryRate
		case groupCurrency:
			summaryCosts[*r.currency] = r
		case groupCarrier:
			d.ByCarrier = append(d.ByCarrier, CarrierFigures{Carrier: r.carrier, Shipments: r.n, Delivered: r.delivered,
				OnTimeRate: r.onTimeRate})
		case groupCarrierCurrency:
			k := carrierKey(r.carrier)
			if carrierCosts[k] == nil {
				carrierCosts[k] = map[string]dashboardRow{}
			}
			carrierCosts[k][*r.currency] = r
		case groupDayCurrency:
			day := r.day.UTC()
			if _, seen := dayCosts[day]; !seen {
				dayOrder = append(dayOrder, day)
				dayCosts[day] = map[string]dashboardRow{}
			}
			if r.currency != nil {
				dayCosts[day][*r.currency] = r
			}
			dayCounts[day] += r.n
		}
	}
	d.Summary.TotalCost, d.Summary.AverageCost = costs(summaryCosts, false), costs(summaryCosts, true)
	for i := range d.ByCarrier {
		cc := carrierCosts[carrierKey(d.ByCarrier[i].Carrier)]
		d.ByCarrier[i].TotalCost, d.ByCarrier[i].AverageCost = costs(cc, false), costs(cc, true)
	}
	// Busiest carrier first; ties by name, shipments without a carrier last.
	slices.SortStableFunc(d.ByCarrier, func(a, b CarrierFigures) int {
		switch {
		case a.Shipments != b.Shipments:
			return b.Shipments - a.Shipments
		case a.Carrier == nil || b.Carrier == nil:
			return boolCmp(a.Carrier == nil, b.Carrier == nil)
		}
		return cmp.Compare(*a.Carrier, *b.Carrier)
	})
	for _, day := range dayOrder {
		d.ByDate = append(d.ByDate, DateFigures{Date: Date{day}, Shipments: dayCounts[day], TotalCost: costs(dayCosts[day], false)})
	}

	routes, err := s.pool.QueryContext(ctx, topRoutesSQL, lo, hi)
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard top routes: %w", classify(err))
	}
	defer routes.Close()
	for routes.Next() {
		var r Route
		if err := routes.Scan(&r.Origin.City, &r.Origin.State, &r.Origin.Country,
			&r.Destination.City, &r.Destination.State, &r.Destination.Country, &r.Shipments); err != nil {
			return Dashboard{}, fmt.Errorf("dashboard top routes: %w", classify(err))
		}
		d.TopRoutes = append(d.TopRoutes, r)
	}
	if err := routes.Err(); err != nil {
		return Dashboard{}, fmt.Errorf("dashboard top routes: %w", classify(err))
	}
	return d, nil
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
