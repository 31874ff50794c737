package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/waybill/waybill/models"
)

// analyticsResource is one of the analytics CRUD resources, for the tests
// they share.
type analyticsResource struct {
	name   string
	path   string // the collection
	plural string // the list's key
	table  string
	// valid returns a valid creation body, distinct (for unique
	// constraints) for each i.
	valid     func(i int) string
	patchable bool // PATCH exists and the table has updated_at
}

var analyticsResources = []analyticsResource{
	{
		name: "summaries", path: "/v1/analytics/summaries", plural: "summaries", table: "analytics_summaries",
		valid: func(i int) string {
			return fmt.Sprintf(`{"date":"2026-01-%02d","period":"daily","total_shipments":10,"successful_shipments":8,
				"failed_shipments":1,"total_cost":12.50,"average_cost_per_shipment":1.25,"currency":"USD",
				"average_delivery_days":2.5,"on_time_delivery_rate":87.5,"carrier_stats":{"UPS":{"shipments":10}},
				"top_destinations":[{"city":"Paris","shipments":3}]}`, i+1)
		},
		patchable: true,
	},
	{
		name: "carrier performance", path: "/v1/analytics/carrier-performance", plural: "carrier_performance",
		table: "carrier_performance",
		valid: func(i int) string {
			return fmt.Sprintf(`{"carrier":"UPS","service":"Ground","date":"2026-01-%02d","total_shipments":10,
				"on_time_deliveries":7,"delayed_deliveries":2,"failed_deliveries":1,"total_cost":99.99,"average_cost":10.00,
				"currency":"USD","average_delivery_days":3.2,"min_delivery_days":1,"max_delivery_days":5,"on_time_rate":70,
				"reliability_score":92.5}`, i+1)
		},
		patchable: true,
	},
	{
		name: "system metrics", path: "/v1/system-metrics", plural: "system_metrics", table: "system_metrics",
		valid: func(i int) string {
			return fmt.Sprintf(`{"timestamp":"2026-01-01T00:00:%02d.000000Z","active_connections":%d,"total_requests":100,
				"error_rate":0.5,"avg_response_time_ms":4.5,"p95_response_time_ms":12.5,"p99_response_time_ms":40,
				"cpu_usage_percent":35,"memory_usage_mb":48.5,"disk_usage_percent":61,"db_connections_active":3,
				"db_connections_idle":5,"db_query_count":1234,"db_slow_queries":2,"cache_hit_rate":99.2,
				"cache_miss_rate":0.8}`, i, i)
		},
	},
}

// analyticsCreate posts body to path and fails the test unless it
// answers 201; it returns the created resource.
func analyticsCreate(t *testing.T, f *fixture, key, path, body string) map[string]any {
	t.Helper()
	rec, out := f.send(t, http.MethodPost, path, key, body)
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST %s = %d %s, want 201", path, rec.Code, rec.Body)
	}
	return out
}

// analyticsErrorFields returns the sorted, distinct field names of a
// validation problem.
func analyticsErrorFields(body map[string]any) []string {
	var fields []string
	errs, _ := body["errors"].([]any)
	for _, e := range errs {
		m, _ := e.(map[string]any)
		s, _ := m["field"].(string)
		fields = append(fields, s)
	}
	slices.Sort(fields)
	return slices.Compact(fields)
}

// analyticsIDs returns the ids of a list response's items, in order.
func analyticsIDs(t *testing.T, body map[string]any, plural string) []string {
	t.Helper()
	items, ok := body[plural].([]any)
	if !ok {
		t.Fatalf("list body has no %q array: %v", plural, body)
	}
	ids := make([]string, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.(map[string]any)["id"].(string))
	}
	return ids
}

// analyticsList GETs a list and returns its ids and has_more, failing the
// test unless it answers 200.
func analyticsList(t *testing.T, f *fixture, key, path, plural string) ([]string, bool) {
	t.Helper()
	rec, body := f.send(t, http.MethodGet, path, key, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s = %d %s, want 200", path, rec.Code, rec.Body)
	}
	more, ok := body["has_more"].(bool)
	if !ok {
		t.Fatalf("GET %s: no has_more in %v", path, body)
	}
	return analyticsIDs(t, body, plural), more
}

// analyticsSorted returns ids sorted, for comparing sets.
func analyticsSorted(ids ...string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	if ids == nil {
		ids = []string{}
	}
	return ids
}

