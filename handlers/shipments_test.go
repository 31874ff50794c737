package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/waybill/waybill/models"
)

const newShipment = `{
	"reference": "order-1",
	"carrier": "USPS",
	"service": "Priority",
	"from_address": {"name": "Ada", "street1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701"},
	"to_address": {"street1": "2 Rue de Rivoli", "city": "Paris", "zip": "75001", "country": "FR"},
	"parcel": {"weight": 16.5, "length": 10, "width": 8, "height": 4},
	"customs_info": {"customs_signer": "Ada", "customs_items": [{"description": "book", "value": "12.10"}]},
	"rates": [{"carrier": "USPS", "rate": "12.10"}],
	"base_cost": 12.10,
	"total_cost": 13.45,
	"est_delivery_date": "2026-12-01T17:00:00-05:00",
	"metadata": {"order": 1}
}`

// createShipment posts body and returns the created shipment.
func createShipment(t *testing.T, f *fixture, key, body string) map[string]any {
	t.Helper()
	rec, sh := f.send(t, http.MethodPost, "/v1/shipments", key, body)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	return sh
}

func TestCreateAndGetShipment(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	rec, sh := f.send(t, http.MethodPost, "/v1/shipments", key, newShipment)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	id := sh["id"].(string)
	if loc := rec.Header().Get("Location"); loc != "/v1/shipments/"+id {
		t.Errorf("Location = %q", loc)
	}
	raw := rec.Body.String()
	for _, want := range []string{`"base_cost":12.10`, `"total_cost":13.45`, `"status":"unknown"`, `"mode":"test"`,
		`"currency":"USD"`, `"est_delivery_date":"2026-12-01T22:00:00.000000Z"`, `"rate":"12.10"`,
		`"country":"FR"`, `"mass_unit":"oz"`, `"contents_type":"merchandise"`, `"metadata":{"order":1}`} {
		if !strings.Contains(raw, want) {
			t.Errorf("created shipment lacks %s: %s", want, raw)
		}
	}
	from := sh["from_address"].(map[string]any)
	if sh["from_address_id"] != from["id"] || from["country"] != "US" {
		t.Errorf("from_address = %v, from_address_id = %v", from, sh["from_address_id"])
	}

	get, got := f.send(t, http.MethodGet, "/v1/shipments/"+id, key, "")
	if get.Code != 200 || got["id"] != id {
		t.Fatalf("get: %d %s", get.Code, get.Body)
	}
	if get.Header().Get("ETag") == "" || get.Header().Get("ETag") != rec.Header().Get("ETag") {
		t.Errorf("ETag of GET %q, of POST %q: want the same, non-empty", get.Header().Get("ETag"), rec.Header().Get("ETag"))
	}

	// Reusing an address by id.
	reuse := fmt.Sprintf(`{"from_address_id": %q, "to_address_id": %q}`, from["id"], sh["to_address_id"])
	second := createShipment(t, f, key, reuse)
	if second["from_address_id"] != from["id"] || second["parcel"] != nil {
		t.Errorf("second shipment = %v", second)
	}
	_, addr := f.send(t, http.MethodGet, "/v1/addresses/"+from["id"].(string), key, "")
	if addr["usage_count"] != float64(2) {
		t.Errorf("usage_count = %v, want 2", addr["usage_count"])
	}
}

