package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/waybill/waybill/models"
)

// snapshot fingerprints every row of every table the API writes.
func snapshot(t *testing.T, f *fixture) string {
	t.Helper()
	var sum string
	err := f.store.DB().QueryRow(`SELECT md5(coalesce(string_agg(r, ',' ORDER BY r), '')) FROM (
		SELECT row_to_json(x)::text r FROM shipments x UNION ALL SELECT row_to_json(x)::text FROM addresses x
		UNION ALL SELECT row_to_json(x)::text FROM parcels x UNION ALL SELECT row_to_json(x)::text FROM customs_infos x
		UNION ALL SELECT row_to_json(x)::text FROM shipment_events x UNION ALL SELECT row_to_json(x)::text FROM shipment_metrics x
		UNION ALL SELECT row_to_json(x)::text FROM analytics_summaries x UNION ALL SELECT row_to_json(x)::text FROM carrier_performance x
		UNION ALL SELECT row_to_json(x)::text FROM system_metrics x UNION ALL SELECT row_to_json(x)::text FROM idempotency_keys x) rows`).Scan(&sum)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// sqlFragments are classic injection payloads.
var sqlFragments = []string{`' OR '1'='1`, `'; DROP TABLE shipments; --`, `1; SELECT pg_sleep(5)`, `" OR ""="`, `\'; --`, `%' --`}

// badBodies are request bodies that must all be refused.
func badBodies() map[string]string {
	bodies := map[string]string{
		"malformed":        `{"reference": `,
		"null":             `null`,
		"array":            `[{"reference": "x"}]`,
		"string":           `"x"`,
		"empty":            ``,
		"trailing":         `{}{}`,
		"deep nesting":     `{"metadata": ` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
		"deep objects":     strings.Repeat(`{"a":`, 10001) + `1` + strings.Repeat("}", 10001),
		"huge number":      `{"total_shipments": 1e999, "weight": 1e999, "active_connections": 1e999, "tracking_updates_count": 1e999}`,
		"huge integer":     `{"total_shipments": 99999999999999999999, "delivery_days": 99999999999999999999, "active_connections": 99999999999999999999, "tracking_updates_count": 99999999999999999999}`,
		"invalid UTF-8":    "{\"reference\": \"\xc3\x28\"}",
		"NUL in text":      `{"reference": "a\u0000b", "carrier": "a\u0000b", "city": "a\u0000b", "status": "a\u0000b"}`,
		"case variant key": `{"STATUS": "delivered", "Street1": "x", "Carrier": "x", "Period": "daily", "Total_Requests": 1}`,
		"read-only":        `{"id": "00000000-0000-0000-0000-000000000001", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}`,
		"unknown field":    `{"drop_table": true}`,
	}
	for i, frag := range sqlFragments {
		q := fmt.Sprintf("%q", frag)
		// Where a fragment is not a valid value: ids, numbers, enums,
		// dates, and as a field name.
		bodies[fmt.Sprintf("sql %d", i)] = fmt.Sprintf(`{"status": %s, "from_address_id": %s, "period": %s, "date": %s,
			"event_datetime": %s, "total_cost": %s, "country": %s, "timestamp": %s, %s: 1}`, q, q, q, q, q, q, q, q, q)
	}
	return bodies
}

// TestBadInputChangesNothing sends the bad-input corpus to every route
// that takes a body, and SQL fragments in every query parameter of every
// list: each answer is a 4xx problem+json, and no row changes.
func TestBadInputChangesNothing(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	sh := createShipment(t, f, key, newShipment)
	id := sh["id"].(string)
	addr := sh["from_address_id"].(string)
	_, summary := f.send(t, http.MethodPost, "/v1/analytics/summaries", key, `{"date": "2026-11-01", "period": "daily"}`)
	_, perf := f.send(t, http.MethodPost, "/v1/analytics/carrier-performance", key, `{"date": "2026-11-01", "carrier": "USPS", "service": "Priority"}`)
	before := snapshot(t, f)

	routes := []struct{ method, path string }{
		{http.MethodPost, "/v1/shipments"},
		{http.MethodPatch, "/v1/shipments/" + id},
		{http.MethodPost, "/v1/shipments/" + id + "/events"},
		{http.MethodPut, "/v1/shipments/" + id + "/metrics"},
		{http.MethodPost, "/v1/addresses"},
		{http.MethodPatch, "/v1/addresses/" + addr},
		{http.MethodPost, "/v1/analytics/summaries"},
		{http.MethodPatch, "/v1/analytics/summaries/" + summary["id"].(string)},
		{http.MethodPost, "/v1/analytics/carrier-performance"},
		{http.MethodPatch, "/v1/analytics/carrier-performance/" + perf["id"].(string)},
		{http.MethodPost, "/v1/system-metrics"},
	}
	for name, body := range badBodies() {
		for _, r := range routes {
			rec, out := f.send(t, r.method, r.path, key, body, "Idempotency-Key", "corpus-"+name)
			if rec.Code < 400 || rec.Code >= 500 || rec.Header().Get("Content-Type") != "application/problem+json" || out["code"] == nil {
				t.Errorf("%s %s with %s: %d %.200s; want a 4xx problem", r.method, r.path, name, rec.Code, rec.Body)
			}
		}
	}
	huge := `{"reference": "` + strings.Repeat("x", 1<<20) + `"}`
	for _, r := range routes {
		rec, out := f.send(t, r.method, r.path, key, huge)
		checkProblem(t, rec.Code, rec.Header(), out, 413, "payload_too_large")
	}

	lists := map[string][]string{
		"/v1/shipments":                     {"status", "carrier", "service", "tracking_code", "reference", "mode"},
		"/v1/addresses":                     {"country", "state", "city"},
		"/v1/analytics/summaries":           {"period", "start_date", "end_date"},
		"/v1/analytics/carrier-performance": {"carrier", "service", "start_date", "end_date"},
		"/v1/system-metrics":                {},
		"/v1/shipments/" + id + "/events":   {},
	}
	common := []string{"page_size", "before_id", "after_id", "start_datetime", "end_datetime"}
	for path, params := range lists {
		for _, p := range append(common, params...) {
			for _, frag := range sqlFragments {
				rec, out := f.send(t, http.MethodGet, path+"?"+p+"="+url.QueryEscape(frag), key, "")
				switch {
				case rec.Code == 200: // a free-text filter matched the fragment literally
					for plural, items := range out {
						if plural != "has_more" && len(items.([]any)) != 0 {
							t.Errorf("GET %s?%s=%q matched %d rows", path, p, frag, len(items.([]any)))
						}
					}
				case rec.Code != 400 || out["code"] != "bad_request":
					t.Errorf("GET %s?%s=%q: %d %.200s; want 400 or an empty 200", path, p, frag, rec.Code, rec.Body)
				}
			}
		}
		rec, out := f.send(t, http.MethodGet, path+"?"+url.QueryEscape(sqlFragments[1])+"=1", key, "")
		checkProblem(t, rec.Code, rec.Header(), out, 400, "bad_request")
	}

	if after := snapshot(t, f); after != before {
		t.Error("the database changed")
	}

	// In a free-text field a fragment is just text: stored and returned
	// literally, the tables intact.
	for _, frag := range sqlFragments {
		rec, out := f.send(t, http.MethodPatch, "/v1/shipments/"+id, key, fmt.Sprintf(`{"reference": %q}`, frag))
		if rec.Code != 200 || out["reference"] != frag {
			t.Errorf("reference %q: %d %v", frag, rec.Code, out["reference"])
		}
	}
	if n := countShipments(t, f); n != 1 {
		t.Errorf("%d shipments, want 1", n)
	}
}

// TestMalformedJSONSpeaksPlainly: a body encoding/json refuses is a 400
// whose detail says where, in the API's words, not the library's.
func TestMalformedJSONSpeaksPlainly(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	for body, want := range map[string]string{
		`{"street1": }`: "malformed JSON: unexpected character at byte 13",
		`{"street1": `:  "malformed JSON: the body ends too early",
	} {
		rec, out := f.send(t, http.MethodPost, "/v1/addresses", key, body)
		checkProblem(t, rec.Code, rec.Header(), out, 400, "bad_request")
		if out["detail"] != want {
			t.Errorf("%s: detail %q, want %q", body, out["detail"], want)
		}
	}
}