// analyticsOrder is the order the database itself gives the rows of table:
// newest first, by (created_at, id).
func analyticsOrder(t *testing.T, f *fixture, table string) []string {
	t.Helper()
	rows, err := f.store.DB().Query(`SELECT id::text FROM ` + table + ` ORDER BY created_at DESC, id DESC`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// analyticsTime parses a timestamp of a response.
func analyticsTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	if !microsUTC.MatchString(s) {
		t.Fatalf("%q is not RFC 3339 UTC with microseconds", v)
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestAnalyticsResources checks what the three analytics resources share:
// create, get, list pagination, delete, and the errors of the HTTP layer.
func TestAnalyticsResources(t *testing.T) {
	for _, r := range analyticsResources {
		t.Run(r.name, func(t *testing.T) {
			f := newFixture(t, true)
			_, key := f.key(t, models.ScopeWrite)
			_, readKey := f.key(t, models.ScopeRead)

			// Create: 201, Location, the body's fields, timestamps from the database.
			rec, created := f.send(t, http.MethodPost, r.path, key, r.valid(0))
			if rec.Code != http.StatusCreated {
				t.Fatalf("POST = %d %s, want 201", rec.Code, rec.Body)
			}
			id, _ := created["id"].(string)
			if loc := rec.Header().Get("Location"); loc != r.path+"/"+id || id == "" {
				t.Errorf("Location = %q, id %q", loc, id)
			}
			if rec.Header().Get("ETag") == "" {
				t.Error("POST: no ETag")
			}
			var sent map[string]any
			if err := json.Unmarshal([]byte(r.valid(0)), &sent); err != nil {
				t.Fatal(err)
			}
			for k, want := range sent {
				if !cmp.Equal(created[k], want) {
					t.Errorf("created %s = %v, want %v", k, created[k], want)
				}
			}
			var dbCreated time.Time
			if err := f.store.DB().QueryRow(`SELECT created_at FROM `+r.table+` WHERE id = $1`, id).Scan(&dbCreated); err != nil {
				t.Fatal(err)
			}
			if got := analyticsTime(t, created["created_at"]); !got.Equal(dbCreated) {
				t.Errorf("created_at = %v, the database has %v", got, dbCreated)
			}
			if _, has := created["updated_at"]; has != r.patchable {
				t.Errorf("updated_at present = %v, want %v", has, r.patchable)
			}
			if r.patchable && created["updated_at"] != created["created_at"] {
				t.Errorf("updated_at %v, created_at %v: both are the insert's now()", created["updated_at"], created["created_at"])
			}

			// Get, also with a read key.
			rec, got := f.send(t, http.MethodGet, r.path+"/"+id, readKey, "")
			if rec.Code != http.StatusOK {
				t.Fatalf("GET = %d %s", rec.Code, rec.Body)
			}
			if diff := cmp.Diff(created, got); diff != "" {
				t.Errorf("GET differs from POST (-post +get):\n%s", diff)
			}

			// The HTTP layer's errors.
			tests := []struct {
				name, method, path, key, body string
				status                        int
				code                          string
				fields                        []string
			}{
				{"read key POST", http.MethodPost, r.path, readKey, r.valid(1), 403, "forbidden", nil},
				{"read key DELETE", http.MethodDelete, r.path + "/" + id, readKey, "", 403, "forbidden", nil},
				{"malformed id GET", http.MethodGet, r.path + "/not-a-uuid", key, "", 400, "bad_request", nil},
				{"malformed id DELETE", http.MethodDelete, r.path + "/not-a-uuid", key, "", 400, "bad_request", nil},
				{"unknown id GET", http.MethodGet, r.path + "/00000000-0000-0000-0000-000000000001", key, "", 404, "not_found", nil},
				{"unknown query parameter", http.MethodGet, r.path + "?nope=1", key, "", 400, "bad_request", nil},
				{"repeated query parameter", http.MethodGet, r.path + "?page_size=2&page_size=3", key, "", 400, "bad_request", nil},
				{"page_size out of range", http.MethodGet, r.path + "?page_size=101", key, "", 400, "bad_request", nil},
				{"malformed cursor", http.MethodGet, r.path + "?before_id=x", key, "", 400, "bad_request", nil},
				{"cursor naming no row", http.MethodGet, r.path + "?after_id=00000000-0000-0000-0000-000000000001", key, "", 400, "bad_request", nil},
				{"both cursors", http.MethodGet, r.path + "?before_id=" + id + "&after_id=" + id, key, "", 400, "bad_request", nil},
				{"malformed JSON", http.MethodPost, r.path, key, `{"x":`, 400, "bad_request", nil},
				{"read-only fields", http.MethodPost, r.path, key,
					`{"id":"00000000-0000-0000-0000-000000000001","created_at":"2026-01-01T00:00:00Z",` + r.valid(1)[1:],
					422, "validation_failed", []string{"created_at", "id"}},
				{"unknown field", http.MethodPost, r.path, key, `{"bogus":1,` + r.valid(1)[1:], 422, "validation_failed", []string{"bogus"}},
			}
			if r.patchable {
				tests = append(tests, struct {
					name, method, path, key, body string
					status                        int
					code                          string
					fields                        []string
				}{"malformed id PATCH", http.MethodPatch, r.path + "/not-a-uuid", key, `{}`, 400, "bad_request", nil})
			}
			for _, tt := range tests {
				rec, body := f.send(t, tt.method, tt.path, tt.key, tt.body)
				if rec.Code != tt.status {
					t.Errorf("%s: %s %s = %d %s, want %d", tt.name, tt.method, tt.path, rec.Code, rec.Body, tt.status)
					continue
				}
				checkProblem(t, rec.Code, rec.Header(), body, tt.status, tt.code)
				if tt.fields != nil {
					if diff := cmp.Diff(tt.fields, analyticsErrorFields(body)); diff != "" {
						t.Errorf("%s: fields (-want +got):\n%s", tt.name, diff)
					}
				}
			}

			// List: five rows, three with the same created_at so that the
			// id breaks the tie, walked two at a time with both cursors.
			for i := 1; i < 5; i++ {
				analyticsCreate(t, f, key, r.path, r.valid(i))
			}
			order := analyticsOrder(t, f, r.table)
			if _, err := f.store.DB().Exec(`UPDATE `+r.table+` SET created_at = '2026-01-01T00:00:00Z' WHERE id::text IN ($1, $2, $3)`,
				order[1], order[2], order[3]); err != nil {
				t.Fatal(err)
			}
			order = analyticsOrder(t, f, r.table)
			if len(order) != 5 {
				t.Fatalf("%d rows, want 5", len(order))
			}
			var walked []string
			for cursor, pages := "", 0; ; pages++ {
				ids, more := analyticsList(t, f, readKey, r.path+"?page_size=2"+cursor, r.plural)
				walked = append(walked, ids...)
				if wantMore := len(walked) < len(order); more != wantMore || len(ids) == 0 || pages > 5 {
					t.Fatalf("page %d: %v has_more %v, want %v", pages, ids, more, wantMore)
				}
				if !more {
					break
				}
				cursor = "&before_id=" + ids[len(ids)-1]
			}
			if diff := cmp.Diff(order, walked); diff != "" {
				t.Errorf("pages with before_id (-want +got):\n%s", diff)
			}
			walked = nil
			for cursor, pages := order[len(order)-1], 0; ; pages++ {
				ids, more := analyticsList(t, f, readKey, r.path+"?page_size=2&after_id="+cursor, r.plural)
				walked = append(ids, walked...)
				if wantMore := len(walked) < len(order)-1; more != wantMore || len(ids) == 0 || pages > 5 {
					t.Fatalf("page %d: %v has_more %v, want %v", pages, ids, more, wantMore)
				}
				if !more {
					break
				}
				cursor = ids[0]
			}
			if diff := cmp.Diff(order[:len(order)-1], walked); diff != "" {
				t.Errorf("pages with after_id (-want +got):\n%s", diff)
			}
			if ids, more := analyticsList(t, f, readKey, r.path, r.plural); !cmp.Equal(ids, order) || more {
				t.Errorf("default page = %v has_more %v, want %v and false", ids, more, order)
			}

			// Delete: 204, then gone.
			rec, _ = f.send(t, http.MethodDelete, r.path+"/"+id, key, "")
			if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
				t.Errorf("DELETE = %d %q, want 204 and no body", rec.Code, rec.Body)
			}
			for _, method := range []string{http.MethodGet, http.MethodDelete} {
				rec, body := f.send(t, method, r.path+"/"+id, key, "")
				checkProblem(t, rec.Code, rec.Header(), body, 404, "not_found")
			}
			if ids, _ := analyticsList(t, f, readKey, r.path, r.plural); slices.Contains(ids, id) {
				t.Errorf("the deleted row is still listed: %v", ids)
			}
		})
	}
}

func TestSummaries(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	const path = "/v1/analytics/summaries"

	t.Run("money is exact", func(t *testing.T) {
		rec, created := f.send(t, http.MethodPost, path, key, `{"date":"2025-06-01","period":"daily","total_cost":0.10}`)
		if rec.Code != http.StatusCreated {
			t.Fatalf("POST = %d %s", rec.Code, rec.Body)
		}
		if !strings.Contains(rec.Body.String(), `"total_cost":0.10`) {
			t.Errorf("POST body lacks \"total_cost\":0.10: %s", rec.Body)
		}
		rec, _ = f.send(t, http.MethodGet, path+"/"+created["id"].(string), key, "")
		if !strings.Contains(rec.Body.String(), `"total_cost":0.10`) {
			t.Errorf("GET body lacks \"total_cost\":0.10: %s", rec.Body)
		}
		var stored string
		if err := f.store.DB().QueryRow(`SELECT total_cost::text FROM analytics_summaries WHERE id = $1`, created["id"]).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored != "0.10" {
			t.Errorf("stored total_cost = %s, want 0.10", stored)
		}
		if created["currency"] != "USD" || created["total_shipments"] != float64(0) || created["average_cost_per_shipment"] != nil {
			t.Errorf("defaults: %v", created)
		}
	})

	t.Run("validation", func(t *testing.T) {
		before := len(analyticsOrder(t, f, "analytics_summaries"))
		tests := []struct {
			body   string
			fields []string
		}{
			{`{}`, []string{"date", "period"}},
			{`{"date":null,"period":null}`, []string{"date", "period"}},
			{`{"date":"2026-13-01","period":"daily"}`, []string{"date"}},
			{`{"date":"2026-01-01","period":"yearly"}`, []string{"period"}},
			{`{"date":"2026-01-01","period":"daily","total_shipments":-1,"successful_shipments":-2,"failed_shipments":-3}`,
				[]string{"failed_shipments", "successful_shipments", "total_shipments"}},
			{`{"date":"2026-01-01","period":"daily","total_shipments":5,"successful_shipments":4,"failed_shipments":2}`,
				[]string{"successful_shipments"}},
			{`{"date":"2026-01-01","period":"daily","total_cost":-0.01,"average_cost_per_shipment":-1}`,
				[]string{"average_cost_per_shipment", "total_cost"}},
			{`{"date":"2026-01-01","period":"daily","total_cost":0.001}`, []string{"total_cost"}},
			{`{"date":"2026-01-01","period":"daily","currency":"usd"}`, []string{"currency"}},
			{`{"date":"2026-01-01","period":"daily","on_time_delivery_rate":100.01,"average_delivery_days":-1}`,
				[]string{"average_delivery_days", "on_time_delivery_rate"}},
			{`{"date":"2026-01-01","period":"daily","on_time_delivery_rate":-0.5}`, []string{"on_time_delivery_rate"}},
			{`{"date":"2026-01-01","period":"daily","total_shipments":3000000000}`, []string{"total_shipments"}},
		}
		for _, tt := range tests {
			rec, body := f.send(t, http.MethodPost, path, key, tt.body)
			checkProblem(t, rec.Code, rec.Header(), body, 422, "validation_failed")
			if diff := cmp.Diff(tt.fields, analyticsErrorFields(body)); diff != "" {
				t.Errorf("POST %s: fields (-want +got):\n%s", tt.body, diff)
			}
		}
		if after := len(analyticsOrder(t, f, "analytics_summaries")); after != before {
			t.Errorf("%d rows after invalid requests, want %d", after, before)
		}
	})

	t.Run("duplicate date, period and currency", func(t *testing.T) {
		body := `{"date":"2025-07-01","period":"weekly","currency":"EUR"}`
		analyticsCreate(t, f, key, path, body)
		rec, out := f.send(t, http.MethodPost, path, key, body)
		checkProblem(t, rec.Code, rec.Header(), out, 409, "conflict")
		for _, other := range []string{
			`{"date":"2025-07-01","period":"weekly","currency":"USD"}`,
			`{"date":"2025-07-01","period":"monthly","currency":"EUR"}`,
			`{"date":"2025-07-02","period":"weekly","currency":"EUR"}`,
		} {
			analyticsCreate(t, f, key, path, other)
		}
	})

	t.Run("patch", func(t *testing.T) {
		created := analyticsCreate(t, f, key, path, `{"date":"2025-08-01","period":"daily","total_shipments":10,
			"successful_shipments":5,"failed_shipments":1,"total_cost":20.00,"average_cost_per_shipment":2.00,
			"on_time_delivery_rate":50,"carrier_stats":{"UPS":1}}`)
		one := path + "/" + created["id"].(string)
		rec, got := f.send(t, http.MethodPatch, one, key,
			`{"successful_shipments":8,"total_cost":20.10,"average_cost_per_shipment":null,"carrier_stats":{"FedEx":2}}`,
			"Content-Type", "application/merge-patch+json")
		if rec.Code != http.StatusOK {
			t.Fatalf("PATCH = %d %s", rec.Code, rec.Body)
		}
		if !strings.Contains(rec.Body.String(), `"total_cost":20.10`) {
			t.Errorf("PATCH body lacks \"total_cost\":20.10: %s", rec.Body)
		}
		want := analyticsWith(created, map[string]any{
			"successful_shipments": float64(8), "total_cost": 20.1, "average_cost_per_shipment": nil,
			"carrier_stats": map[string]any{"FedEx": float64(2)}, "updated_at": got["updated_at"],
		})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("PATCH result (-want +got):\n%s", diff)
		}
		if !analyticsTime(t, got["updated_at"]).After(analyticsTime(t, created["updated_at"])) {
			t.Errorf("updated_at %v did not move past %v", got["updated_at"], created["updated_at"])
		}
		if _, stored := f.send(t, http.MethodGet, one, key, ""); !cmp.Equal(stored, got) {
			t.Errorf("GET after PATCH = %v, want %v", stored, got)
		}

		analyticsRejectedPatches(t, f, key, one, got, []rejectedPatch{
			{`{"period":null}`, 422, []string{"period"}},
			{`{"date":null,"total_cost":null,"currency":null}`, 422, []string{"currency", "date", "total_cost"}},
			{`{"failed_shipments":3}`, 422, []string{"successful_shipments"}},
			{`{"period":"hourly"}`, 422, []string{"period"}},
			{`{"id":"00000000-0000-0000-0000-000000000001"}`, 422, []string{"id"}},
			{`{"date":"2025-07-01","period":"weekly","currency":"EUR"}`, 409, nil},
			{`{"total_shipments":"ten"}`, 400, nil},
		})

		// If-Match: a stale ETag is 412, the current one applies.
		rec, _ = f.send(t, http.MethodGet, one, key, "")
		current := rec.Header().Get("ETag")
		rec, body := f.send(t, http.MethodPatch, one, key, `{"total_shipments":11}`, "If-Match", `"stale"`)
		checkProblem(t, rec.Code, rec.Header(), body, 412, "precondition_failed")
		if rec, body := f.send(t, http.MethodPatch, one, key, `{"total_shipments":11}`, "If-Match", current); rec.Code != 200 || body["total_shipments"] != float64(11) {
			t.Errorf("PATCH with the current ETag = %d %v", rec.Code, body)
		}
		rec, body = f.send(t, http.MethodPatch, path+"/00000000-0000-0000-0000-000000000001", key, `{"total_shipments":1}`)
		checkProblem(t, rec.Code, rec.Header(), body, 404, "not_found")
	})
}

// analyticsWith returns a copy of base with changes applied.
func analyticsWith(base, changes map[string]any) map[string]any {
	out := make(map[string]any, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range changes {
		out[k] = v
	}
	return out
}

func TestSummaryFilters(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeRead)
	_, writeKey := f.key(t, models.ScopeWrite)
	const path = "/v1/analytics/summaries"
	id := map[string]string{}
	for i, row := range []struct{ name, body string }{
		{"a", `{"date":"2026-01-01","period":"daily"}`},
		{"b", `{"date":"2026-01-02","period":"daily"}`},
		{"c", `{"date":"2026-01-03","period":"weekly"}`},
		{"d", `{"date":"2026-02-01","period":"monthly"}`},
		{"e", `{"date":"2026-01-02","period":"daily","currency":"EUR"}`},
	} {
		id[row.name] = analyticsCreate(t, f, writeKey, path, row.body)["id"].(string)
		// created_at one hour apart, a first, so the time window is exact.
		if _, err := f.store.DB().Exec(`UPDATE analytics_summaries SET created_at = $1 WHERE id = $2`,
			time.Date(2026, 3, 1, i, 0, 0, 0, time.UTC), id[row.name]); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"period=daily", []string{"a", "b", "e"}},
		{"period=weekly", []string{"c"}},
		{"start_date=2026-01-02", []string{"b", "c", "d", "e"}},
		{"end_date=2026-01-02", []string{"a", "b", "e"}},
		{"start_date=2026-01-02&end_date=2026-01-03", []string{"b", "c", "e"}},
		{"start_date=2026-01-02&end_date=2026-01-02&period=daily", []string{"b", "e"}},
		{"start_date=2026-01-04&end_date=2026-01-31", nil},
		{"start_datetime=2026-03-01T02:00:00Z", []string{"c", "d", "e"}},
		{"end_datetime=2026-03-01T02:00:00Z", []string{"a", "b"}},
		{"start_datetime=2026-03-01T03:00:00%2B02:00&end_datetime=2026-03-01T03:00:00Z", []string{"b", "c"}},
		{"period=daily&start_datetime=2026-03-01T01:00:00Z", []string{"b", "e"}},
	}
	for _, tt := range tests {
		ids, more := analyticsList(t, f, key, path+"?"+tt.query, "summaries")
		want := make([]string, len(tt.want))
		for i, n := range tt.want {
			want[i] = id[n]
		}
		if diff := cmp.Diff(analyticsSorted(want...), analyticsSorted(ids...)); diff != "" || more {
			t.Errorf("?%s (has_more %v) (-want +got):\n%s", tt.query, more, diff)
		}
	}
	for _, bad := range []string{"period=yearly", "period=", "start_date=2026-1-1", "end_date=2026-01-01T00:00:00Z",
		"start_date=2026-01-03&end_date=2026-01-02", "start_datetime=yesterday",
		"start_datetime=2026-03-01T02:00:00Z&end_datetime=2026-03-01T02:00:00Z", "carrier=UPS"} {
		rec, body := f.send(t, http.MethodGet, path+"?"+bad, key, "")
		checkProblem(t, rec.Code, rec.Header(), body, 400, "bad_request")
	}
	if ids, more := analyticsList(t, f, key, path+"?period=daily&page_size=2", "summaries"); len(ids) != 2 || !more {
		t.Errorf("first page of daily summaries = %v has_more %v, want 2 and true", ids, more)
	}
}

