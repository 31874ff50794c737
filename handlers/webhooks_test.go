package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/waybill/waybill/handlers"
	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

const webhookSecret = "whsec-current-0123456789"

// webhookFixture is the router with WEBHOOK_SECRET set to secrets.
func webhookFixture(t *testing.T, secrets ...string) *fixture {
	t.Helper()
	store := openStore(t, testdb.New(t), models.PoolOptions{MaxOpenConns: 8, MaxIdleConns: 8})
	return fixtureOf(store, func(o *handlers.Options) { o.WebhookSecrets = secrets })
}

// detail is one EasyPost tracking detail.
type detail struct{ at, status, msg string }

// trackerUpdated is an EasyPost tracker.updated event, shaped as EasyPost's
// public documentation shows it, fields Waybill ignores included.
func trackerUpdated(eventID, code, carrier, est string, details ...detail) string {
	tds := []map[string]any{}
	for _, d := range details {
		tds = append(tds, map[string]any{
			"object": "TrackingDetail", "message": d.msg, "description": "", "status": d.status,
			"status_detail": "arrived_at_facility", "datetime": d.at, "source": carrier, "carrier_code": "",
			"tracking_location": map[string]any{"object": "TrackingLocation", "city": "CHICAGO", "state": "IL",
				"country": nil, "zip": "60601"},
		})
	}
	status := "unknown"
	if len(details) > 0 {
		status = details[len(details)-1].status
	}
	ev := map[string]any{
		"object": "Event", "id": eventID, "mode": "test", "description": "tracker.updated",
		"created_at": "2026-11-28T17:40:00Z", "updated_at": "2026-11-28T17:40:00Z",
		"previous_attributes": map[string]any{"status": "pre_transit"}, "pending_urls": []string{},
		"completed_urls": []string{}, "user_id": "user_060ab38db3c04ffaa60f262e5781a9be", "status": "pending",
		"result": map[string]any{
			"object": "Tracker", "id": "trk_c8e0edb5bb284caa934a0d3db23a148z", "mode": "test",
			"tracking_code": code, "status": status, "status_detail": "arrived_at_facility",
			"created_at": "2026-11-27T10:00:00Z", "updated_at": "2026-11-28T17:40:00Z", "signed_by": nil,
			"weight": nil, "est_delivery_date": est, "shipment_id": "shp_1", "carrier": carrier,
			"tracking_details": tds, "carrier_detail": nil, "finalized": false, "is_return": false,
			"public_url": "https://track.easypost.com/djE6dHJrX2M4ZTA", "fees": []any{},
		},
	}
	b, _ := json.Marshal(ev)
	return string(b)
}

// webhook posts body signed with secret ("" for no signature).
func (f *fixture) webhook(t *testing.T, secret, body string, headers ...string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	if secret != "" {
		headers = append([]string{handlers.SignatureHeader, handlers.Sign(secret, []byte(body))}, headers...)
	}
	return f.send(t, http.MethodPost, "/v1/webhooks/easypost", "", body, headers...)
}

// tracker returns GET /v1/trackers/{code}'s status and body.
func (f *fixture) tracker(t *testing.T, key, code string) (int, map[string]any) {
	t.Helper()
	status, _, body := f.do(t, http.MethodGet, "/v1/trackers/"+code, key)
	return status, body
}

