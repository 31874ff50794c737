package models

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Fixture addresses: New York and Boston in the US, Paris (no state) in
// France.
const (
	addrNY     = "00000000-0000-0000-0000-00000000000a"
	addrBoston = "00000000-0000-0000-0000-00000000000b"
	addrParis  = "00000000-0000-0000-0000-00000000000c"
)

// testShipment is a shipment row written with SQL; an empty string is
// NULL.
type testShipment struct {
	id, created, carrier, service, status, cost, currency, delivered, est, from, to string
	days                                                                            *int
}

func insertAddresses(t *testing.T, s *Store) {
	t.Helper()
	_, err := s.DB().Exec(`INSERT INTO addresses (id, street1, city, state, zip, country) VALUES
		($1, '1 Broadway', 'New York', 'NY', '10004', 'US'),
		($2, '1 Beacon St', 'Boston', 'MA', '02108', 'US'),
		($3, '1 Rue de Rivoli', 'Paris', NULL, '75001', 'FR')`, addrNY, addrBoston, addrParis)
	if err != nil {
		t.Fatal(err)
	}
}

func insertShipments(t *testing.T, s *Store, rows ...testShipment) {
	t.Helper()
	for _, r := range rows {
		if r.currency == "" {
			r.currency = "USD"
		}
		_, err := s.DB().Exec(`
			INSERT INTO shipments (id, created_at, carrier, service, status, total_cost, currency,
			                       delivery_date, est_delivery_date, from_address_id, to_address_id, delivery_days)
			VALUES (coalesce(nullif($1, '')::uuid, gen_random_uuid()), $2::timestamptz, nullif($3, ''), nullif($4, ''),
			        $5, nullif($6, '')::numeric, $7, nullif($8, '')::timestamptz, nullif($9, '')::timestamptz,
			        $10::uuid, $11::uuid, $12)`,
			r.id, r.created, r.carrier, r.service, r.status, r.cost, r.currency, r.delivered, r.est, r.from, r.to, r.days)
		if err != nil {
			t.Fatalf("insert %+v: %v", r, err)
		}
	}
}

func intPtr(n int) *int { return &n }

func day(s string) Date {
	t, err := time.Parse(DateFormat, s)
	if err != nil {
		panic(err)
	}
	return Date{t}
}

// fixture is the hand-built data set of the dashboard and rollup tests:
// 2026-03-01 to 2026-03-03, six shipments in range (two currencies, one
// without a carrier, one without a cost), none on 03-02, and three just
// outside the range.
func fixture(t *testing.T, s *Store) {
	t.Helper()
	insertAddresses(t, s)
	insertShipments(t, s,
		// 03-01: USPS on time at the very instant estimated (3 days), USPS
		// late (5 days), FedEx delivered
		// without an estimate (delivery_days 4 wins over the dates), and a
		// failure without a carrier in EUR at the first instant of the range.
		testShipment{id: "00000000-0000-0000-0000-000000000001", created: "2026-03-01T10:00:00Z", carrier: "USPS", service: "Priority", status: "delivered",
			cost: "10.00", delivered: "2026-03-04T00:00:00Z", est: "2026-03-04T00:00:00Z", from: addrNY, to: addrBoston},
		testShipment{id: "00000000-0000-0000-0000-000000000002", created: "2026-03-01T23:59:59.999999Z", carrier: "USPS", service: "Priority", status: "delivered",
			cost: "5.50", delivered: "2026-03-06T09:00:00Z", est: "2026-03-04T00:00:00Z", from: addrNY, to: addrBoston},
		testShipment{id: "00000000-0000-0000-0000-000000000009", created: "2026-03-01T12:00:00Z", carrier: "FedEx", status: "delivered",
			cost: "2.00", delivered: "2026-03-02T12:00:00Z", from: addrParis, to: addrNY, days: intPtr(4)},
		testShipment{id: "00000000-0000-0000-0000-000000000007", created: "2026-03-01T00:00:00Z", service: "Express", status: "failure",
			cost: "4.50", currency: "EUR", from: addrBoston, to: addrNY},
		// 03-03: UPS in transit at the last instant of the range, UPS
		// pre_transit without a cost.
		testShipment{id: "00000000-0000-0000-0000-000000000003", created: "2026-03-03T23:59:59.999999Z", carrier: "UPS", service: "Ground", status: "in_transit",
			cost: "0.10", from: addrNY, to: addrParis},
		testShipment{id: "00000000-0000-0000-0000-000000000008", created: "2026-03-03T08:00:00Z", carrier: "UPS", service: "Ground", status: "pre_transit",
			from: addrNY, to: addrParis},
		// Outside: the midnight after the end, 23:30 at UTC−5 on the end
		// date (04:30 UTC the next day), the last instant before the start.
		testShipment{created: "2026-03-04T00:00:00Z", carrier: "USPS", service: "Priority", status: "delivered", cost: "100.00", from: addrNY, to: addrBoston},
		testShipment{created: "2026-03-03T23:30:00-05:00", carrier: "USPS", service: "Priority", status: "failure", cost: "100.00", from: addrNY, to: addrBoston},
		testShipment{created: "2026-02-28T23:59:59.999999Z", carrier: "DHL", service: "Express", status: "delivered", cost: "100.00", from: addrParis, to: addrParis},
	)
}