func TestCreateShipmentRejects(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	_, readKey := f.key(t, models.ScopeRead)
	tests := []struct {
		name, body string
		status     int
		code       string
		fields     []string
	}{
		{"missing addresses", `{}`, 422, "validation_failed", []string{"from_address", "to_address"}},
		{"invalid nested", `{"from_address": {"street1": ""}, "to_address": {"street1": "x", "city": "y", "zip": "z", "country": "usa"},
			"parcel": {"weight": 0}, "status": "lost", "mode": "live", "currency": "usd", "base_cost": -1}`, 422, "validation_failed",
			[]string{"base_cost", "currency", "from_address.city", "from_address.street1", "from_address.zip", "mode", "parcel.weight", "status", "to_address.country"}},
		{"both object and id", `{"from_address": {"street1": "a", "city": "b", "zip": "c"}, "from_address_id": "00000000-0000-0000-0000-000000000001",
			"to_address_id": "00000000-0000-0000-0000-000000000002"}`, 422, "validation_failed", []string{"from_address"}},
		{"unknown address id", `{"from_address_id": "00000000-0000-0000-0000-000000000001", "to_address_id": "00000000-0000-0000-0000-000000000002"}`,
			422, "validation_failed", []string{"from_address_id", "to_address_id"}},
		{"unknown field", `{"colour": "red"}`, 422, "validation_failed", []string{"colour"}},
		{"nested unknown field", `{"parcel": {"weight": 1, "mass": 2}}`, 422, "validation_failed", []string{"parcel.mass"}},
		{"read-only", `{"id": "00000000-0000-0000-0000-000000000001", "created_at": "2026-01-01T00:00:00Z"}`, 422, "validation_failed",
			[]string{"created_at", "id"}},
		{"case variant", `{"Reference": "x"}`, 422, "validation_failed", []string{"Reference"}},
		{"money precision", `{"base_cost": 1.234}`, 422, "validation_failed", []string{"base_cost"}},
		{"too long", `{"reference": "` + strings.Repeat("x", 101) + `"}`, 422, "validation_failed", []string{"from_address", "reference", "to_address"}},
		{"bad time", `{"delivery_date": "tomorrow"}`, 422, "validation_failed", []string{"delivery_date"}},
		{"wrong type", `{"reference": 5}`, 400, "bad_request", nil},
		{"wrong nested type", `{"parcel": {"weight": "heavy"}}`, 400, "bad_request", nil},
		{"huge number", `{"delivery_days": 1e400}`, 400, "bad_request", nil},
		{"malformed", `{"reference": `, 400, "bad_request", nil},
		{"trailing data", `{} {}`, 400, "bad_request", nil},
		{"not an object", `null`, 400, "bad_request", nil},
		{"array", `[]`, 400, "bad_request", nil},
		{"invalid UTF-8", "{\"reference\": \"\xff\xfe\"}", 400, "bad_request", nil},
		{"deep nesting", `{"metadata": ` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, 400, "bad_request", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, body := f.send(t, http.MethodPost, "/v1/shipments", key, tt.body)
			checkProblem(t, rec.Code, rec.Header(), body, tt.status, tt.code)
			if tt.fields != nil {
				var got []string
				for _, e := range body["errors"].([]any) {
					got = append(got, e.(map[string]any)["field"].(string))
				}
				slices.Sort(got)
				if !slices.Equal(got, tt.fields) {
					t.Errorf("fields %v, want %v", got, tt.fields)
				}
			}
		})
	}
	rec, body := f.send(t, http.MethodPost, "/v1/shipments", key, newShipment, "Content-Type", "text/plain")
	checkProblem(t, rec.Code, rec.Header(), body, 415, "unsupported_media")
	rec, body = f.send(t, http.MethodPost, "/v1/shipments", readKey, newShipment)
	checkProblem(t, rec.Code, rec.Header(), body, 403, "forbidden")
	rec, body = f.send(t, http.MethodPost, "/v1/shipments", key, `{"reference": "`+strings.Repeat("x", 2<<20)+`"}`)
	checkProblem(t, rec.Code, rec.Header(), body, 413, "payload_too_large")

	var n int
	if err := f.store.DB().QueryRow(`SELECT (SELECT count(*) FROM shipments) + (SELECT count(*) FROM addresses) + (SELECT count(*) FROM parcels)`).Scan(&n); err != nil || n != 0 {
		t.Errorf("rejected requests left %d rows (%v)", n, err)
	}
}