// deliveries returns every stored webhook delivery.
func (f *fixture) deliveries(t *testing.T) []models.WebhookDelivery {
	t.Helper()
	ds, err := f.store.WebhookDeliveries(context.Background(), 1000, time.Time{}, "")
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func trackedShipment(code, carrier string) string {
	return strings.Replace(newShipment, `"reference": "order-1",`,
		fmt.Sprintf(`"reference": "order-1", "tracking_code": %q,`, code), 1)
}

var (
	preTransit = detail{"2026-11-27T10:00:00Z", "pre_transit", "Pre-Shipment Info Sent to USPS"}
	accepted   = detail{"2026-11-27T18:30:00Z", "in_transit", "Accepted at USPS Origin Facility"}
	arrived    = detail{"2026-11-28T02:10:00Z", "in_transit", "Arrived at USPS Regional Facility"}
	outFor     = detail{"2026-11-28T08:00:00Z", "out_for_delivery", "Out for Delivery"}
	delivered  = detail{"2026-11-28T17:39:55Z", "delivered", "Delivered, In/At Mailbox"}
)

func TestWebhookTrackerUpdated(t *testing.T) {
	f := webhookFixture(t, webhookSecret)
	_, key := f.key(t, models.ScopeWrite)
	_, readKey := f.key(t, models.ScopeRead)
	const code = "9400111899223197428490"
	sh := createShipment(t, f, key, trackedShipment(code, "USPS"))

	rec, body := f.webhook(t, webhookSecret, trackerUpdated("evt_1", code, "USPS", "2026-11-29T00:00:00Z", preTransit, accepted))
	if rec.Code != 200 || body["outcome"] != "applied" || body["events_added"] != 2.0 {
		t.Fatalf("first delivery: %d %s", rec.Code, rec.Body)
	}
	status, tr := f.tracker(t, readKey, code)
	if status != 200 || tr["status"] != "in_transit" || tr["shipment_id"] != sh["id"] ||
		tr["est_delivery_date"] != "2026-11-29T00:00:00.000000Z" || tr["delivery_date"] != nil {
		t.Fatalf("tracker after the first delivery: %d %v", status, tr)
	}

	// EasyPost sends the whole history every time: only the new detail is new.
	all := []detail{preTransit, accepted, arrived, outFor, delivered}
	rec, body = f.webhook(t, webhookSecret, trackerUpdated("evt_2", code, "usps", "2026-11-29T00:00:00Z", all...))
	if rec.Code != 200 || body["outcome"] != "applied" || body["events_added"] != 3.0 {
		t.Fatalf("second delivery: %d %s", rec.Code, rec.Body)
	}
	_, tr = f.tracker(t, readKey, code)
	if tr["status"] != "delivered" || tr["delivery_date"] != "2026-11-28T17:39:55.000000Z" {
		t.Errorf("after delivery: status %v, delivery_date %v", tr["status"], tr["delivery_date"])
	}
	evs := tr["events"].([]any)
	var got []string
	for _, e := range evs {
		e := e.(map[string]any)
		got = append(got, e["status"].(string)+" "+e["message"].(string))
		if e["carrier_status"] != "arrived_at_facility" || e["tracking_location"].(map[string]any)["city"] != "CHICAGO" {
			t.Errorf("event %v: carrier_status or tracking_location lost", e)
		}
	}
	var want []string
	for _, d := range all {
		want = append(want, d.status+" "+d.msg)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events, oldest first (-want +got):\n%s", diff)
	}

	// A new event with nothing new changes nothing.
	rec, body = f.webhook(t, webhookSecret, trackerUpdated("evt_3", code, "USPS", "2026-11-29T00:00:00Z", all...))
	if rec.Code != 200 || body["outcome"] != "no_change" || body["events_added"] != 0.0 {
		t.Errorf("third delivery: %d %s", rec.Code, rec.Body)
	}
	// The same event again is refused and writes nothing.
	before := f.deliveries(t)
	rec, body = f.webhook(t, webhookSecret, trackerUpdated("evt_2", code, "USPS", "2026-11-29T00:00:00Z", all...))
	checkProblem(t, rec.Code, rec.Header(), body, 409, "conflict")
	if after := f.deliveries(t); len(after) != len(before) {
		t.Errorf("a replayed event stored a delivery: %d, then %d", len(before), len(after))
	}
	_, tr2 := f.tracker(t, readKey, code)
	if diff := cmp.Diff(tr, tr2); diff != "" {
		t.Errorf("the duplicate deliveries changed the tracker (-before +after):\n%s", diff)
	}
	ds := f.deliveries(t)
	if len(ds) != 3 || ds[0].EventID != "evt_3" || ds[0].Outcome != models.WebhookNoChange ||
		ds[2].Outcome != models.WebhookApplied || ds[2].EventsAdded != 2 {
		t.Errorf("stored deliveries: %+v", ds)
	}
	// The audit trail has one row per stored delivery, without an API key.
	action := "webhook_delivery.receive"
	acts, _, err := f.store.Activities(context.Background(), models.ActivityFilter{Page: models.Page{Size: 100}, Action: &action})
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 3 || acts[0].APIKeyID != nil || acts[0].ResourceID == nil || *acts[0].ResourceID != ds[0].ID.String() ||
		acts[0].Endpoint != "/v1/webhooks/easypost" {
		t.Errorf("audit trail of the webhooks: %+v", acts)
	}
}

// TestWebhookOutOfOrder delivers the same three events to two shipments,
// in order and backwards: both end in the same state.
func TestWebhookOutOfOrder(t *testing.T) {
	f := webhookFixture(t, webhookSecret)
	_, key := f.key(t, models.ScopeWrite)
	createShipment(t, f, key, trackedShipment("EZ1000000001", "USPS"))
	createShipment(t, f, key, trackedShipment("EZ1000000002", "USPS"))
	deliveries := [][]detail{{preTransit}, {preTransit, accepted, arrived}, {preTransit, accepted, arrived, outFor, delivered}}
	ests := []string{"2026-12-03T00:00:00Z", "2026-12-02T00:00:00Z", "2026-11-29T00:00:00Z"}
	send := func(code string, i int) {
		t.Helper()
		rec, _ := f.webhook(t, webhookSecret, trackerUpdated(fmt.Sprintf("evt_%s_%d", code, i), code, "USPS", ests[i], deliveries[i]...))
		if rec.Code != 200 {
			t.Fatalf("%s %d: %d %s", code, i, rec.Code, rec.Body)
		}
	}
	for i := range deliveries {
		send("EZ1000000001", i)
	}
	for i := len(deliveries) - 1; i >= 0; i-- {
		send("EZ1000000002", i)
	}
	state := func(code string) map[string]any {
		_, tr := f.tracker(t, key, code)
		for _, e := range tr["events"].([]any) {
			e := e.(map[string]any)
			delete(e, "id")
			delete(e, "shipment_id")
			delete(e, "created_at")
		}
		delete(tr, "shipment_id")
		delete(tr, "tracking_code")
		return tr
	}
	inOrder, backwards := state("EZ1000000001"), state("EZ1000000002")
	if diff := cmp.Diff(inOrder, backwards); diff != "" {
		t.Errorf("in order and backwards differ (-in order +backwards):\n%s", diff)
	}
	if inOrder["status"] != "delivered" || inOrder["est_delivery_date"] != "2026-11-29T00:00:00.000000Z" ||
		len(inOrder["events"].([]any)) != 5 {
		t.Errorf("end state: %v", inOrder)
	}
}

// TestWebhookBadInput sends what must be refused: each is a 4xx problem
// and leaves no delivery, no event and the shipment's status as it was.
func TestWebhookBadInput(t *testing.T) {
	f := webhookFixture(t, webhookSecret)
	_, key := f.key(t, models.ScopeWrite)
	const code = "EZ2000000001"
	createShipment(t, f, key, trackedShipment(code, "USPS"))
	good := trackerUpdated("evt_ok", code, "USPS", "", preTransit)
	if rec, _ := f.webhook(t, webhookSecret, good); rec.Code != 200 {
		t.Fatalf("a good delivery: %d %s", rec.Code, rec.Body)
	}
	next := trackerUpdated("evt_next", code, "USPS", "", preTransit, delivered)
	huge := `{"id": "evt_huge", "description": "tracker.updated", "pad": "` + strings.Repeat("x", 1<<20) + `"}`
	badTime := trackerUpdated("evt_time", code, "USPS", "", detail{"yesterday", "delivered", "Delivered"})
	badStatus := trackerUpdated("evt_status", code, "USPS", "", detail{"2026-11-28T17:39:55Z", "teleported", "Beamed"})
	for _, tc := range []struct {
		name         string
		body, header string
		contentType  string
		status       int
		code         string
	}{
		{"unsigned", next, "", "", 401, "unauthorized"},
		{"signed with another secret", next, handlers.Sign("not-the-secret", []byte(next)), "", 401, "unauthorized"},
		{"signature of another body", next, handlers.Sign(webhookSecret, []byte(good)), "", 401, "unauthorized"},
		{"no prefix", next, strings.TrimPrefix(handlers.Sign(webhookSecret, []byte(next)), "hmac-sha256-hex="), "", 401, "unauthorized"},
		{"sha1 length", next, "hmac-sha256-hex=" + strings.Repeat("ab", 20), "", 401, "unauthorized"},
		{"not hex", next, "hmac-sha256-hex=" + strings.Repeat("zz", 32), "", 401, "unauthorized"},
		{"replayed", good, handlers.Sign(webhookSecret, []byte(good)), "", 409, "conflict"},
		{"malformed JSON", `{"id": "evt_x", "description": "tracker.updated"`, "sign", "", 400, "bad_request"},
		{"a JSON array", `[{"id": "evt_x"}]`, "sign", "", 400, "bad_request"},
		{"no id", `{"object": "Event", "description": "tracker.updated"}`, "sign", "", 422, "validation_failed"},
		{"id of the wrong type", `{"id": 7, "description": "tracker.updated"}`, "sign", "", 422, "validation_failed"},
		{"result of the wrong type", `{"id": "evt_r", "description": "tracker.updated", "result": "trk"}`, "sign", "", 422, "validation_failed"},
		{"a datetime that is not one", badTime, "sign", "", 422, "validation_failed"},
		{"an unknown status", badStatus, "sign", "", 422, "validation_failed"},
		{"a NUL in a message", strings.Replace(next, "Delivered, In/At Mailbox", `Deliv\u0000ered`, 1), "sign", "", 422, "validation_failed"},
		{"not UTF-8", strings.Replace(next, "In/At Mailbox", "In/At \xff\xfe Mailbox", 1), "sign", "", 400, "bad_request"},
		{"not UTF-8 in a field not read", strings.Replace(next, `"mode":"test"`, `"mode":"t\xffst"`, 1), "sign", "", 400, "bad_request"},
		{"not JSON", next, "sign", "text/plain", 415, "unsupported_media"},
		{"huge", huge, "sign", "", 413, "payload_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.deliveries(t)
			_, trBefore := f.tracker(t, key, code)
			header := tc.header
			if header == "sign" {
				header = handlers.Sign(webhookSecret, []byte(tc.body))
			}
			var headers []string
			if header != "" {
				headers = append(headers, handlers.SignatureHeader, header)
			}
			if tc.contentType != "" {
				headers = append(headers, "Content-Type", tc.contentType)
			}
			rec, body := f.webhook(t, "", tc.body, headers...)
			checkProblem(t, rec.Code, rec.Header(), body, tc.status, tc.code)
			if tc.status == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if after := f.deliveries(t); len(after) != len(before) {
				t.Errorf("deliveries: %d before, %d after", len(before), len(after))
			}
			_, trAfter := f.tracker(t, key, code)
			if diff := cmp.Diff(trBefore, trAfter); diff != "" {
				t.Errorf("the tracker changed (-before +after):\n%s", diff)
			}
		})
	}
	if strings.Contains(f.logs.String(), webhookSecret) {
		t.Error("the log holds the webhook secret")
	}
}