// jsonOf marshals v and decodes it again, for comparisons of JSON shape.
func jsonOf(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func parseJSON(t *testing.T, s string) any {
	t.Helper()
	var out any
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatalf("bad want JSON: %v", err)
	}
	return out
}

func TestDashboard(t *testing.T) {
	s := newStore(t)
	fixture(t, s)
	d, err := s.Dashboard(context.Background(), day("2026-03-01"), day("2026-03-03"))
	if err != nil {
		t.Fatal(err)
	}
	// By hand: 6 shipments in range; USD costs 10.00 + 5.50 + 2.00 + 0.10
	// (one USD shipment has no cost, so the USD average is over 4), EUR
	// 4.50. Delivered 3 of 6; in transit: in_transit + pre_transit; failed:
	// the failure. USPS: 1 of 2 judged on time, and so overall (FedEx's
	// has no estimate). By day: 03-01 the three delivered and the failure;
	// 03-03 both in transit. UPS before USPS on the
	// tie; FedEx before the carrier-less line on the tie. Routes: ties
	// broken by origin then destination, country first ("FR" < "US").
	want := parseJSON(t, `{
	  "summary": {"total_shipments": 6, "total_cost": {"EUR": 4.50, "USD": 17.60},
	              "average_cost": {"EUR": 4.50, "USD": 4.40},
	              "delivered": 3, "in_transit": 2, "failed": 1, "delivery_rate": 50.00, "on_time_rate": 50.00},
	  "by_carrier": [
	    {"carrier": "UPS", "shipments": 2, "total_cost": {"EUR": 0.00, "USD": 0.10},
	     "average_cost": {"EUR": null, "USD": 0.10}, "delivered": 0, "on_time_rate": null},
	    {"carrier": "USPS", "shipments": 2, "total_cost": {"EUR": 0.00, "USD": 15.50},
	     "average_cost": {"EUR": null, "USD": 7.75}, "delivered": 2, "on_time_rate": 50.00},
	    {"carrier": "FedEx", "shipments": 1, "total_cost": {"EUR": 0.00, "USD": 2.00},
	     "average_cost": {"EUR": null, "USD": 2.00}, "delivered": 1, "on_time_rate": null},
	    {"carrier": null, "shipments": 1, "total_cost": {"EUR": 4.50, "USD": 0.00},
	     "average_cost": {"EUR": 4.50, "USD": null}, "delivered": 0, "on_time_rate": null}
	  ],
	  "by_date": [
	    {"date": "2026-03-01", "shipments": 4, "delivered": 3, "in_transit": 0, "failed": 1, "other": 0,
	     "total_cost": {"EUR": 4.50, "USD": 17.50}},
	    {"date": "2026-03-02", "shipments": 0, "delivered": 0, "in_transit": 0, "failed": 0, "other": 0,
	     "total_cost": {"EUR": 0.00, "USD": 0.00}},
	    {"date": "2026-03-03", "shipments": 2, "delivered": 0, "in_transit": 2, "failed": 0, "other": 0,
	     "total_cost": {"EUR": 0.00, "USD": 0.10}}
	  ],
	  "top_routes": [
	    {"origin": {"city": "New York", "state": "NY", "country": "US"},
	     "destination": {"city": "Paris", "state": null, "country": "FR"}, "shipments": 2},
	    {"origin": {"city": "New York", "state": "NY", "country": "US"},
	     "destination": {"city": "Boston", "state": "MA", "country": "US"}, "shipments": 2},
	    {"origin": {"city": "Paris", "state": null, "country": "FR"},
	     "destination": {"city": "New York", "state": "NY", "country": "US"}, "shipments": 1},
	    {"origin": {"city": "Boston", "state": "MA", "country": "US"},
	     "destination": {"city": "New York", "state": "NY", "country": "US"}, "shipments": 1}
	  ],
	  "date_range": {"start_date": "2026-03-01", "end_date": "2026-03-03", "days": 3}
	}`)
	if diff := cmp.Diff(want, jsonOf(t, d)); diff != "" {
		t.Errorf("dashboard (-want +got):\n%s", diff)
	}
}

