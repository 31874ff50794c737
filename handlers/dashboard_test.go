package handlers_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/waybill/waybill/models"
)

// insertDashboardShipments writes, by SQL, two shipments on 2026-03-01
// (USPS delivered on time, 10.00 and 0.10 USD, New York → Boston) and
// one failure on 2026-03-03 without a carrier (2.50 USD, Boston → New
// York).
func insertDashboardShipments(t *testing.T, f *fixture) {
	t.Helper()
	_, err := f.store.DB().Exec(`
		INSERT INTO addresses (id, street1, city, state, zip, country) VALUES
			('00000000-0000-0000-0000-00000000000a', '1 Broadway', 'New York', 'NY', '10004', 'US'),
			('00000000-0000-0000-0000-00000000000b', '1 Beacon St', 'Boston', 'MA', '02108', 'US');
		INSERT INTO shipments (created_at, carrier, service, status, total_cost, delivery_date, est_delivery_date,
		                       from_address_id, to_address_id) VALUES
			('2026-03-01T10:00:00Z', 'USPS', 'Priority', 'delivered', 10.00, '2026-03-02T10:00:00Z', '2026-03-03T00:00:00Z',
			 '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-00000000000b'),
			('2026-03-01T11:00:00Z', 'USPS', 'Priority', 'delivered', 0.10, '2026-03-02T10:00:00Z', '2026-03-03T00:00:00Z',
			 '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-00000000000b'),
			('2026-03-03T23:59:59.999999Z', NULL, NULL, 'failure', 2.50, NULL, NULL,
			 '00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-00000000000a')`)
	if err != nil {
		t.Fatal(err)
	}
}

func TestDashboardRoute(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeRead)
	insertDashboardShipments(t, f)

	rec, body := f.send(t, http.MethodGet, "/v1/analytics/dashboard?start_date=2026-03-01&end_date=2026-03-03", key, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	want := map[string]any{
		"summary": map[string]any{"total_shipments": 3.0, "total_cost": 12.6, "average_cost": 4.2,
			"delivered": 2.0, "in_transit": 0.0, "failed": 1.0, "delivery_rate": 66.67, "on_time_rate": 100.0},
		"by_carrier": []any{
			map[string]any{"carrier": "USPS", "shipments": 2.0, "total_cost": 10.1, "average_cost": 5.05,
				"delivered": 2.0, "on_time_rate": 100.0},
			map[string]any{"carrier": nil, "shipments": 1.0, "total_cost": 2.5, "average_cost": 2.5,
				"delivered": 0.0, "on_time_rate": nil},
		},
		"by_date": []any{
			map[string]any{"date": "2026-03-01", "shipments": 2.0, "delivered": 2.0, "in_transit": 0.0, "failed": 0.0,
				"other": 0.0, "total_cost": 10.1},
			map[string]any{"date": "2026-03-02", "shipments": 0.0, "delivered": 0.0, "in_transit": 0.0, "failed": 0.0,
				"other": 0.0, "total_cost": 0.0},
			map[string]any{"date": "2026-03-03", "shipments": 1.0, "delivered": 0.0, "in_transit": 0.0, "failed": 1.0,
				"other": 0.0, "total_cost": 2.5},
		},
		"top_routes": []any{
			map[string]any{"origin": map[string]any{"city": "New York", "state": "NY", "country": "US"},
				"destination": map[string]any{"city": "Boston", "state": "MA", "country": "US"}, "shipments": 2.0},
			map[string]any{"origin": map[string]any{"city": "Boston", "state": "MA", "country": "US"},
				"destination": map[string]any{"city": "New York", "state": "NY", "country": "US"}, "shipments": 1.0},
		},
		"date_range": map[string]any{"start_date": "2026-03-01", "end_date": "2026-03-03", "days": 3.0},
	}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("dashboard (-want +got):\n%s", diff)
	}

	// Default: the 30 days ending today (UTC).
	// (A run that crosses UTC midnight may see either day.)
	before := time.Now().UTC()
	rec, body = f.send(t, http.MethodGet, "/v1/analytics/dashboard", key, "")
	rangeEnding := func(day time.Time) map[string]any {
		return map[string]any{"start_date": day.AddDate(0, 0, -29).Format("2006-01-02"), "end_date": day.Format("2006-01-02"), "days": 30.0}
	}
	if got := body["date_range"]; rec.Code != http.StatusOK ||
		!cmp.Equal(got, rangeEnding(before)) && !cmp.Equal(got, rangeEnding(time.Now().UTC())) {
		t.Errorf("default range: %d %v, want %v", rec.Code, got, rangeEnding(before))
	}
	if days, _ := body["by_date"].([]any); len(days) != 30 {
		t.Errorf("default range: %d days in by_date, want 30", len(days))
	}
	// end_date alone: the 30 days ending then.
	_, body = f.send(t, http.MethodGet, "/v1/analytics/dashboard?end_date=2026-03-30", key, "")
	if got := body["date_range"]; !cmp.Equal(got, map[string]any{"start_date": "2026-03-01", "end_date": "2026-03-30", "days": 30.0}) {
		t.Errorf("end_date alone: %v", got)
	}

	// A second currency: every cost becomes an object by currency.
	if _, err := f.store.DB().Exec(`INSERT INTO shipments (created_at, carrier, status, total_cost, currency, from_address_id, to_address_id)
		VALUES ('2026-03-02T12:00:00Z', 'USPS', 'pre_transit', 4.50, 'EUR',
		        '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-00000000000b')`); err != nil {
		t.Fatal(err)
	}
	_, body = f.send(t, http.MethodGet, "/v1/analytics/dashboard?start_date=2026-03-01&end_date=2026-03-03", key, "")
	summary, _ := body["summary"].(map[string]any)
	if got, want := summary["total_cost"], map[string]any{"EUR": 4.5, "USD": 12.6}; !cmp.Equal(got, want) {
		t.Errorf("total_cost with two currencies = %v, want %v", got, want)
	}
	if got, want := summary["average_cost"], map[string]any{"EUR": 4.5, "USD": 4.2}; !cmp.Equal(got, want) {
		t.Errorf("average_cost with two currencies = %v, want %v", got, want)
	}
	byDate, _ := body["by_date"].([]any)
	if got, want := byDate[1], map[string]any{"date": "2026-03-02", "shipments": 1.0,
		"delivered": 0.0, "in_transit": 1.0, "failed": 0.0, "other": 0.0, "total_cost": map[string]any{"EUR": 4.5, "USD": 0.0}}; !cmp.Equal(got, want) {
		t.Errorf("by_date[1] with two currencies = %v, want %v", got, want)
	}

	for _, query := range []string{
		"?start_date=2026-3-1",
		"?start_date=2026-03-01&end_date=tomorrow",
		"?start_date=2026-03-02&end_date=2026-03-01",
		"?start_date=2025-01-01&end_date=2026-01-02", // 367 days
		"?start_date=2026-03-01&start_date=2026-03-02",
		"?days=7",
	} {
		status, h, body := f.do(t, http.MethodGet, "/v1/analytics/dashboard"+query, key)
		checkProblem(t, status, h, body, http.StatusBadRequest, "bad_request")
	}
}

