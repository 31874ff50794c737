package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/waybill/waybill/handlers"
	"github.com/waybill/waybill/models"
)

// TestNumberBoundsAgreeWithSpec sends numbers at and beyond the bounds the
// document declares (money of numeric(12,2), counts, percentages) and
// checks that the server and the document give the same verdict: the
// server stores exactly what the document allows (the value it stored is
// written back digit for digit) and answers 422 naming the field for
// what the document rejects.
func TestNumberBoundsAgreeWithSpec(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	shipment := createShipment(t, f, key, newShipment)
	shipmentPath := "/v1/shipments/" + shipment["id"].(string)
	metricsPath := shipmentPath + "/metrics"

	const (
		summary = `{"date": "2026-11-28", "period": "daily", %s}`
		carrier = `{"carrier": "USPS", "service": "Priority", "date": "2026-11-28", %s}`
	)
	tests := []struct {
		method, path, body string
		field, value       string
		ok                 bool
	}{
		// Money: two decimals, ±9999999999.99, exact.
		{"POST", "/v1/analytics/summaries", summary, "total_cost", "1234567.89", true},
		{"POST", "/v1/analytics/summaries", summary, "total_cost", "0.10", true},
		{"POST", "/v1/analytics/summaries", summary, "total_cost", "1.230", true},
		{"POST", "/v1/analytics/summaries", summary, "total_cost", "9999999999.99", true},
		{"POST", "/v1/analytics/summaries", summary, "total_cost", "10000000000.00", false},
		{"POST", "/v1/analytics/summaries", summary, "total_cost", "1.234", false},
		{"POST", "/v1/analytics/summaries", summary, "total_cost", "-0.01", false},
		{"POST", "/v1/analytics/summaries", summary, "average_cost_per_shipment", "0.01", true},
		{"POST", "/v1/analytics/summaries", summary, "average_cost_per_shipment", "-1", false},
		{"POST", "/v1/analytics/carrier-performance", carrier, "total_cost", "9999999999.99", true},
		{"POST", "/v1/analytics/carrier-performance", carrier, "average_cost", "-0.5", false},
		{"PUT", metricsPath, "{%s}", "base_rate", "-9999999999.99", true},
		{"PUT", metricsPath, "{%s}", "other_fees", "1234567.89", true},
		{"PUT", metricsPath, "{%s}", "other_fees", "-10000000000", false},
		{"PUT", metricsPath, "{%s}", "other_fees", "0.001", false},
		// Counts and days: not negative; a weight above 0.
		{"PATCH", shipmentPath, "{%s}", "delivery_days", "0", true},
		{"PATCH", shipmentPath, "{%s}", "delivery_days", "-1", false},
		{"PATCH", shipmentPath, "{%s}", "weight", "0.5", true},
		{"PATCH", shipmentPath, "{%s}", "weight", "0", false},
		{"POST", "/v1/analytics/summaries", summary, "average_delivery_days", "-0.5", false},
		{"POST", "/v1/analytics/carrier-performance", carrier, "min_delivery_days", "-1", false},
		{"POST", "/v1/analytics/carrier-performance", carrier, "max_delivery_days", "0", true},
		{"POST", "/v1/system-metrics", "{%s}", "active_connections", "2147483647", true},
		{"POST", "/v1/system-metrics", "{%s}", "active_connections", "2147483648", false},
		{"POST", "/v1/system-metrics", "{%s}", "db_slow_queries", "-1", false},
		{"POST", "/v1/system-metrics", "{%s}", "memory_usage_mb", "-0.5", false},
		{"POST", "/v1/system-metrics", "{%s}", "avg_response_time_ms", "0", true},
		// Percentages: 0–100.
		{"POST", "/v1/system-metrics", "{%s}", "error_rate", "100", true},
		{"POST", "/v1/system-metrics", "{%s}", "error_rate", "100.01", false},
		{"POST", "/v1/system-metrics", "{%s}", "cache_hit_rate", "0", true},
		{"POST", "/v1/system-metrics", "{%s}", "cache_miss_rate", "-0.01", false},
		{"POST", "/v1/system-metrics", "{%s}", "cpu_usage_percent", "55.5", true},
		{"POST", "/v1/system-metrics", "{%s}", "disk_usage_percent", "101", false},
	}
	for i, tt := range tests {
		// A date of its own, as summaries and carrier rows are unique by date.
		date := time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC).Format(models.DateFormat)
		body := strings.Replace(fmt.Sprintf(tt.body, fmt.Sprintf("%q: %s", tt.field, tt.value)), "2026-11-28", date, 1)
		name := fmt.Sprintf("%s %s %s", tt.method, tt.path, body)
		specProblems := handlers.SpecRequestProblems(specRequest(tt.method, tt.path, key, body), []byte(body))
		if specOK := len(specProblems) == 0; specOK != tt.ok {
			t.Errorf("%s: the document accepts it: %v, want %v (%v)", name, specOK, tt.ok, specProblems)
		}
		rec, out := f.send(t, tt.method, tt.path, key, body)
		if !tt.ok {
			checkProblem(t, rec.Code, rec.Header(), out, 422, "validation_failed")
			if fields := analyticsErrorFields(out); len(fields) != 1 || fields[0] != tt.field {
				t.Errorf("%s: fields %v, want [%s]", name, fields, tt.field)
			}
			continue
		}
		if rec.Code/100 != 2 {
			t.Errorf("%s = %d %s, want 2xx", name, rec.Code, rec.Body)
			continue
		}
		if got, want := rawField(t, rec.Body.Bytes(), tt.field), canonical(tt.field, tt.value); got != want {
			t.Errorf("%s: %s came back as %s, want %s", name, tt.field, got, want)
		}
	}

	// The document cannot say "no exponent"; the server refuses one for
	// money rather than guess at its digits, and says so.
	body := fmt.Sprintf(summary, `"total_cost": 1.2345679e+06`)
	rec, out := f.send(t, http.MethodPost, "/v1/analytics/summaries", key, body)
	checkProblem(t, rec.Code, rec.Header(), out, 422, "validation_failed")
}