// TestWebhookUnknownAndReplay: an unknown event type and an unknown
// tracking code are acknowledged and stored; once the shipment exists,
// replaying the stored delivery applies it, and replaying again changes
// nothing.
func TestWebhookUnknownAndReplay(t *testing.T) {
	f := webhookFixture(t, webhookSecret)
	_, key := f.key(t, models.ScopeWrite)
	other := `{"object": "Event", "id": "evt_batch", "description": "batch.created", "result": {"object": "Batch"}}`
	rec, body := f.webhook(t, webhookSecret, other)
	if rec.Code != 200 || body["outcome"] != "unknown_event" {
		t.Errorf("batch.created: %d %s", rec.Code, rec.Body)
	}
	const code = "EZ3000000001"
	rec, body = f.webhook(t, webhookSecret, trackerUpdated("evt_early", code, "USPS", "", preTransit, accepted))
	if rec.Code != 200 || body["outcome"] != "unknown_tracker" || body["events_added"] != 0.0 {
		t.Fatalf("unknown tracking code: %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(f.logs.String(), `"outcome":"unknown_tracker"`) || !strings.Contains(f.logs.String(), `"outcome":"unknown_event"`) {
		t.Errorf("the log does not show the unapplied webhooks: %s", f.logs)
	}
	if status, _ := f.tracker(t, key, code); status != 404 {
		t.Errorf("tracker of an unknown code: %d, want 404", status)
	}

	createShipment(t, f, key, trackedShipment(code, "USPS"))
	ctx := context.Background()
	d, err := f.store.ReplayWebhook(ctx, body["id"].(string))
	if err != nil || d.Outcome != models.WebhookApplied || d.EventsAdded != 2 || d.ReplayCount != 1 || d.ReplayedAt == nil {
		t.Fatalf("replay: %+v, %v", d, err)
	}
	_, tr := f.tracker(t, key, code)
	if tr["status"] != "in_transit" || len(tr["events"].([]any)) != 2 {
		t.Errorf("after the replay: %v", tr)
	}
	d, err = f.store.ReplayWebhook(ctx, "evt_early") // by event id
	if err != nil || d.Outcome != models.WebhookNoChange || d.EventsAdded != 2 || d.ReplayCount != 2 {
		t.Errorf("second replay: %+v, %v", d, err)
	}
	if _, err := f.store.ReplayWebhook(ctx, "evt_none"); err == nil {
		t.Error("replaying an unknown delivery: no error")
	}
}

func TestWebhookSecretRotation(t *testing.T) {
	f := webhookFixture(t, "whsec-new-secret", "whsec-old-secret")
	for i, secret := range []string{"whsec-new-secret", "whsec-old-secret"} {
		rec, _ := f.webhook(t, secret, fmt.Sprintf(`{"id": "evt_%d", "description": "batch.updated"}`, i))
		if rec.Code != 200 {
			t.Errorf("signed with %s: %d %s", secret, rec.Code, rec.Body)
		}
	}
	rec, body := f.webhook(t, "whsec-retired", `{"id": "evt_9", "description": "batch.updated"}`)
	checkProblem(t, rec.Code, rec.Header(), body, 401, "unauthorized")

	off := webhookFixture(t)
	rec, body = off.webhook(t, "anything", `{"id": "evt_1", "description": "batch.updated"}`)
	checkProblem(t, rec.Code, rec.Header(), body, 401, "unauthorized")
	if !strings.Contains(body["detail"].(string), "WEBHOOK_SECRET") {
		t.Errorf("detail %q does not say webhooks are off", body["detail"])
	}
}

// TestWebhookConcurrentDuplicates sends one event eight times at once:
// one is applied, the others are 409, and the events are recorded once.
func TestWebhookConcurrentDuplicates(t *testing.T) {
	f := webhookFixture(t, webhookSecret)
	_, key := f.key(t, models.ScopeWrite)
	const code = "EZ4000000001"
	createShipment(t, f, key, trackedShipment(code, "USPS"))
	payload := trackerUpdated("evt_once", code, "USPS", "", preTransit, accepted, arrived)
	var wg sync.WaitGroup
	codes := make(chan int, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest(http.MethodPost, "/v1/webhooks/easypost", strings.NewReader(payload))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(handlers.SignatureHeader, handlers.Sign(webhookSecret, []byte(payload)))
			rec := httptest.NewRecorder()
			f.e.ServeHTTP(rec, req)
			codes <- rec.Code
		}()
	}
	wg.Wait()
	close(codes)
	n := map[int]int{}
	for c := range codes {
		n[c]++
	}
	if n[200] != 1 || n[409] != 7 {
		t.Errorf("answers: %v, want one 200 and seven 409", n)
	}
	if _, tr := f.tracker(t, key, code); len(tr["events"].([]any)) != 3 {
		t.Errorf("events: %d, want 3", len(tr["events"].([]any)))
	}
}