func TestPatchShipment(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	rec, sh := f.send(t, http.MethodPost, "/v1/shipments", key, newShipment)
	path := "/v1/shipments/" + sh["id"].(string)
	tag := rec.Header().Get("ETag")

	patched, body := f.send(t, http.MethodPatch, path, key, `{"reference": null, "status": "in_transit", "total_cost": 0.10}`,
		"Content-Type", "application/merge-patch+json", "If-Match", tag)
	if patched.Code != 200 {
		t.Fatalf("patch: %d %s", patched.Code, patched.Body)
	}
	if body["reference"] != nil || body["status"] != "in_transit" || !strings.Contains(patched.Body.String(), `"total_cost":0.10`) ||
		body["carrier"] != "USPS" {
		t.Errorf("patched = %s", patched.Body)
	}
	if body["updated_at"] == sh["updated_at"] || body["created_at"] != sh["created_at"] {
		t.Errorf("updated_at %v (was %v), created_at %v (was %v)", body["updated_at"], sh["updated_at"], body["created_at"], sh["created_at"])
	}
	newTag := patched.Header().Get("ETag")
	if newTag == tag {
		t.Error("ETag did not change")
	}

	stale, problem := f.send(t, http.MethodPatch, path, key, `{"reference": "x"}`, "If-Match", tag)
	checkProblem(t, stale.Code, stale.Header(), problem, 412, "precondition_failed")
	bad, problem := f.send(t, http.MethodPatch, path, key, `{"status": null, "currency": "dollars"}`)
	checkProblem(t, bad.Code, bad.Header(), problem, 422, "validation_failed")
	bad, problem = f.send(t, http.MethodPatch, path, key, `{"from_address": {"street1": "x"}}`)
	checkProblem(t, bad.Code, bad.Header(), problem, 422, "validation_failed")
	bad, problem = f.send(t, http.MethodPatch, path, key, `{"return_address_id": "00000000-0000-0000-0000-000000000009"}`)
	checkProblem(t, bad.Code, bad.Header(), problem, 422, "validation_failed")
	_, after := f.send(t, http.MethodGet, path, key, "")
	if after["status"] != "in_transit" || after["return_address_id"] != nil {
		t.Errorf("a rejected patch changed the shipment: %v", after)
	}
	missing, problem := f.send(t, http.MethodPatch, "/v1/shipments/00000000-0000-0000-0000-000000000009", key, `{}`)
	checkProblem(t, missing.Code, missing.Header(), problem, 404, "not_found")
}