// specRequest builds the request the table describes, for the document's
// verdict.
func specRequest(method, path, key, body string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	return req
}

// rawField returns the JSON text of a top-level field of body, as written.
func rawField(t *testing.T, body []byte, field string) string {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return string(obj[field])
}

// moneyFields are the fields of the table that are money.
var moneyFields = map[string]bool{"total_cost": true, "average_cost_per_shipment": true, "average_cost": true,
	"base_rate": true, "other_fees": true}

// canonical is how the server writes the number v of field it accepted:
// money with exactly two decimals, other numbers as encoding/json writes
// a float64.
func canonical(field, v string) string {
	if moneyFields[field] {
		m, err := models.ParseMoney(v)
		if err != nil {
			return "not money: " + err.Error()
		}
		return m.String()
	}
	f, _ := json.Number(v).Float64()
	b, _ := json.Marshal(f)
	return string(b)
}

// TestEventListParameters checks that the document describes the event
// list as the server serves it: page_size defaults to 100, after_id pages
// forward, and the other list parameters are refused by both.
func TestEventListParameters(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	path := "/v1/shipments/" + createShipment(t, f, key, newShipment)["id"].(string) + "/events"
	const events = 21 // one more than the default of the other lists
	for i := range events {
		body := fmt.Sprintf(`{"status": "in_transit", "event_datetime": "2026-11-28T10:%02d:00Z"}`, i)
		if rec, _ := f.send(t, http.MethodPost, path, key, body); rec.Code != http.StatusCreated {
			t.Fatalf("POST %s = %d %s", body, rec.Code, rec.Body)
		}
	}
	_, page := f.send(t, http.MethodGet, path, key, "")
	if n := len(page["events"].([]any)); n != events || page["has_more"] != false {
		t.Errorf("without page_size: %d events, has_more %v; want all %d", n, page["has_more"], events)
	}
	_, page = f.send(t, http.MethodGet, path+"?page_size=20", key, "")
	last := page["events"].([]any)[19].(map[string]any)["id"].(string)
	_, page = f.send(t, http.MethodGet, path+"?after_id="+last, key, "")
	if n := len(page["events"].([]any)); n != 1 {
		t.Errorf("after_id: %d events, want 1", n)
	}
	for _, q := range []string{"before_id=" + last, "start_datetime=2026-11-28T10:00:00Z", "end_datetime=2026-11-28T10:00:00Z"} {
		rec, body := f.send(t, http.MethodGet, path+"?"+q, key, "")
		checkProblem(t, rec.Code, rec.Header(), body, 400, "bad_request")
	}

	// The document declares exactly these query parameters, with the
	// server's default (OpenAPI cannot say that others are refused).
	var doc struct {
		Paths map[string]struct {
			Get struct {
				Parameters []struct {
					Name, In string
					Schema   struct{ Default any }
				}
			}
		}
	}
	rec, _ := f.send(t, http.MethodGet, "/openapi.json", "", "")
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	query := map[string]any{}
	for _, p := range doc.Paths["/v1/shipments/{id}/events"].Get.Parameters {
		if p.In == "query" {
			query[p.Name] = p.Schema.Default
		}
	}
	if want := map[string]any{"page_size": float64(100), "after_id": nil, "cursor": nil}; !reflect.DeepEqual(query, want) {
		t.Errorf("the document's query parameters (with defaults) are %v, want %v", query, want)
	}
}