func TestDashboardSingleCurrencyAndExactMoney(t *testing.T) {
	s := newStore(t)
	insertAddresses(t, s)
	for range 10 {
		insertShipments(t, s, testShipment{created: "2026-05-10T12:00:00Z", carrier: "USPS", status: "delivered", cost: "0.10",
			delivered: "2026-05-11T12:00:00Z", est: "2026-05-12T00:00:00Z", from: addrNY, to: addrBoston})
	}
	// One more delivered late, with no cost: 10 of 11 on time = 90.91.
	insertShipments(t, s, testShipment{created: "2026-05-11T12:00:00Z", carrier: "USPS", status: "delivered",
		delivered: "2026-05-20T12:00:00Z", est: "2026-05-12T00:00:00Z", from: addrNY, to: addrBoston})
	d, err := s.Dashboard(context.Background(), day("2026-05-10"), day("2026-05-11"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := parseJSON(t, `{
	  "summary": {"total_shipments": 11, "total_cost": 1.00, "average_cost": 0.10,
	              "delivered": 11, "in_transit": 0, "failed": 0, "delivery_rate": 100.00, "on_time_rate": 90.91},
	  "by_carrier": [{"carrier": "USPS", "shipments": 11, "total_cost": 1.00, "average_cost": 0.10,
	                  "delivered": 11, "on_time_rate": 90.91}],
	  "by_date": [{"date": "2026-05-10", "shipments": 10, "delivered": 10, "in_transit": 0, "failed": 0, "other": 0,
	               "total_cost": 1.00},
	              {"date": "2026-05-11", "shipments": 1, "delivered": 1, "in_transit": 0, "failed": 0, "other": 0,
	               "total_cost": 0.00}],
	  "top_routes": [{"origin": {"city": "New York", "state": "NY", "country": "US"},
	                  "destination": {"city": "Boston", "state": "MA", "country": "US"}, "shipments": 11}],
	  "date_range": {"start_date": "2026-05-10", "end_date": "2026-05-11", "days": 2}
	}`)
	if diff := cmp.Diff(want, jsonOf(t, d)); diff != "" {
		t.Errorf("dashboard (-want +got):\n%s", diff)
	}
	// Exact, written with two decimals.
	for _, sub := range []string{`"total_cost":1.00`, `"average_cost":0.10`, `"total_cost":0.00`} {
		if !strings.Contains(string(raw), sub) {
			t.Errorf("JSON lacks %s: %s", sub, raw)
		}
	}
}

func TestDashboardEmpty(t *testing.T) {
	s := newStore(t)
	d, err := s.Dashboard(context.Background(), day("2026-01-01"), day("2026-01-01"))
	if err != nil {
		t.Fatal(err)
	}
	want := parseJSON(t, `{
	  "summary": {"total_shipments": 0, "total_cost": 0.00, "average_cost": null,
	              "delivered": 0, "in_transit": 0, "failed": 0, "delivery_rate": null, "on_time_rate": null},
	  "by_carrier": [], "by_date": [{"date": "2026-01-01", "shipments": 0, "delivered": 0, "in_transit": 0, "failed": 0,
	                                 "other": 0, "total_cost": 0.00}],
	  "top_routes": [], "date_range": {"start_date": "2026-01-01", "end_date": "2026-01-01", "days": 1}
	}`)
	if diff := cmp.Diff(want, jsonOf(t, d)); diff != "" {
		t.Errorf("dashboard (-want +got):\n%s", diff)
	}
}

// TestDashboardStatusGroups counts each day's shipments by status group
// and the range's on-time rate, computed from the shipments and again from
// the materialized days, against figures worked out by hand.
func TestDashboardStatusGroups(t *testing.T) {
	s := newStore(t)
	insertAddresses(t, s)
	// 04-01: one shipment of each status, in USD.
	for _, st := range Statuses {
		insertShipments(t, s, testShipment{created: "2026-04-01T12:00:00Z", carrier: "UPS", status: st, cost: "1.00",
			from: addrNY, to: addrBoston})
	}
	// 04-02, in two currencies: cancelled (EUR), unknown, delivered on
	// time (EUR), delivered a day late, delivered with no delivery time
	// (not judged), delivered with no estimate (not judged).
	insertShipments(t, s,
		testShipment{created: "2026-04-02T01:00:00Z", carrier: "DHL", status: "cancelled", currency: "EUR", from: addrParis, to: addrNY},
		testShipment{created: "2026-04-02T02:00:00Z", carrier: "DHL", status: "unknown", from: addrParis, to: addrNY},
		testShipment{created: "2026-04-02T03:00:00Z", carrier: "DHL", status: "delivered", currency: "EUR",
			delivered: "2026-04-04T00:00:00Z", est: "2026-04-05T00:00:00Z", from: addrParis, to: addrNY},
		testShipment{created: "2026-04-02T04:00:00Z", carrier: "UPS", status: "delivered",
			delivered: "2026-04-06T00:00:00Z", est: "2026-04-05T00:00:00Z", from: addrNY, to: addrBoston},
		testShipment{created: "2026-04-02T05:00:00Z", carrier: "UPS", status: "delivered",
			est: "2026-04-05T00:00:00Z", from: addrNY, to: addrBoston},
		testShipment{created: "2026-04-02T06:00:00Z", carrier: "UPS", status: "delivered",
			delivered: "2026-04-03T00:00:00Z", from: addrNY, to: addrBoston},
	)
	start, end := day("2026-03-31"), day("2026-04-02")
	// By hand. 04-01: delivered 1; in transit pre_transit, in_transit,
	// out_for_delivery, available_for_pickup = 4; failed failure, error,
	// return_to_sender = 3; other unknown, cancelled = 2. 04-02: delivered
	// 4, other 2. On time: the 04-01 delivered has no dates, so 1 on time
	// (DHL) of the 2 judged (DHL, the late UPS) = 50.00 overall; UPS 0 of
	// 1, DHL 1 of 1.
	wantDays := []DateFigures{
		{Date: day("2026-03-31")},
		{Date: day("2026-04-01"), Shipments: 10, Delivered: 1, InTransit: 4, Failed: 3, Other: 2},
		{Date: day("2026-04-02"), Shipments: 6, Delivered: 4, Other: 2},
	}
	check := func(what string, d Dashboard) {
		t.Helper()
		if d.Summary.OnTimeRate == nil || *d.Summary.OnTimeRate != 50 {
			t.Errorf("%s: on_time_rate %v, want 50.00", what, d.Summary.OnTimeRate)
		}
		rates := map[string]float64{}
		for _, c := range d.ByCarrier {
			if c.OnTimeRate != nil {
				rates[*c.Carrier] = *c.OnTimeRate
			}
		}
		if want := map[string]float64{"UPS": 0, "DHL": 100}; !cmp.Equal(rates, want) {
			t.Errorf("%s: carriers' on-time rates %v, want %v", what, rates, want)
		}
		got := slices.Clone(d.ByDate)
		for i := range got {
			got[i].TotalCost = Costs{}
		}
		if diff := cmp.Diff(jsonOf(t, wantDays), jsonOf(t, got)); diff != "" {
			t.Errorf("%s: by_date (-want +got):\n%s", what, diff)
		}
	}
	live := dashboard(t, s, start, end)
	check("live", live)
	refresh(t, s, daysOf(start, end)...)
	if n := count(t, s, `SELECT count(*) FROM dashboard_days`); n != 2 {
		t.Fatalf("%d materialized days, want 2", n)
	}
	materialized := dashboard(t, s, start, end)
	check("materialized", materialized)
	sameDashboard(t, "materialized", live, materialized)
}

func TestAnalyticsRangeValidation(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, r := range []struct{ start, end string }{
		{"2026-03-02", "2026-03-01"}, // reversed
		{"2025-01-01", "2026-01-02"}, // 367 days
	} {
		var v *ValidationError
		if _, err := s.Dashboard(ctx, day(r.start), day(r.end)); !errors.As(err, &v) {
			t.Errorf("Dashboard(%s, %s) = %v, want a *ValidationError", r.start, r.end, err)
		}
		if _, err := s.Rollup(ctx, day(r.start), day(r.end)); !errors.As(err, &v) {
			t.Errorf("Rollup(%s, %s) = %v, want a *ValidationError", r.start, r.end, err)
		}
	}
	// 366 days, both included, is the maximum.
	if _, err := s.Dashboard(ctx, day("2025-01-01"), day("2026-01-01")); err != nil {
		t.Errorf("366 days: %v", err)
	}
}

// rollupRows reads both rollup tables in a stable order.
func rollupRows(t *testing.T, s *Store) ([]AnalyticsSummary, []CarrierPerformance) {
	t.Helper()
	var sums []AnalyticsSummary
	if err := s.db.Order("date, currency").Find(&sums).Error; err != nil {
		t.Fatal(err)
	}
	var cps []CarrierPerformance
	if err := s.db.Order("date, carrier, service, currency").Find(&cps).Error; err != nil {
		t.Fatal(err)
	}
	return sums, cps
}

var (
	// Dates and times compare by their instant; jsonb by its meaning.
	rollupCmp = []cmp.Option{
		cmp.Transformer("date", func(d Date) string { return d.Format(DateFormat) }),
		cmp.Transformer("time", func(t Time) string { return t.UTC().Format(time.RFC3339Nano) }),
		cmp.Transformer("json", func(j JSON) any {
			var v any
			if len(j) > 0 {
				_ = json.Unmarshal(j, &v)
			}
			return v
		}),
	}
	// ignoreStored ignores what the database assigns.
	ignoreStored = cmpopts.IgnoreFields(AnalyticsSummary{}, "ID", "CreatedAt", "UpdatedAt")
	ignoreCP     = cmpopts.IgnoreFields(CarrierPerformance{}, "ID", "CreatedAt", "UpdatedAt")
)

func money(s string) *Money {
	m, err := ParseMoney(s)
	if err != nil {
		panic(err)
	}
	return &m
}

func f64(v float64) *float64 { return &v }

func TestRollup(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	fixture(t, s)
	res, err := s.Rollup(ctx, day("2026-03-01"), day("2026-03-03"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (RollupResult{StartDate: day("2026-03-01"), EndDate: day("2026-03-03"), Days: 3, Summaries: 3, CarrierPerformance: 4}); !cmp.Equal(res, want, rollupCmp...) {
		t.Errorf("result %+v, want %+v", res, want)
	}

	// By hand. 03-01 USD: shipments 1, 2 (USPS Priority, NY→Boston) and 9
	// (FedEx, no service, Paris→NY); delivery days 3, 5 and 4 (recorded);
	// on time 1 of the 2 with an estimate. 03-01 EUR: the carrier-less
	// failure Boston→NY. 03-03 USD: the two UPS Ground NY→Paris.
	wantSums := []AnalyticsSummary{
		{Date: day("2026-03-01"), Period: "daily", Currency: "EUR", TotalShipments: 1, FailedShipments: 1,
			TotalCost: *money("4.50"), AverageCostPerShipment: money("4.50"),
			CarrierStats:            JSON(`{"unknown": {"shipments": 1, "delivered": 0, "total_cost": 4.50}}`),
			TopDestinations:         JSON(`[{"city": "New York", "state": "NY", "country": "US", "shipments": 1}]`),
			DomesticVsInternational: JSON(`{"domestic": 1, "international": 0}`),
			ServiceBreakdown:        JSON(`{"Express": 1}`)},
		{Date: day("2026-03-01"), Period: "daily", Currency: "USD", TotalShipments: 3, SuccessfulShipments: 3,
			TotalCost: *money("17.50"), AverageCostPerShipment: money("5.83"), AverageDeliveryDays: f64(4),
			OnTimeDeliveryRate: f64(50),
			CarrierStats: JSON(`{"USPS": {"shipments": 2, "delivered": 2, "total_cost": 15.50},
			                     "FedEx": {"shipments": 1, "delivered": 1, "total_cost": 2.00}}`),
			TopDestinations: JSON(`[{"city": "Boston", "state": "MA", "country": "US", "shipments": 2},
			                        {"city": "New York", "state": "NY", "country": "US", "shipments": 1}]`),
			DomesticVsInternational: JSON(`{"domestic": 2, "international": 1}`),
			ServiceBreakdown:        JSON(`{"Priority": 2, "unknown": 1}`)},
		{Date: day("2026-03-03"), Period: "daily", Currency: "USD", TotalShipments: 2,
			TotalCost: *money("0.10"), AverageCostPerShipment: money("0.10"),
			CarrierStats:            JSON(`{"UPS": {"shipments": 2, "delivered": 0, "total_cost": 0.10}}`),
			TopDestinations:         JSON(`[{"city": "Paris", "state": null, "country": "FR", "shipments": 2}]`),
			DomesticVsInternational: JSON(`{"domestic": 0, "international": 2}`),
			ServiceBreakdown:        JSON(`{"Ground": 2}`)},
	}
	wantCPs := []CarrierPerformance{
		{Carrier: "FedEx", Service: "unknown", Date: day("2026-03-01"), Currency: "USD", TotalShipments: 1,
			TotalCost: *money("2.00"), AverageCost: money("2.00"), AverageDeliveryDays: f64(4),
			MinDeliveryDays: intPtr(4), MaxDeliveryDays: intPtr(4)},
		{Carrier: "USPS", Service: "Priority", Date: day("2026-03-01"), Currency: "USD", TotalShipments: 2,
			OnTimeDeliveries: 1, DelayedDeliveries: 1, TotalCost: *money("15.50"), AverageCost: money("7.75"),
			AverageDeliveryDays: f64(4), MinDeliveryDays: intPtr(3), MaxDeliveryDays: intPtr(5),
			OnTimeRate: f64(50), ReliabilityScore: f64(50)},
		{Carrier: "unknown", Service: "Express", Date: day("2026-03-01"), Currency: "EUR", TotalShipments: 1,
			FailedDeliveries: 1, TotalCost: *money("4.50"), AverageCost: money("4.50")},
		{Carrier: "UPS", Service: "Ground", Date: day("2026-03-03"), Currency: "USD", TotalShipments: 2,
			TotalCost: *money("0.10"), AverageCost: money("0.10")},
	}
	sums, cps := rollupRows(t, s)
	if diff := cmp.Diff(wantSums, sums, append(rollupCmp, ignoreStored)...); diff != "" {
		t.Errorf("summaries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantCPs, cps, append(rollupCmp, ignoreCP)...); diff != "" {
		t.Errorf("carrier performance (-want +got):\n%s", diff)
	}

	// Twice: nothing changes, updated_at included.
	if _, err := s.Rollup(ctx, day("2026-03-01"), day("2026-03-03")); err != nil {
		t.Fatal(err)
	}
	sums2, cps2 := rollupRows(t, s)
	if diff := cmp.Diff(sums, sums2, rollupCmp...); diff != "" {
		t.Errorf("a second rollup changed summaries (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(cps, cps2, rollupCmp...); diff != "" {
		t.Errorf("a second rollup changed carrier performance (-first +second):\n%s", diff)
	}

	// A new USPS Priority failure on 03-01 (USD 1.00): that day's USD
	// summary and USPS row change; the others keep their updated_at.
	insertShipments(t, s, testShipment{created: "2026-03-01T15:00:00Z", carrier: "USPS", service: "Priority",
		status: "failure", cost: "1.00", from: addrNY, to: addrBoston})
	if _, err := s.Rollup(ctx, day("2026-03-01"), day("2026-03-03")); err != nil {
		t.Fatal(err)
	}
	sums3, cps3 := rollupRows(t, s)
	usd := sums3[1]
	if usd.TotalShipments != 4 || usd.FailedShipments != 1 || usd.TotalCost != *money("18.50") ||
		*usd.AverageCostPerShipment != *money("4.63") || !usd.UpdatedAt.After(sums[1].UpdatedAt.Time) {
		t.Errorf("03-01 USD after a new shipment: %+v", usd)
	}
	usps := cps3[1]
	if usps.TotalShipments != 3 || usps.FailedDeliveries != 1 || usps.TotalCost != *money("16.50") ||
		*usps.AverageCost != *money("5.50") || *usps.OnTimeRate != 50 || *usps.ReliabilityScore != 33.33 {
		t.Errorf("USPS Priority after a new failure: %+v", usps)
	}
	for _, i := range []int{0, 2} {
		if diff := cmp.Diff(sums[i], sums3[i], rollupCmp...); diff != "" {
			t.Errorf("summary %d changed (-before +after):\n%s", i, diff)
		}
	}
	for _, i := range []int{0, 2, 3} {
		if diff := cmp.Diff(cps[i], cps3[i], rollupCmp...); diff != "" {
			t.Errorf("carrier performance %d changed (-before +after):\n%s", i, diff)
		}
	}

	// 03-03's shipments deleted: its rows go.
	if _, err := s.DB().Exec(`DELETE FROM shipments WHERE created_at >= '2026-03-03' AND created_at < '2026-03-04'`); err != nil {
		t.Fatal(err)
	}
	res, err = s.Rollup(ctx, day("2026-03-03"), day("2026-03-03"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Summaries != 0 || res.CarrierPerformance != 0 {
		t.Errorf("result after deleting the day: %+v", res)
	}
	sums4, cps4 := rollupRows(t, s)
	if len(sums4) != 2 || len(cps4) != 3 {
		t.Errorf("after deleting 03-03's shipments: %d summaries, %d carrier rows; want 2 and 3", len(sums4), len(cps4))
	}
	for _, r := range sums4 {
		if r.Date.Equal(day("2026-03-03").Time) {
			t.Errorf("a summary of 03-03 is left: %+v", r)
		}
	}
}