func TestEventsMetricsAndDelete(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	sh := createShipment(t, f, key, newShipment)
	path := "/v1/shipments/" + sh["id"].(string)

	post := func(body string) map[string]any {
		t.Helper()
		rec, ev := f.send(t, http.MethodPost, path+"/events", key, body)
		if rec.Code != 201 {
			t.Fatalf("event: %d %s", rec.Code, rec.Body)
		}
		return ev
	}
	status := func() map[string]any {
		_, s := f.send(t, http.MethodGet, path, key, "")
		return s
	}
	post(`{"status": "in_transit", "event_datetime": "2026-11-27T10:00:00Z"}`)
	if s := status(); s["status"] != "in_transit" {
		t.Errorf("status after the first event = %v", s["status"])
	}
	post(`{"status": "pre_transit", "event_datetime": "2026-11-26T10:00:00Z", "message": "late report of an old scan"}`)
	if s := status(); s["status"] != "in_transit" {
		t.Errorf("an older event moved the status to %v", s["status"])
	}
	post(`{"status": "delivered", "event_datetime": "2026-11-28T09:30:00.5+01:00", "tracking_location": {"city": "Paris"}}`)
	if s := status(); s["status"] != "delivered" || s["delivery_date"] != "2026-11-28T08:30:00.500000Z" {
		t.Errorf("after delivery: status %v delivery_date %v", s["status"], s["delivery_date"])
	}
	now := post(`{"status": "delivered"}`)
	if now["event_datetime"] == nil || now["event_datetime"] == "" {
		t.Errorf("event without a time got %v, want the database's now()", now["event_datetime"])
	}
	rec, body := f.send(t, http.MethodPost, path+"/events", key, `{"status": "teleported"}`)
	checkProblem(t, rec.Code, rec.Header(), body, 422, "validation_failed")

	_, evs := f.send(t, http.MethodGet, path+"/events", key, "")
	var order []string
	for _, e := range evs["events"].([]any) {
		order = append(order, e.(map[string]any)["status"].(string))
	}
	if want := []string{"pre_transit", "in_transit", "delivered", "delivered"}; !slices.Equal(order, want) {
		t.Errorf("events oldest first = %v, want %v", order, want)
	}
	_, page := f.send(t, http.MethodGet, path+"/events?page_size=2", key, "")
	if len(page["events"].([]any)) != 2 || page["has_more"] != true {
		t.Errorf("events page = %v", page)
	}
	// The next page by cursor: the rest, in order, with no further cursor.
	rec, next := f.send(t, http.MethodGet, path+"/events?page_size=2&cursor="+page["next_cursor"].(string), key, "")
	var rest []string
	for _, e := range next["events"].([]any) {
		rest = append(rest, e.(map[string]any)["status"].(string))
	}
	if rec.Code != 200 || !slices.Equal(rest, order[2:]) || next["has_more"] != false || next["next_cursor"] != nil {
		t.Errorf("events by cursor: %d %s, want %v and no next_cursor", rec.Code, rec.Body, order[2:])
	}
	// A list's cursor pointing the other way, an altered one and one beside
	// after_id are refused.
	own := status()
	createShipment(t, f, key, fmt.Sprintf(`{"from_address_id": %q, "to_address_id": %q}`, own["from_address_id"], own["to_address_id"]))
	_, shipments := f.send(t, http.MethodGet, "/v1/shipments?page_size=1", key, "")
	older := shipments["next_cursor"].(string)
	altered := []byte(page["next_cursor"].(string))
	altered[10] = map[bool]byte{true: 'B', false: 'A'}[altered[10] == 'A'] // a byte of the sort key changes
	for _, q := range []string{"cursor=" + older, "cursor=" + string(altered),
		"cursor=" + page["next_cursor"].(string) + "&after_id=" + page["events"].([]any)[1].(map[string]any)["id"].(string)} {
		rec, body := f.send(t, http.MethodGet, path+"/events?"+q, key, "")
		checkProblem(t, rec.Code, rec.Header(), body, 400, "bad_request")
	}

	rec, _ = f.send(t, http.MethodGet, path+"/metrics", key, "")
	if rec.Code != 404 {
		t.Errorf("metrics before PUT: %d", rec.Code)
	}
	rec, m := f.send(t, http.MethodPut, path+"/metrics", key, `{"base_rate": 10.99, "total_cost": 12.10, "tracking_updates_count": 3}`)
	if rec.Code != 201 || m["tracking_updates_count"] != float64(3) {
		t.Fatalf("first PUT: %d %s", rec.Code, rec.Body)
	}
	rec, m = f.send(t, http.MethodPut, path+"/metrics", key, `{"total_cost": 1.00}`)
	if rec.Code != 200 || m["base_rate"] != nil || m["tracking_updates_count"] != float64(0) || !strings.Contains(rec.Body.String(), `"total_cost":1.00`) {
		t.Errorf("replacing PUT: %d %s", rec.Code, rec.Body)
	}

	rec, _ = f.send(t, http.MethodDelete, path, key, "")
	if rec.Code != 204 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	for _, p := range []string{path, path + "/events", path + "/metrics"} {
		rec, body := f.send(t, http.MethodGet, p, key, "")
		checkProblem(t, rec.Code, rec.Header(), body, 404, "not_found")
	}
	var left int
	if err := f.store.DB().QueryRow(`SELECT (SELECT count(*) FROM shipment_events) + (SELECT count(*) FROM shipment_metrics)
		+ (SELECT count(*) FROM parcels) + (SELECT count(*) FROM customs_infos)`).Scan(&left); err != nil || left != 0 {
		t.Errorf("delete left %d events, metrics, parcels or customs infos (%v)", left, err)
	}
	rec, _ = f.send(t, http.MethodDelete, path, key, "")
	if rec.Code != 404 {
		t.Errorf("second delete: %d", rec.Code)
	}
}

