package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/waybill/waybill/models"
)

// activityCount is how many rows the audit trail holds.
func activityCount(t *testing.T, f *fixture) int {
	t.Helper()
	var n int
	if err := f.store.DB().QueryRow(`SELECT count(*) FROM user_activities`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// newestActivity reads the newest row of the audit trail through the API.
func newestActivity(t *testing.T, f *fixture, admin string) map[string]any {
	t.Helper()
	code, _, body := f.do(t, http.MethodGet, "/v1/activity?page_size=1", admin)
	if code != http.StatusOK {
		t.Fatalf("GET /v1/activity: %d %v", code, body)
	}
	items, _ := body["activities"].([]any)
	if len(items) != 1 {
		t.Fatalf("GET /v1/activity?page_size=1: %d items, want 1", len(items))
	}
	return items[0].(map[string]any)
}

func namedKey(t *testing.T, f *fixture, name, scope string) (models.APIKey, string) {
	t.Helper()
	k, key, err := f.store.CreateAPIKey(context.Background(), name, scope)
	if err != nil {
		t.Fatal(err)
	}
	return k, key
}

// TestActivityRecordsEveryWrite makes every kind of API write and checks
// that each leaves exactly one audit row with the right fields, and that
// failed writes, replays and reads leave none.
func TestActivityRecordsEveryWrite(t *testing.T) {
	f := newFixture(t, true)
	writer, writeKey := namedKey(t, f, "writer", models.ScopeWrite)
	_, adminKey := namedKey(t, f, "auditor", models.ScopeAdmin)
	_, readKey := namedKey(t, f, "reader", models.ScopeRead)

	var shipmentID, addressID, summaryID, perfID, sampleID string
	type write struct {
		method, path, body, contentType string
		status                          int
		action, resourceType, endpoint  string
		// resourceID returns the id the row must name, from the answer
		// ("" for none).
		resourceID func(body map[string]any) string
	}
	own := func(body map[string]any) string { return body["id"].(string) }
	none := func(map[string]any) string { return "" }
	fixed := func(id *string) func(map[string]any) string { return func(map[string]any) string { return *id } }
	remember := func(id *string) func(map[string]any) string {
		return func(body map[string]any) string { *id = body["id"].(string); return *id }
	}
	const patch = "application/merge-patch+json"
	writes := []struct {
		name string
		w    func() write
	}{
		{"create shipment", func() write {
			return write{"POST", "/v1/shipments", minimalShipment, "", 201, "shipment.create", "shipment", "/v1/shipments", remember(&shipmentID)}
		}},
		{"update shipment", func() write {
			return write{"PATCH", "/v1/shipments/" + shipmentID, `{"reference": "r-1"}`, patch, 200, "shipment.update", "shipment", "/v1/shipments/:id", fixed(&shipmentID)}
		}},
		{"add event", func() write {
			return write{"POST", "/v1/shipments/" + shipmentID + "/events", `{"status": "in_transit"}`, "", 201, "shipment_event.create", "shipment_event", "/v1/shipments/:id/events", own}
		}},
		{"create metrics", func() write {
			return write{"PUT", "/v1/shipments/" + shipmentID + "/metrics", `{"carrier": "USPS"}`, "", 201, "shipment_metrics.put", "shipment_metrics", "/v1/shipments/:id/metrics", own}
		}},
		{"replace metrics", func() write {
			return write{"PUT", "/v1/shipments/" + shipmentID + "/metrics", `{"carrier": "UPS"}`, "", 200, "shipment_metrics.put", "shipment_metrics", "/v1/shipments/:id/metrics", own}
		}},
		{"create address", func() write {
			return write{"POST", "/v1/addresses", `{"street1": "1 Main St", "city": "Springfield", "zip": "12345"}`, "", 201, "address.create", "address", "/v1/addresses", remember(&addressID)}
		}},
		{"update address", func() write {
			return write{"PATCH", "/v1/addresses/" + addressID, `{"city": "Portland"}`, patch, 200, "address.update", "address", "/v1/addresses/:id", fixed(&addressID)}
		}},
		{"delete address", func() write {
			return write{"DELETE", "/v1/addresses/" + addressID, "", "", 204, "address.delete", "address", "/v1/addresses/:id", fixed(&addressID)}
		}},
		{"create summary", func() write {
			return write{"POST", "/v1/analytics/summaries", `{"date": "2026-11-01", "period": "daily"}`, "", 201, "analytics_summary.create", "analytics_summary", "/v1/analytics/summaries", remember(&summaryID)}
		}},
		{"update summary", func() write {
			return write{"PATCH", "/v1/analytics/summaries/" + summaryID, `{"total_shipments": 3}`, patch, 200, "analytics_summary.update", "analytics_summary", "/v1/analytics/summaries/:id", fixed(&summaryID)}
		}},
		{"delete summary", func() write {
			return write{"DELETE", "/v1/analytics/summaries/" + summaryID, "", "", 204, "analytics_summary.delete", "analytics_summary", "/v1/analytics/summaries/:id", fixed(&summaryID)}
		}},
		{"create carrier performance", func() write {
			return write{"POST", "/v1/analytics/carrier-performance", `{"date": "2026-11-01", "carrier": "USPS", "service": "Priority"}`, "", 201, "carrier_performance.create", "carrier_performance", "/v1/analytics/carrier-performance", remember(&perfID)}
		}},
		{"update carrier performance", func() write {
			return write{"PATCH", "/v1/analytics/carrier-performance/" + perfID, `{"total_shipments": 2}`, patch, 200, "carrier_performance.update", "carrier_performance", "/v1/analytics/carrier-performance/:id", fixed(&perfID)}
		}},
		{"delete carrier performance", func() write {
			return write{"DELETE", "/v1/analytics/carrier-performance/" + perfID, "", "", 204, "carrier_performance.delete", "carrier_performance", "/v1/analytics/carrier-performance/:id", fixed(&perfID)}
		}},
		{"create system metric", func() write {
			return write{"POST", "/v1/system-metrics", `{"active_connections": 1}`, "", 201, "system_metric.create", "system_metric", "/v1/system-metrics", remember(&sampleID)}
		}},
		{"delete system metric", func() write {
			return write{"DELETE", "/v1/system-metrics/" + sampleID, "", "", 204, "system_metric.delete", "system_metric", "/v1/system-metrics/:id", fixed(&sampleID)}
		}},
		{"rollup", func() write {
			return write{"POST", "/v1/analytics/rollups", `{"start_date": "2026-11-01", "end_date": "2026-11-03"}`, "", 200, "rollup.create", "rollup", "/v1/analytics/rollups", none}
		}},
		{"batch imported in the request", func() write {
			return write{"POST", "/v1/batches", `{"shipments": [` + minimalShipment + `]}`, "", 201, "batch.create", "batch", "/v1/batches", own}
		}},
		{"batch left to the worker", func() write {
			return write{"POST", "/v1/batches", `{"shipments": [` + strings.Repeat(minimalShipment+",", 100) + minimalShipment + `]}`, "", 202, "batch.create", "batch", "/v1/batches", own}
		}},
		{"delete shipment", func() write {
			return write{"DELETE", "/v1/shipments/" + shipmentID, "", "", 204, "shipment.delete", "shipment", "/v1/shipments/:id", fixed(&shipmentID)}
		}},
	}
	for _, tt := range writes {
		w := tt.w()
		before := activityCount(t, f)
		var headers []string
		if w.contentType != "" {
			headers = []string{"Content-Type", w.contentType}
		}
		rec, body := f.send(t, w.method, w.path, writeKey, w.body, headers...)
		if rec.Code != w.status {
			t.Fatalf("%s: %s %s answered %d %s, want %d", tt.name, w.method, w.path, rec.Code, rec.Body, w.status)
		}
		if got := activityCount(t, f) - before; got != 1 {
			t.Errorf("%s: %d new audit rows, want 1", tt.name, got)
			continue
		}
		got := newestActivity(t, f, adminKey)
		want := map[string]any{
			"api_key_id": writer.ID.String(), "api_key_name": "writer", "action": w.action, "resource_type": w.resourceType,
			"request_id": rec.Header().Get("X-Request-Id"), "ip_address": "192.0.2.1", "method": w.method,
			"endpoint": w.endpoint, "status_code": float64(w.status),
		}
		if id := w.resourceID(body); id != "" {
			want["resource_id"] = id
		} else {
			want["resource_id"] = nil
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v", tt.name, k, got[k], v)
			}
		}
		if _, err := time.Parse(time.RFC3339Nano, got["created_at"].(string)); err != nil {
			t.Errorf("%s: created_at %v: %v", tt.name, got["created_at"], err)
		}
		if w.resourceType == "shipment_event" || w.resourceType == "shipment_metrics" {
			if meta, _ := got["extra_metadata"].(map[string]any); meta["shipment_id"] != shipmentID {
				t.Errorf("%s: extra_metadata %v, want the shipment_id %s", tt.name, got["extra_metadata"], shipmentID)
			}
		}
	}

	// Writes that fail, replays and reads record nothing.
	before := activityCount(t, f)
	rec, sh := f.send(t, "POST", "/v1/shipments", writeKey, minimalShipment)
	if rec.Code != 201 {
		t.Fatalf("create shipment: %d", rec.Code)
	}
	id := sh["id"].(string)
	for _, tt := range []struct {
		name, method, path, key, body string
		headers                       []string
		status                        int
	}{
		{"invalid body", "POST", "/v1/shipments", writeKey, `{"to_address": {"street1": "a", "city": "b", "zip": "c"}}`, nil, 422},
		{"unknown shipment", "DELETE", "/v1/shipments/00000000-0000-0000-0000-000000000000", writeKey, "", nil, 404},
		{"read key", "POST", "/v1/shipments", readKey, minimalShipment, nil, 403},
		{"stale If-Match", "PATCH", "/v1/shipments/" + id, writeKey, `{"reference": "x"}`, []string{"Content-Type", patch, "If-Match", `"stale"`}, 412},
		{"event of no shipment", "POST", "/v1/shipments/00000000-0000-0000-0000-000000000000/events", writeKey, `{"status": "in_transit"}`, nil, 404},
		{"reversed rollup", "POST", "/v1/analytics/rollups", writeKey, `{"start_date": "2026-11-03", "end_date": "2026-11-01"}`, nil, 422},
		{"read", "GET", "/v1/shipments/" + id, writeKey, "", nil, 200},
	} {
		rec, _ := f.send(t, tt.method, tt.path, tt.key, tt.body, tt.headers...)
		if rec.Code != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, rec.Code, rec.Body, tt.status)
		}
	}
	if got := activityCount(t, f) - before; got != 1 {
		t.Errorf("after one create and only failed writes and reads: %d new audit rows, want 1", got)
	}

	// An idempotent retry replays the first answer and records nothing.
	before = activityCount(t, f)
	for range 2 {
		if rec, _ := f.send(t, "POST", "/v1/shipments", writeKey, minimalShipment, "Idempotency-Key", "audit-1"); rec.Code != 201 {
			t.Fatalf("idempotent create: %d %s", rec.Code, rec.Body)
		}
	}
	if got := activityCount(t, f) - before; got != 1 {
		t.Errorf("a create and its replay: %d new audit rows, want 1", got)
	}
}