func TestTrackerLookup(t *testing.T) {
	f := webhookFixture(t, webhookSecret)
	_, key := f.key(t, models.ScopeWrite)
	_, readKey := f.key(t, models.ScopeRead)
	sh := createShipment(t, f, key, trackedShipment("EZ 5000/1", "USPS"))
	status, tr := f.tracker(t, readKey, "EZ%205000%2F1")
	if status != 200 || tr["shipment_id"] != sh["id"] || tr["tracking_code"] != "EZ 5000/1" ||
		tr["carrier"] != "USPS" || tr["status"] != "unknown" || len(tr["events"].([]any)) != 0 {
		t.Errorf("tracker: %d %v", status, tr)
	}
	if status, _, body := f.do(t, http.MethodGet, "/v1/trackers/EZ%205000%2F1?carrier=usps", readKey); status != 200 {
		t.Errorf("with its carrier: %d %v", status, body)
	}
	status, h, body := f.do(t, http.MethodGet, "/v1/trackers/EZ%205000%2F1?carrier=UPS", readKey)
	checkProblem(t, status, h, body, 404, "not_found")
	status, h, body = f.do(t, http.MethodGet, "/v1/trackers/nothing-has-this", readKey)
	checkProblem(t, status, h, body, 404, "not_found")
	status, h, body = f.do(t, http.MethodGet, "/v1/trackers/"+strings.Repeat("9", 101), readKey)
	checkProblem(t, status, h, body, 400, "bad_request")
	status, h, body = f.do(t, http.MethodGet, "/v1/trackers/EZ1?colour=red", readKey)
	checkProblem(t, status, h, body, 400, "bad_request")
	status, h, body = f.do(t, http.MethodGet, "/v1/trackers/EZ1", "")
	checkProblem(t, status, h, body, 401, "unauthorized")
}