// page walks a list with a cursor and returns every id seen, in order.
func walk(t *testing.T, f *fixture, key, base, plural, cursor string, startID string) ([]string, int) {
	t.Helper()
	var ids []string
	pages := 0
	next := startID
	for {
		url := base
		if next != "" {
			url += "&" + cursor + "=" + next
		}
		rec, body := f.send(t, http.MethodGet, url, key, "")
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d %s", url, rec.Code, rec.Body)
		}
		pages++
		items := body[plural].([]any)
		var pageIDs []string
		for _, it := range items {
			pageIDs = append(pageIDs, it.(map[string]any)["id"].(string))
		}
		if cursor == "after_id" {
			ids = append(pageIDs, ids...)
		} else {
			ids = append(ids, pageIDs...)
		}
		if body["has_more"] != true {
			return ids, pages
		}
		if cursor == "after_id" {
			next = pageIDs[0]
		} else {
			next = pageIDs[len(pageIDs)-1]
		}
	}
}

func TestListShipments(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	var created []string // oldest first
	for i := range 7 {
		status := []string{"delivered", "in_transit", "failure"}[i%3]
		body := fmt.Sprintf(`{"from_address": {"street1": "a", "city": "b", "zip": "c"}, "to_address": {"street1": "d", "city": "e", "zip": "f"},
			"status": %q, "carrier": %q, "reference": "ref-%d"}`, status, []string{"USPS", "UPS"}[i%2], i)
		created = append(created, createShipment(t, f, key, body)["id"].(string))
	}
	newestFirst := slices.Clone(created)
	slices.Reverse(newestFirst)

	ids, pages := walk(t, f, key, "/v1/shipments?page_size=3", "shipments", "before_id", "")
	if !slices.Equal(ids, newestFirst) || pages != 3 {
		t.Errorf("walking older: %v in %d pages, want %v in 3", ids, pages, newestFirst)
	}
	// Walking newer from the oldest: every id but the cursor, newest first.
	ids, _ = walk(t, f, key, "/v1/shipments?page_size=3", "shipments", "after_id", created[0])
	if !slices.Equal(ids, newestFirst[:6]) {
		t.Errorf("walking newer: %v, want %v", ids, newestFirst[:6])
	}

	count := func(query string) int {
		rec, body := f.send(t, http.MethodGet, "/v1/shipments?"+query, key, "")
		if rec.Code != 200 {
			t.Fatalf("GET ?%s: %d %s", query, rec.Code, rec.Body)
		}
		return len(body["shipments"].([]any))
	}
	for query, want := range map[string]int{
		"status=delivered": 3, "status=delivered,failure": 5, "carrier=UPS": 3, "reference=ref-4": 1,
		"mode=production": 0, "status=in_transit&carrier=UPS": 1, "tracking_code=none": 0, "service=x": 0,
		"start_datetime=2000-01-01T00:00:00Z": 7, "end_datetime=2000-01-01T00:00:00Z": 0,
	} {
		if got := count(query); got != want {
			t.Errorf("?%s: %d shipments, want %d", query, got, want)
		}
	}
	for _, query := range []string{"page_size=0", "page_size=101", "page_size=x", "status=lost", "colour=red",
		"before_id=nope", "before_id=00000000-0000-0000-0000-000000000001", "carrier=", "carrier=a&carrier=b",
		"start_datetime=yesterday", "mode=live", "carrier='%20OR%201=1--"} {
		rec, body := f.send(t, http.MethodGet, "/v1/shipments?"+query, key, "")
		if query == "carrier='%20OR%201=1--" {
			if rec.Code != 200 || len(body["shipments"].([]any)) != 0 {
				t.Errorf("?%s: %d %v; want 200 and no match (a plain value)", query, rec.Code, body)
			}
			continue
		}
		checkProblem(t, rec.Code, rec.Header(), body, 400, "bad_request")
	}
}