// TestActivityList checks the admin scope, the filters and keyset paging
// of GET /v1/activity.
func TestActivityList(t *testing.T) {
	f := newFixture(t, true)
	_, readKey := namedKey(t, f, "reader", models.ScopeRead)
	writer, writeKey := namedKey(t, f, "writer", models.ScopeWrite)
	admin, adminKey := namedKey(t, f, "auditor", models.ScopeAdmin)

	for _, key := range []string{readKey, writeKey} {
		code, h, body := f.do(t, http.MethodGet, "/v1/activity", key)
		checkProblem(t, code, h, body, http.StatusForbidden, "forbidden")
		if got := h.Get("WWW-Authenticate"); got != `Bearer error="insufficient_scope", scope="admin"` {
			t.Errorf("WWW-Authenticate %q", got)
		}
	}
	code, h, body := f.do(t, http.MethodGet, "/v1/activity", "")
	checkProblem(t, code, h, body, http.StatusUnauthorized, "unauthorized")

	// Five shipments by the writer, two addresses by the admin (an admin
	// key writes too).
	var shipments []string
	for range 5 {
		rec, sh := f.send(t, "POST", "/v1/shipments", writeKey, minimalShipment)
		if rec.Code != 201 {
			t.Fatalf("create shipment: %d %s", rec.Code, rec.Body)
		}
		shipments = append(shipments, sh["id"].(string))
	}
	mid := time.Now()
	time.Sleep(10 * time.Millisecond)
	for range 2 {
		if rec, _ := f.send(t, "POST", "/v1/addresses", adminKey, `{"street1": "1 Main St", "city": "Springfield", "zip": "12345"}`); rec.Code != 201 {
			t.Fatalf("admin creates an address: %d %s", rec.Code, rec.Body)
		}
	}

	count := func(query string) int {
		t.Helper()
		code, _, body := f.do(t, http.MethodGet, "/v1/activity?"+query, adminKey)
		if code != http.StatusOK {
			t.Fatalf("GET /v1/activity?%s: %d %v", query, code, body)
		}
		return len(body["activities"].([]any))
	}
	for _, tt := range []struct {
		query string
		want  int
	}{
		{"", 7},
		{"action=shipment.create", 5},
		{"action=address.create", 2},
		{"action=shipment.delete", 0},
		{"resource_type=shipment&resource_id=" + shipments[2], 1},
		{"resource_id=" + shipments[2], 1},
		{"api_key_id=" + writer.ID.String(), 5},
		{"api_key_id=" + admin.ID.String(), 2},
		{"start_datetime=" + url.QueryEscape(mid.UTC().Format(time.RFC3339Nano)), 2},
		{"end_datetime=" + url.QueryEscape(mid.UTC().Format(time.RFC3339Nano)), 5},
	} {
		if got := count(tt.query); got != tt.want {
			t.Errorf("GET /v1/activity?%s: %d items, want %d", tt.query, got, tt.want)
		}
	}

	// Paging by cursor, two at a time, sees every row once, newest first.
	var seen []string
	var last time.Time
	next := "/v1/activity?page_size=2"
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		code, _, body := f.do(t, http.MethodGet, next, adminKey)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %v", next, code, body)
		}
		for _, it := range body["activities"].([]any) {
			a := it.(map[string]any)
			at, _ := time.Parse(time.RFC3339Nano, a["created_at"].(string))
			if !last.IsZero() && at.After(last) {
				t.Errorf("not newest first: %v after %v", at, last)
			}
			last = at
			seen = append(seen, a["id"].(string))
		}
		next = ""
		if c, ok := body["next_cursor"].(string); ok {
			next = "/v1/activity?page_size=2&cursor=" + c
		}
	}
	unique := map[string]bool{}
	for _, id := range seen {
		unique[id] = true
	}
	if len(seen) != 7 || len(unique) != 7 {
		t.Errorf("paging saw %d rows (%d distinct), want 7", len(seen), len(unique))
	}

	for _, q := range []string{"api_key_id=nope", "sort=action", "action=", "page_size=0", "cursor=abc"} {
		code, h, body := f.do(t, http.MethodGet, "/v1/activity?"+q, adminKey)
		checkProblem(t, code, h, body, http.StatusBadRequest, "bad_request")
	}
}