// TestDuplicateKeysRefused: bodies are strict, so a key given twice in one
// object (at any depth, whatever its values) is a 400 naming its path and
// nothing is stored, on create and on merge patch alike.
func TestDuplicateKeysRefused(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	tests := []struct {
		method, path, body, where string
	}{
		{"POST", "/v1/addresses", `{"street1": "a", "city": "b", "zip": "c", "city": "b"}`, "city"},
		{"POST", "/v1/shipments", `{"metadata": {"x": 1, "x": 2}}`, "metadata.x"},
		{"POST", "/v1/shipments", `{"from_address": {"street1": "a", "city": "b", "zip": "c"}, "to_address": {"street1": "d", "city": "e", "zip": "f"},
			"customs_info": {"customs_items": [{"description": "a"}, {"description": "b", "description": "b"}]}}`, "customs_info.customs_items[1].description"},
		{"POST", "/v1/shipments", `{"base_cost": 1, "base_cost": 2}`, "base_cost"},
	}
	for _, tt := range tests {
		rec, out := f.send(t, tt.method, tt.path, key, tt.body)
		checkProblem(t, rec.Code, rec.Header(), out, 400, "bad_request")
		if want := tt.where + ": the key is given more than once in its object"; out["detail"] != want {
			t.Errorf("%s: detail %q, want %q", tt.body, out["detail"], want)
		}
	}
	if n := countShipments(t, f); n != 0 {
		t.Errorf("%d shipments, want none", n)
	}
	_, list := f.send(t, http.MethodGet, "/v1/addresses", key, "")
	if n := len(list["addresses"].([]any)); n != 0 {
		t.Errorf("%d addresses, want none", n)
	}
	// The same keys in different objects, or differing in case, are not
	// duplicates (the miscased one is an unknown field, 422).
	sh := createShipment(t, f, key, `{"from_address": {"street1": "a", "city": "b", "zip": "c"}, "to_address": {"street1": "d", "city": "b", "zip": "f"},
		"metadata": {"city": "b"}}`)
	path := "/v1/addresses/" + sh["from_address_id"].(string)
	rec, out := f.send(t, http.MethodPatch, path, key, `{"city": "x", "City": "y"}`)
	checkProblem(t, rec.Code, rec.Header(), out, 422, "validation_failed")
	rec, out = f.send(t, http.MethodPatch, path, key, `{"city": "x", "city": "y"}`, "Content-Type", "application/merge-patch+json")
	checkProblem(t, rec.Code, rec.Header(), out, 400, "bad_request")
	if _, got := f.send(t, http.MethodGet, path, key, ""); got["city"] != "b" {
		t.Errorf("after refused patches city is %v, want b", got["city"])
	}
}