// BenchmarkWebhookTrackerUpdated sends signed tracker.updated deliveries
// of five new tracking details each, to one shipment, through the router:
// go test ./handlers -run '^$' -bench BenchmarkWebhookTrackerUpdated
func BenchmarkWebhookTrackerUpdated(b *testing.B) {
	store, err := models.Open(testdb.New(b), models.PoolOptions{MaxOpenConns: 4, MaxIdleConns: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	f := fixtureOf(store, func(o *handlers.Options) { o.WebhookSecrets = []string{webhookSecret} })
	const code = "EZBENCH0001"
	tc := code
	if _, err := store.CreateShipment(context.Background(), &models.Shipment{TrackingCode: &tc, Status: "unknown", Mode: "test", Currency: "USD",
		FromAddress: &models.Address{Street1: "1 Main St", City: "Springfield", Zip: "62701", Country: "US"},
		ToAddress:   &models.Address{Street1: "2 Side St", City: "Portland", Zip: "97201", Country: "US"}}); err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	payloads := make([]string, b.N)
	for i := range payloads {
		var ds []detail
		for j := range 5 {
			at := start.Add(time.Duration(i*5+j) * time.Second).Format(time.RFC3339)
			ds = append(ds, detail{at, "in_transit", fmt.Sprintf("Scan %d", i*5+j)})
		}
		payloads[i] = trackerUpdated(fmt.Sprintf("evt_bench_%d", i), code, "USPS", "", ds...)
	}
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest(http.MethodPost, "/v1/webhooks/easypost", strings.NewReader(payloads[i]))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(handlers.SignatureHeader, handlers.Sign(webhookSecret, []byte(payloads[i])))
		rec := httptest.NewRecorder()
		f.e.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}