func TestCarrierPerformance(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	const path = "/v1/analytics/carrier-performance"

	t.Run("validation", func(t *testing.T) {
		const base = `"carrier":"UPS","service":"Ground","date":"2026-01-01"`
		tests := []struct {
			body   string
			fields []string
		}{
			{`{}`, []string{"carrier", "date", "service"}},
			{`{"carrier":" ","service":"","date":"2026-01-01"}`, []string{"carrier", "service"}},
			{`{"carrier":"` + strings.Repeat("x", 51) + `","service":"Ground","date":"2026-01-01"}`, []string{"carrier"}},
			{`{` + base + `,"total_shipments":-1,"on_time_deliveries":-1,"delayed_deliveries":-1,"failed_deliveries":-1}`,
				[]string{"delayed_deliveries", "failed_deliveries", "on_time_deliveries", "total_shipments"}},
			{`{` + base + `,"total_shipments":5,"on_time_deliveries":3,"delayed_deliveries":2,"failed_deliveries":1}`,
				[]string{"total_shipments"}},
			{`{` + base + `,"on_time_rate":101,"reliability_score":-1}`, []string{"on_time_rate", "reliability_score"}},
			{`{` + base + `,"reliability_score":100.5}`, []string{"reliability_score"}},
			{`{` + base + `,"total_cost":-1,"average_cost":-0.01}`, []string{"average_cost", "total_cost"}},
			{`{` + base + `,"min_delivery_days":5,"max_delivery_days":3}`, []string{"min_delivery_days"}},
			{`{` + base + `,"min_delivery_days":-1,"average_delivery_days":-0.5}`, []string{"average_delivery_days", "min_delivery_days"}},
			{`{` + base + `,"currency":"EURO"}`, []string{"currency"}},
		}
		for _, tt := range tests {
			rec, body := f.send(t, http.MethodPost, path, key, tt.body)
			checkProblem(t, rec.Code, rec.Header(), body, 422, "validation_failed")
			if diff := cmp.Diff(tt.fields, analyticsErrorFields(body)); diff != "" {
				t.Errorf("POST %s: fields (-want +got):\n%s", tt.body, diff)
			}
		}
		// The edges are valid.
		analyticsCreate(t, f, key, path, `{`+base+`,"total_shipments":6,"on_time_deliveries":3,"delayed_deliveries":2,
			"failed_deliveries":1,"on_time_rate":100,"reliability_score":0,"min_delivery_days":3,"max_delivery_days":3}`)
	})

	t.Run("duplicate carrier, service, date and currency", func(t *testing.T) {
		body := `{"carrier":"USPS","service":"Priority","date":"2026-01-01"}`
		analyticsCreate(t, f, key, path, body)
		rec, out := f.send(t, http.MethodPost, path, key, body)
		checkProblem(t, rec.Code, rec.Header(), out, 409, "conflict")
		analyticsCreate(t, f, key, path, `{"carrier":"USPS","service":"Priority","date":"2026-01-01","currency":"CAD"}`)
		analyticsCreate(t, f, key, path, `{"carrier":"USPS","service":"Express","date":"2026-01-01"}`)
	})

	t.Run("patch", func(t *testing.T) {
		created := analyticsCreate(t, f, key, path, `{"carrier":"DHL","service":"Express","date":"2026-01-01",
			"total_shipments":4,"on_time_deliveries":2,"min_delivery_days":1,"max_delivery_days":4,"reliability_score":80}`)
		one := path + "/" + created["id"].(string)
		rec, got := f.send(t, http.MethodPatch, one, key, `{"service":"Economy","reliability_score":null,"average_cost":3.30}`)
		if rec.Code != http.StatusOK {
			t.Fatalf("PATCH = %d %s", rec.Code, rec.Body)
		}
		want := analyticsWith(created, map[string]any{
			"service": "Economy", "reliability_score": nil, "average_cost": 3.3, "updated_at": got["updated_at"],
		})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("PATCH result (-want +got):\n%s", diff)
		}
		if !analyticsTime(t, got["updated_at"]).After(analyticsTime(t, created["updated_at"])) {
			t.Errorf("updated_at %v did not move past %v", got["updated_at"], created["updated_at"])
		}
		analyticsRejectedPatches(t, f, key, one, got, []rejectedPatch{
			{`{"carrier":null}`, 422, []string{"carrier"}},
			{`{"service":""}`, 422, []string{"service"}},
			{`{"max_delivery_days":0}`, 422, []string{"min_delivery_days"}},
			{`{"on_time_deliveries":5}`, 422, []string{"total_shipments"}},
			{`{"carrier":"USPS","service":"Priority"}`, 409, nil},
		})
		// Clearing max_delivery_days lifts the min ≤ max rule.
		if rec, body := f.send(t, http.MethodPatch, one, key, `{"max_delivery_days":null,"min_delivery_days":9}`); rec.Code != 200 ||
			body["max_delivery_days"] != nil || body["min_delivery_days"] != float64(9) {
			t.Errorf("PATCH = %d %v", rec.Code, body)
		}
	})
}