func TestMoneyIsExact(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	addr := createShipment(t, f, key, `{"from_address": {"street1": "a", "city": "b", "zip": "c"}, "to_address": {"street1": "d", "city": "e", "zip": "f"}, "total_cost": 0.10}`)
	body := fmt.Sprintf(`{"from_address_id": %q, "to_address_id": %q, "total_cost": 0.10}`, addr["from_address_id"], addr["to_address_id"])
	for range 999 {
		createShipment(t, f, key, body)
	}
	var cents int64
	ids, _ := walk(t, f, key, "/v1/shipments?page_size=100", "shipments", "before_id", "")
	if len(ids) != 1000 {
		t.Fatalf("listed %d shipments, want 1000", len(ids))
	}
	next := ""
	for {
		url := "/v1/shipments?page_size=100"
		if next != "" {
			url += "&before_id=" + next
		}
		rec, _ := f.send(t, http.MethodGet, url, key, "")
		var page struct {
			Shipments []struct {
				ID        string      `json:"id"`
				TotalCost json.Number `json:"total_cost"`
			} `json:"shipments"`
			HasMore bool `json:"has_more"`
		}
		dec := json.NewDecoder(strings.NewReader(rec.Body.String()))
		dec.UseNumber()
		if err := dec.Decode(&page); err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Shipments {
			m, err := models.ParseMoney(s.TotalCost.String())
			if err != nil || s.TotalCost.String() != "0.10" {
				t.Fatalf("total_cost %q (%v), want 0.10", s.TotalCost, err)
			}
			cents += int64(m)
		}
		if !page.HasMore {
			break
		}
		next = page.Shipments[len(page.Shipments)-1].ID
	}
	if got := models.Money(cents).String(); got != "100.00" {
		t.Errorf("sum = %s, want 100.00", got)
	}
	var sum string
	if err := f.store.DB().QueryRow(`SELECT sum(total_cost)::text FROM shipments`).Scan(&sum); err != nil || sum != "100.00" {
		t.Errorf("database sum = %s (%v), want 100.00", sum, err)
	}
}