func TestRollupsRoute(t *testing.T) {
	f := newFixture(t, true)
	_, readKey := f.key(t, models.ScopeRead)
	_, writeKey := f.key(t, models.ScopeWrite)
	insertDashboardShipments(t, f)
	const path = "/v1/analytics/rollups"
	body := `{"start_date": "2026-03-01", "end_date": "2026-03-03"}`

	rec, out := f.send(t, http.MethodPost, path, readKey, body)
	checkProblem(t, rec.Code, rec.Header(), out, http.StatusForbidden, "forbidden")

	want := map[string]any{"start_date": "2026-03-01", "end_date": "2026-03-03", "days": 3.0,
		"summaries": 2.0, "carrier_performance": 2.0}
	for range 2 {
		rec, out = f.send(t, http.MethodPost, path, writeKey, body)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if diff := cmp.Diff(want, out); diff != "" {
			t.Errorf("result (-want +got):\n%s", diff)
		}
	}
	// The rows are there, through the CRUD routes.
	rec, out = f.send(t, http.MethodGet, "/v1/analytics/carrier-performance?start_date=2026-03-01&end_date=2026-03-03", readKey, "")
	if rows, _ := out["carrier_performance"].([]any); rec.Code != 200 || len(rows) != 2 {
		t.Errorf("carrier performance after the rollup: %d %v", rec.Code, out)
	}

	for _, bad := range []string{
		`{"start_date": "2026-03-02", "end_date": "2026-03-01"}`,
		`{"start_date": "2025-01-01", "end_date": "2026-01-02"}`,
		`{"start_date": "2026-03-01"}`,
		`{"start_date": "2026-03-01", "end_date": "March"}`,
	} {
		rec, out := f.send(t, http.MethodPost, path, writeKey, bad)
		checkProblem(t, rec.Code, rec.Header(), out, http.StatusUnprocessableEntity, "validation_failed")
	}
	rec, out = f.send(t, http.MethodPost, path, writeKey, `{"start_date": "2026-03-01", "end_date": "2026-03-01", "x": 1}`)
	checkProblem(t, rec.Code, rec.Header(), out, http.StatusUnprocessableEntity, "validation_failed")
}