func TestCarrierPerformanceFilters(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeRead)
	_, writeKey := f.key(t, models.ScopeWrite)
	const path = "/v1/analytics/carrier-performance"
	id := map[string]string{}
	for _, row := range []struct{ name, body string }{
		{"a", `{"carrier":"UPS","service":"Ground","date":"2026-01-01"}`},
		{"b", `{"carrier":"UPS","service":"Express","date":"2026-01-02"}`},
		{"c", `{"carrier":"FedEx","service":"Ground","date":"2026-01-02"}`},
		{"d", `{"carrier":"FedEx","service":"Ground","date":"2026-01-03"}`},
	} {
		id[row.name] = analyticsCreate(t, f, writeKey, path, row.body)["id"].(string)
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"carrier=UPS", []string{"a", "b"}},
		{"carrier=ups", nil},
		{"service=Ground", []string{"a", "c", "d"}},
		{"carrier=FedEx&service=Ground&start_date=2026-01-03", []string{"d"}},
		{"start_date=2026-01-02", []string{"b", "c", "d"}},
		{"end_date=2026-01-02", []string{"a", "b", "c"}},
		{"start_date=2026-01-02&end_date=2026-01-02", []string{"b", "c"}},
		{"carrier=" + url.QueryEscape("UPS&service=Ground"), nil},
	}
	for _, tt := range tests {
		rec, body := f.send(t, http.MethodGet, path+"?"+tt.query, key, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("?%s = %d %s", tt.query, rec.Code, rec.Body)
		}
		ids := analyticsIDs(t, body, "carrier_performance")
		want := make([]string, len(tt.want))
		for i, n := range tt.want {
			want[i] = id[n]
		}
		if diff := cmp.Diff(analyticsSorted(want...), analyticsSorted(ids...)); diff != "" || body["has_more"] != false {
			t.Errorf("?%s (has_more %v) (-want +got):\n%s", tt.query, body["has_more"], diff)
		}
		if !strings.Contains(rec.Body.String(), `"carrier_performance":[`) {
			t.Errorf("?%s: the list is not an array: %s", tt.query, rec.Body)
		}
	}
	for _, bad := range []string{"carrier=", "service=", "start_date=01/02/2026", "start_date=2026-01-03&end_date=2026-01-01", "period=daily"} {
		rec, body := f.send(t, http.MethodGet, path+"?"+bad, key, "")
		checkProblem(t, rec.Code, rec.Header(), body, 400, "bad_request")
	}
}