func TestAddresses(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	rec, a := f.send(t, http.MethodPost, "/v1/addresses", key, `{"street1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701", "residential": true}`)
	if rec.Code != 201 || a["usage_count"] != float64(0) || a["country"] != "US" || a["residential"] != true {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	id := a["id"].(string)
	f.send(t, http.MethodPost, "/v1/addresses", key, `{"street1": "2 Rue", "city": "Paris", "zip": "75001", "country": "FR"}`)
	createShipment(t, f, key, fmt.Sprintf(`{"from_address_id": %q, "to_address": {"street1": "x", "city": "y", "zip": "z"}}`, id))

	for query, want := range map[string]int{"": 3, "?country=FR": 1, "?state=IL&city=Springfield": 1, "?city=Nowhere": 0} {
		rec, body := f.send(t, http.MethodGet, "/v1/addresses"+query, key, "")
		if rec.Code != 200 || len(body["addresses"].([]any)) != want {
			t.Errorf("list%s: %d %s; want %d addresses", query, rec.Code, rec.Body, want)
		}
	}
	get, _ := f.send(t, http.MethodGet, "/v1/addresses/"+id, key, "")
	rec, body := f.send(t, http.MethodPatch, "/v1/addresses/"+id, key, `{"city": "Shelbyville", "state": null}`, "If-Match", get.Header().Get("ETag"))
	if rec.Code != 200 || body["city"] != "Shelbyville" || body["state"] != nil || body["usage_count"] != float64(1) {
		t.Errorf("patch: %d %s", rec.Code, rec.Body)
	}
	rec, body = f.send(t, http.MethodPatch, "/v1/addresses/"+id, key, `{"street1": null}`)
	checkProblem(t, rec.Code, rec.Header(), body, 422, "validation_failed")
	rec, body = f.send(t, http.MethodPatch, "/v1/addresses/"+id, key, `{"city": "Capital City"}`, "If-Match", get.Header().Get("ETag"))
	checkProblem(t, rec.Code, rec.Header(), body, 412, "precondition_failed")
	rec, body = f.send(t, http.MethodDelete, "/v1/addresses/"+id, key, "")
	checkProblem(t, rec.Code, rec.Header(), body, 409, "conflict")
	rec, _ = f.send(t, http.MethodPost, "/v1/addresses", key, `{"street1": "1", "city": "2", "zip": "3", "easypost_id": "adr_1"}`)
	if rec.Code != 201 {
		t.Fatalf("create: %d", rec.Code)
	}
	rec, body = f.send(t, http.MethodPost, "/v1/addresses", key, `{"street1": "1", "city": "2", "zip": "3", "easypost_id": "adr_1"}`)
	checkProblem(t, rec.Code, rec.Header(), body, 409, "conflict")
	if !strings.Contains(body["detail"].(string), "easypost_id") || strings.Contains(body["detail"].(string), "adr_1") {
		t.Errorf("conflict detail = %q, want the field and not the value", body["detail"])
	}
}

// TestCreateDefaults: a property a create body leaves out takes the
// document's default (the column's); null is refused where the document
// does not allow it; a value given is kept even where it is Go's zero
// value and the default is not.
func TestCreateDefaults(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	sh := createShipment(t, f, key, `{"from_address": {"street1": "a", "city": "b", "zip": "c"}, "to_address": {"street1": "d", "city": "e", "zip": "f"},
		"parcel": {"weight": 1}, "customs_info": {}}`)
	customs, parcel := sh["customs_info"].(map[string]any), sh["parcel"].(map[string]any)
	for name, got := range map[string]any{
		"mode": sh["mode"], "status": sh["status"], "currency": sh["currency"],
		"from_address.country": sh["from_address"].(map[string]any)["country"], "to_address.country": sh["to_address"].(map[string]any)["country"],
		"parcel.mass_unit": parcel["mass_unit"], "parcel.distance_unit": parcel["distance_unit"],
		"customs_info.contents_type": customs["contents_type"], "customs_info.customs_certify": customs["customs_certify"],
		"customs_info.non_delivery_option": customs["non_delivery_option"], "customs_info.restriction_type": customs["restriction_type"],
	} {
		want := map[string]any{"mode": "test", "status": "unknown", "currency": "USD", "from_address.country": "US", "to_address.country": "US",
			"parcel.mass_unit": "oz", "parcel.distance_unit": "in", "customs_info.contents_type": "merchandise",
			"customs_info.customs_certify": true, "customs_info.non_delivery_option": "return", "customs_info.restriction_type": "none"}[name]
		if got != want {
			t.Errorf("%s = %v, want the default %v", name, got, want)
		}
	}

	sh = createShipment(t, f, key, `{"from_address": {"street1": "a", "city": "b", "zip": "c"}, "to_address": {"street1": "d", "city": "e", "zip": "f"},
		"customs_info": {"customs_certify": false}}`)
	if got := sh["customs_info"].(map[string]any)["customs_certify"]; got != false {
		t.Errorf("customs_certify sent as false is %v", got)
	}
	_, got := f.send(t, http.MethodGet, "/v1/shipments/"+sh["id"].(string), key, "")
	if got := got["customs_info"].(map[string]any)["customs_certify"]; got != false {
		t.Errorf("customs_certify sent as false is stored as %v", got)
	}
	rec, out := f.send(t, http.MethodPost, "/v1/shipments", key, `{"from_address": {"street1": "a", "city": "b", "zip": "c", "country": null},
		"to_address_id": "00000000-0000-0000-0000-000000000001", "mode": null, "reference": null}`)
	checkProblem(t, rec.Code, rec.Header(), out, 422, "validation_failed")
	if got := analyticsErrorFields(out); !slices.Equal(got, []string{"from_address.country", "mode"}) {
		t.Errorf("null where the document refuses it: fields %v, want from_address.country and mode", got)
	}

	rec, summary := f.send(t, http.MethodPost, "/v1/analytics/summaries", key, `{"date": "2026-11-01", "period": "daily"}`)
	if rec.Code != http.StatusCreated || summary["total_cost"] != 0.0 || summary["currency"] != "USD" || summary["total_shipments"] != 0.0 {
		t.Errorf("summary with defaults: %d %s", rec.Code, rec.Body)
	}
}
