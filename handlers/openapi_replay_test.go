package handlers_test

import (
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/waybill/waybill/handlers"
	"github.com/waybill/waybill/models"
)

var recordSession = flag.String("record-session", "", "write TestReplaySession's recorded exchanges to this file (JSON lines)")

// step is one request of the session. Its path, body and headers may name
// what earlier steps captured as {name}: the id a step's response carried
// (under the step's capture name) and, as {name.etag}, its ETag.
type step struct {
	method, path, key, body string
	headers                 []string // name, value pairs
	status                  int
	capture                 string
	// refused: the document itself refuses the request (the server's
	// 4xx is then the document's verdict too); otherwise the document
	// must accept it, whatever the server answers (404, 409, 412 … are
	// about the data, not the request's shape).
	refused bool
}

// exchange is a recorded request and its response.
type exchange struct {
	step
	req  *http.Request
	body []byte
	rec  *httptest.ResponseRecorder
}

// TestReplaySession records a representative session through the real
// router (every resource, successes and errors of the client's and of the
// data's making), then replays the recording through libopenapi-validator
// in both directions: every response must be as the document describes
// it, and every request must be one the document accepts, except those it
// refuses itself. Zero violations, with -record-session FILE writing the
// recording for other tools.
func TestReplaySession(t *testing.T) {
	f := newFixture(t, true)
	_, w := f.key(t, models.ScopeWrite)
	_, r := f.key(t, models.ScopeRead)
	const (
		address  = `{"name": "Ada", "street1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701"}`
		summary  = `{"date": "2026-11-28", "period": "weekly", "total_shipments": 10, "successful_shipments": 9, "total_cost": 1234567.89, "currency": "USD"}`
		carrier  = `{"carrier": "USPS", "service": "Priority", "date": "2026-11-28", "total_shipments": 4, "on_time_deliveries": 3, "total_cost": 0.10, "on_time_rate": 75}`
		sample   = `{"active_connections": 3, "error_rate": 0.5, "cpu_usage_percent": 12.25, "p95_response_time_ms": 40, "p99_response_time_ms": 90}`
		merge    = "application/merge-patch+json"
		unknown  = "/v1/shipments/00000000-0000-4000-8000-000000000000"
		tracking = `{"status": "in_transit", "message": "Departed", "event_datetime": "2026-11-28T10:00:00Z"}`
	)
	session := []step{
		{method: "GET", path: "/livez", status: 200},
		{method: "GET", path: "/readyz", status: 200},
		{method: "GET", path: "/openapi.json", status: 200},
		{method: "GET", path: "/problems/validation_failed", status: 200},
		{method: "GET", path: "/health", key: r, status: 200},
		{method: "GET", path: "/v1/shipments", status: 401, refused: true},
		{method: "GET", path: "/v1/shipments", key: "wb_not_a_key", status: 401},
		{method: "POST", path: "/v1/addresses", key: r, body: address, status: 403},

		// Addresses: create, read, conditional patch.
		{method: "POST", path: "/v1/addresses", key: w, body: address, status: 201, capture: "addr"},
		{method: "GET", path: "/v1/addresses/{addr}", key: r, status: 200, capture: "addr"},
		{method: "PATCH", path: "/v1/addresses/{addr}", key: w, body: `{"name": "Ada L."}`,
			headers: []string{"Content-Type", merge, "If-Match", "{addr.etag}"}, status: 200},
		{method: "PATCH", path: "/v1/addresses/{addr}", key: w, body: `{"name": "Ada B."}`,
			headers: []string{"Content-Type", merge, "If-Match", "{addr.etag}"}, status: 412},
		{method: "POST", path: "/v1/addresses", key: w, body: `{"street1": "x"}`, status: 422, refused: true},
		{method: "POST", path: "/v1/addresses", key: w, body: address, headers: []string{"Content-Type", "text/plain"}, status: 415, refused: true},

		// Shipments, with an idempotent retry, lists and bad input.
		{method: "POST", path: "/v1/shipments", key: w, body: newShipment, headers: []string{"Idempotency-Key", "order-1"}, status: 201, capture: "ship"},
		{method: "POST", path: "/v1/shipments", key: w, body: newShipment, headers: []string{"Idempotency-Key", "order-1"}, status: 201},
		{method: "POST", path: "/v1/shipments", key: w, body: `{"from_address_id": "{addr}", "to_address_id": "{addr}", "total_cost": 0.10}`, status: 201},
		{method: "GET", path: "/v1/shipments?page_size=1", key: r, status: 200},
		{method: "GET", path: "/v1/shipments?status=pre_transit&start_datetime=2026-01-01T00:00:00Z", key: r, status: 200},
		{method: "GET", path: "/v1/shipments/{ship}", key: r, status: 200},
		{method: "PATCH", path: "/v1/shipments/{ship}", key: w, body: `{"reference": "order-1b", "total_cost": 20.00}`, status: 200},
		{method: "GET", path: "/v1/shipments?page_size=0", key: r, status: 400, refused: true},
		{method: "GET", path: "/v1/shipments/not-a-uuid", key: r, status: 400, refused: true},
		{method: "GET", path: "/v1/shipments/{ship}x", key: r, status: 400, refused: true},
		{method: "GET", path: unknown, key: r, status: 404},
		{method: "POST", path: "/v1/shipments", key: w, body: `{"from_address_id": "{addr}", "to_address_id": "{addr}", "base_cost": 1.234}`, status: 422, refused: true},
		{method: "POST", path: "/v1/shipments", key: w, body: `{"from_address_id": "{addr}", "to_address_id": "{addr}", "reference": 7}`, status: 400, refused: true},

		// Events and metrics of a shipment.
		{method: "POST", path: "/v1/shipments/{ship}/events", key: w, body: tracking, status: 201, capture: "event"},
		{method: "GET", path: "/v1/shipments/{ship}/events", key: r, status: 200},
		{method: "GET", path: "/v1/shipments/{ship}/events?after_id={event}&page_size=5", key: r, status: 200},
		{method: "GET", path: "/v1/shipments/{ship}/metrics", key: r, status: 404},
		{method: "PUT", path: "/v1/shipments/{ship}/metrics", key: w, body: `{"base_rate": 10.99, "total_cost": 12.10, "tracking_updates_count": 3}`, status: 201},
		{method: "GET", path: "/v1/shipments/{ship}/metrics", key: r, status: 200},

		// Analytics.
		{method: "POST", path: "/v1/analytics/summaries", key: w, body: summary, status: 201, capture: "summary"},
		{method: "POST", path: "/v1/analytics/summaries", key: w, body: summary, status: 409},
		{method: "GET", path: "/v1/analytics/summaries?period=weekly", key: r, status: 200},
		{method: "PATCH", path: "/v1/analytics/summaries/{summary}", key: w, body: `{"failed_shipments": 1}`, status: 200},
		{method: "POST", path: "/v1/analytics/summaries", key: w, body: `{"date": "2026-11-29", "period": "hourly"}`, status: 422, refused: true},
		{method: "POST", path: "/v1/analytics/carrier-performance", key: w, body: carrier, status: 201, capture: "carrier"},
		{method: "GET", path: "/v1/analytics/carrier-performance/{carrier}", key: r, status: 200},
		{method: "POST", path: "/v1/system-metrics", key: w, body: sample, status: 201, capture: "sample"},
		{method: "GET", path: "/v1/system-metrics?page_size=10", key: r, status: 200},
		{method: "POST", path: "/v1/system-metrics", key: w, body: `{"error_rate": 101}`, status: 422, refused: true},
		{method: "GET", path: "/v1/analytics/dashboard", key: r, status: 200},
		{method: "GET", path: "/v1/analytics/dashboard?start_date=2026-03-01&end_date=2026-03-31", key: r, status: 200},
		{method: "POST", path: "/v1/analytics/rollups", key: w, body: `{"start_date": "2026-11-28", "end_date": "2026-11-28"}`, status: 200},

		// Routing errors and deletes.
		{method: "GET", path: "/v1/nowhere", key: r, status: 404, refused: true},
		{method: "DELETE", path: "/v1/analytics/dashboard", key: w, status: 405, refused: true},
		{method: "DELETE", path: "/v1/addresses/{addr}", key: w, status: 409},
		{method: "DELETE", path: "/v1/system-metrics/{sample}", key: w, status: 204},
		{method: "DELETE", path: "/v1/analytics/summaries/{summary}", key: w, status: 204},
		{method: "DELETE", path: "/v1/shipments/{ship}", key: w, status: 204},
		{method: "DELETE", path: "/v1/shipments/{ship}", key: w, status: 404},
	}

	// Record.
	captured := map[string]string{}
	fill := func(s string) string {
		for name, v := range captured {
			s = strings.ReplaceAll(s, "{"+name+"}", v)
		}
		return s
	}
	var recording []exchange
	for _, st := range session {
		st.path, st.body = fill(st.path), fill(st.body)
		req := httptest.NewRequest(st.method, st.path, strings.NewReader(st.body))
		if st.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if st.key != "" {
			req.Header.Set("Authorization", "Bearer "+st.key)
		}
		for i := 0; i+1 < len(st.headers); i += 2 {
			req.Header.Set(st.headers[i], fill(st.headers[i+1]))
		}
		rec := httptest.NewRecorder()
		f.e.ServeHTTP(rec, req)
		if rec.Code != st.status {
			t.Fatalf("%s %s %s = %d %s, want %d", st.method, st.path, st.body, rec.Code, rec.Body, st.status)
		}
		if st.capture != "" {
			var out struct{ ID string }
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("%s %s: %v", st.method, st.path, err)
			}
			captured[st.capture], captured[st.capture+".etag"] = out.ID, rec.Header().Get("ETag")
		}
		recording = append(recording, exchange{step: st, req: req, body: []byte(st.body), rec: rec})
	}

	// Replay the recording through the validator, both directions.
	violations := 0
	for _, x := range recording {
		name := x.method + " " + x.path
		if !t.Run(name, func(t *testing.T) { handlers.CheckAgainstSpec(t, x.req, x.body, x.rec) }) {
			violations++
		}
		problems := handlers.SpecRequestProblems(x.req, x.body)
		switch {
		case x.refused && len(problems) == 0:
			violations++
			t.Errorf("%s %s: the server answered %d, but the document accepts the request", name, x.body, x.rec.Code)
		case !x.refused && len(problems) > 0:
			violations++
			t.Errorf("%s %s (%d): the document refuses the request:\n  %s", name, x.body, x.rec.Code, strings.Join(problems, "\n  "))
		}
	}
	if violations > 0 {
		t.Errorf("%d violations over %d exchanges", violations, len(recording))
	}
	if *recordSession != "" {
		writeRecording(t, *recordSession, recording)
	}
}

// writeRecording writes the exchanges as JSON lines: method, path,
// request headers and body, status, response headers and body.
func writeRecording(t *testing.T, path string, recording []exchange) {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for _, x := range recording {
		req := x.req.Header.Clone()
		req.Del("Authorization") // the keys die with the test database
		if err := enc.Encode(map[string]any{
			"method": x.method, "path": x.path, "request_headers": req, "request_body": string(x.body),
			"status": x.rec.Code, "response_headers": x.rec.Header(), "response_body": x.rec.Body.String(),
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