func TestSystemMetrics(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	const path = "/v1/system-metrics"

	t.Run("timestamp", func(t *testing.T) {
		// Absent, the database's now() stamps it: the same instant as
		// created_at, which a Go clock could not match to the microsecond.
		rec, created := f.send(t, http.MethodPost, path, key, `{"active_connections":3}`)
		if rec.Code != http.StatusCreated {
			t.Fatalf("POST = %d %s", rec.Code, rec.Body)
		}
		analyticsTime(t, created["timestamp"])
		if created["timestamp"] != created["created_at"] {
			t.Errorf("timestamp %v, created_at %v: want the database's now() for both", created["timestamp"], created["created_at"])
		}
		if created["total_requests"] != float64(0) || created["error_rate"] != nil {
			t.Errorf("defaults: %v", created)
		}
		// Given, it is kept, in UTC.
		created = analyticsCreate(t, f, key, path, `{"timestamp":"2026-03-01T12:00:00.5+02:00"}`)
		if created["timestamp"] != "2026-03-01T10:00:00.500000Z" {
			t.Errorf("timestamp = %v, want 2026-03-01T10:00:00.500000Z", created["timestamp"])
		}
	})

	t.Run("no patch", func(t *testing.T) {
		created := analyticsCreate(t, f, key, path, `{}`)
		one := path + "/" + created["id"].(string)
		rec, body := f.send(t, http.MethodPatch, one, key, `{"active_connections":1}`)
		checkProblem(t, rec.Code, rec.Header(), body, 405, "method_not_allowed")
		if _, stored := f.send(t, http.MethodGet, one, key, ""); !cmp.Equal(stored, created) {
			t.Errorf("after PATCH the sample is %v, want it unchanged: %v", stored, created)
		}
	})

	t.Run("validation", func(t *testing.T) {
		tests := []struct {
			body   string
			fields []string
		}{
			{`{"active_connections":-1,"total_requests":-1,"db_connections_active":-1,"db_connections_idle":-1,
				"db_query_count":-1,"db_slow_queries":-1}`,
				[]string{"active_connections", "db_connections_active", "db_connections_idle", "db_query_count",
					"db_slow_queries", "total_requests"}},
			{`{"error_rate":100.1,"cpu_usage_percent":-0.1,"disk_usage_percent":101,"cache_hit_rate":-1,"cache_miss_rate":200}`,
				[]string{"cache_hit_rate", "cache_miss_rate", "cpu_usage_percent", "disk_usage_percent", "error_rate"}},
			{`{"avg_response_time_ms":-1,"p95_response_time_ms":-2,"p99_response_time_ms":-1,"memory_usage_mb":-0.5}`,
				[]string{"avg_response_time_ms", "memory_usage_mb", "p95_response_time_ms", "p99_response_time_ms"}},
			{`{"p95_response_time_ms":50,"p99_response_time_ms":40}`, []string{"p95_response_time_ms"}},
			{`{"timestamp":"yesterday"}`, []string{"timestamp"}},
			{`{"updated_at":"2026-01-01T00:00:00Z"}`, []string{"updated_at"}},
		}
		for _, tt := range tests {
			rec, body := f.send(t, http.MethodPost, path, key, tt.body)
			checkProblem(t, rec.Code, rec.Header(), body, 422, "validation_failed")
			if diff := cmp.Diff(tt.fields, analyticsErrorFields(body)); diff != "" {
				t.Errorf("POST %s: fields (-want +got):\n%s", tt.body, diff)
			}
		}
		analyticsCreate(t, f, key, path, `{"error_rate":100,"cpu_usage_percent":0,"p95_response_time_ms":40,"p99_response_time_ms":40}`)
	})
}