// TestUUIDsCanonical: ids are accepted in their canonical form only
// (8-4-4-4-12 hex digits, either case), in the path (percent-decoded), the
// query and the body alike, as the document's format: uuid says; braces,
// a urn:uuid: prefix or missing dashes are refused (400 in the path and
// the query, 422 naming the field in a body), by the server and the
// document both.
func TestUUIDsCanonical(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	sh := createShipment(t, f, key, newShipment)
	id, from := sh["id"].(string), sh["from_address_id"].(string)
	escaped := ""
	for _, b := range []byte(id) {
		escaped += fmt.Sprintf("%%%02X", b)
	}
	forms := []struct {
		name, path, text string // path: how the form is written in a path
		ok               bool
	}{
		{"lower case", id, id, true},
		{"upper case", strings.ToUpper(id), strings.ToUpper(id), true},
		{"percent-encoded", escaped, id, true},
		{"braces", "%7B" + id + "%7D", "{" + id + "}", false},
		{"no dashes", strings.ReplaceAll(id, "-", ""), strings.ReplaceAll(id, "-", ""), false},
		{"urn", "urn:uuid:" + id, "urn:uuid:" + id, false},
		{"too short", id[:35], id[:35], false},
	}
	agree := func(t *testing.T, method, target, body string, serverOK bool) {
		t.Helper()
		problems := handlers.SpecRequestProblems(specRequest(method, target, key, body), []byte(body))
		if specOK := len(problems) == 0; specOK != serverOK {
			t.Errorf("%s %s %s: the document accepts it: %v, the server: %v (%v)", method, target, body, specOK, serverOK, problems)
		}
	}
	for _, form := range forms {
		t.Run(form.name, func(t *testing.T) {
			target := "/v1/shipments/" + form.path
			rec, out := f.send(t, http.MethodGet, target, key, "")
			if form.ok {
				if rec.Code != http.StatusOK || out["id"] != id {
					t.Errorf("GET %s = %d %v, want the shipment", target, rec.Code, out)
				}
			} else {
				checkProblem(t, rec.Code, rec.Header(), out, 400, "bad_request")
			}
			agree(t, http.MethodGet, target, "", form.ok)

			target = "/v1/shipments?before_id=" + url.QueryEscape(form.text)
			rec, out = f.send(t, http.MethodGet, target, key, "")
			if form.ok && rec.Code != http.StatusOK {
				t.Errorf("GET %s = %d %v, want 200", target, rec.Code, out)
			}
			if !form.ok {
				checkProblem(t, rec.Code, rec.Header(), out, 400, "bad_request")
				if out["detail"] != "before_id must be a UUID" {
					t.Errorf("GET %s: detail %q", target, out["detail"])
				}
			}
			agree(t, http.MethodGet, target, "", form.ok)

			// A body: to an address id, on create (a pointer) and on merge
			// patch (an Optional).
			fromText := strings.Replace(form.text, id, from, 1)
			if form.name == "upper case" {
				fromText = strings.ToUpper(from)
			}
			for _, req := range []struct{ method, path, body, field string }{
				{http.MethodPost, "/v1/shipments", fmt.Sprintf(`{"from_address_id": %q, "to_address_id": %q}`, fromText, from), "from_address_id"},
				{http.MethodPatch, "/v1/shipments/" + id, fmt.Sprintf(`{"to_address_id": %q}`, fromText), "to_address_id"},
			} {
				rec, out := f.send(t, req.method, req.path, key, req.body)
				if form.ok && rec.Code/100 != 2 {
					t.Errorf("%s %s %s = %d %v, want 2xx", req.method, req.path, req.body, rec.Code, out)
				}
				if !form.ok {
					checkProblem(t, rec.Code, rec.Header(), out, 422, "validation_failed")
					if fields := analyticsErrorFields(out); len(fields) != 1 || fields[0] != req.field {
						t.Errorf("%s %s: fields %v, want [%s]", req.method, req.body, fields, req.field)
					}
				}
				agree(t, req.method, req.path, req.body, form.ok)
			}
		})
	}
}