// TestSystemMetricsWindow checks that start_datetime and end_datetime
// select samples by timestamp, not by created_at.
func TestSystemMetricsWindow(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	const path = "/v1/system-metrics"
	id := map[string]string{}
	// Posted out of order: created_at order is not timestamp order. All
	// were created now, long after these timestamps.
	for _, at := range []string{"12", "10", "11"} {
		id[at] = analyticsCreate(t, f, key, path, `{"timestamp":"2020-05-01T`+at+`:00:00Z"}`)["id"].(string)
	}
	id["now"] = analyticsCreate(t, f, key, path, `{}`)["id"].(string)
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"now", "11", "10", "12"}},
		{"start_datetime=2020-05-01T11:00:00Z", []string{"now", "11", "12"}},
		{"end_datetime=2020-05-01T11:00:00Z", []string{"10"}},
		{"start_datetime=2020-05-01T10:00:00Z&end_datetime=2020-05-01T12:00:00Z", []string{"11", "10"}},
		{"start_datetime=2020-05-01T12:00:00%2B02:00&end_datetime=2020-05-01T11:30:00Z", []string{"11", "10"}},
		{"start_datetime=2020-05-02T00:00:00Z&end_datetime=2021-01-01T00:00:00Z", nil},
	}
	for _, tt := range tests {
		ids, more := analyticsList(t, f, key, path+"?"+tt.query, "system_metrics")
		want := []string{}
		for _, n := range tt.want {
			want = append(want, id[n])
		}
		// The order is every list's: created_at, newest first.
		if diff := cmp.Diff(want, ids); diff != "" || more {
			t.Errorf("?%s (has_more %v) (-want +got):\n%s", tt.query, more, diff)
		}
	}
	// Paging inside a window.
	ids, more := analyticsList(t, f, key, path+"?page_size=1&start_datetime=2020-05-01T10:00:00Z&end_datetime=2020-05-01T12:00:00Z", "system_metrics")
	if !cmp.Equal(ids, []string{id["11"]}) || !more {
		t.Errorf("first page = %v has_more %v, want [%s] true", ids, more, id["11"])
	}
	ids, more = analyticsList(t, f, key, path+"?page_size=1&start_datetime=2020-05-01T10:00:00Z&end_datetime=2020-05-01T12:00:00Z&before_id="+id["11"], "system_metrics")
	if !cmp.Equal(ids, []string{id["10"]}) || more {
		t.Errorf("second page = %v has_more %v, want [%s] false", ids, more, id["10"])
	}
	for _, bad := range []string{"start_datetime=2020-05-01", "end_datetime=2020-05-01T11:00:00Z&start_datetime=2020-05-01T11:00:00Z",
		"start_date=2020-05-01", "period=daily"} {
		rec, body := f.send(t, http.MethodGet, path+"?"+bad, key, "")
		checkProblem(t, rec.Code, rec.Header(), body, 400, "bad_request")
	}
}

// rejectedPatch is a PATCH body that must be refused with status, naming
// fields (nil: not checked).
type rejectedPatch struct {
	body   string
	status int
	fields []string
}

// analyticsRejectedPatches sends each patch to one and checks it is
// refused as described, and that the row still reads as stored.
func analyticsRejectedPatches(t *testing.T, f *fixture, key, one string, stored map[string]any, patches []rejectedPatch) {
	t.Helper()
	codes := map[int]string{400: "bad_request", 409: "conflict", 422: "validation_failed"}
	for _, p := range patches {
		rec, body := f.send(t, http.MethodPatch, one, key, p.body)
		checkProblem(t, rec.Code, rec.Header(), body, p.status, codes[p.status])
		if p.fields != nil {
			if diff := cmp.Diff(p.fields, analyticsErrorFields(body)); diff != "" {
				t.Errorf("PATCH %s: fields (-want +got):\n%s", p.body, diff)
			}
		}
	}
	if _, now := f.send(t, http.MethodGet, one, key, ""); !cmp.Equal(now, stored) {
		t.Errorf("failed PATCHes changed the row: %v, want %v", now, stored)
	}
}
