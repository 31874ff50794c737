package handlers_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/waybill/waybill/models"
)

const minimalShipment = `{"from_address": {"street1": "a", "city": "b", "zip": "c"}, "to_address": {"street1": "d", "city": "e", "zip": "f"}}`

func countShipments(t *testing.T, f *fixture) int {
	t.Helper()
	var n int
	if err := f.store.DB().QueryRow(`SELECT count(*) FROM shipments`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestIdempotencyKey(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	_, otherKey := f.key(t, models.ScopeWrite)
	post := func(apiKey, idem, body string) (int, map[string]any, http.Header) {
		rec, out := f.send(t, http.MethodPost, "/v1/shipments", apiKey, body, "Idempotency-Key", idem)
		return rec.Code, out, rec.Header()
	}

	code, first, _ := post(key, "order-1", minimalShipment)
	if code != 201 {
		t.Fatalf("first: %d %v", code, first)
	}
	code, again, h := post(key, "order-1", minimalShipment)
	if code != 201 || again["id"] != first["id"] || h.Get("Idempotent-Replayed") != "true" ||
		h.Get("Location") != "/v1/shipments/"+first["id"].(string) || h.Get("ETag") == "" {
		t.Errorf("retry: %d %v %v, want the first response replayed", code, again, h)
	}
	code, out, h := post(key, "order-1", strings.Replace(minimalShipment, `"a"`, `"z"`, 1))
	checkProblem(t, code, h, out, 422, "idempotency_key_reused")

	// Scoped to the API key: another key's "order-1" is another request.
	if code, out, _ := post(otherKey, "order-1", minimalShipment); code != 201 || out["id"] == first["id"] {
		t.Errorf("other API key: %d %v, want a new shipment", code, out)
	}
	// A validation failure is not stored: the corrected request runs.
	code, out, h = post(key, "order-2", `{}`)
	checkProblem(t, code, h, out, 422, "validation_failed")
	if code, _, h := post(key, "order-2", minimalShipment); code != 201 || h.Get("Idempotent-Replayed") != "" {
		t.Errorf("corrected retry: %d, replayed %q; want a fresh 201", code, h.Get("Idempotent-Replayed"))
	}
	// After 24 hours the key is free again.
	if _, err := f.store.DB().Exec(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'order-1'`); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := post(key, "order-1", strings.Replace(minimalShipment, `"a"`, `"z"`, 1)); code != 201 || out["id"] == first["id"] {
		t.Errorf("expired key: %d %v, want a new shipment", code, out)
	}
	code, out, h = post(key, strings.Repeat("k", 256), minimalShipment)
	checkProblem(t, code, h, out, 400, "bad_request")
	code, out, h = post(key, "tab\there", minimalShipment)
	checkProblem(t, code, h, out, 400, "bad_request")

	if n := countShipments(t, f); n != 4 {
		t.Errorf("%d shipments, want 4", n)
	}
}

// TestIdempotencyUnderConcurrentRetries sends 100 POSTs with one key at
// once: exactly one shipment is created; every other answer is its replay
// or 409 while it runs.
func TestIdempotencyUnderConcurrentRetries(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[int]int{}
		ids   = map[any]bool{}
	)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, out := f.send(t, http.MethodPost, "/v1/shipments", key, minimalShipment, "Idempotency-Key", "burst")
			mu.Lock()
			defer mu.Unlock()
			codes[rec.Code]++
			if rec.Code == 201 {
				ids[out["id"]] = true
			}
		}()
	}
	wg.Wait()
	if codes[201]+codes[409] != 100 || codes[201] == 0 || len(ids) != 1 {
		t.Errorf("answers %v, distinct ids %d; want only 201 (one id) and 409", codes, len(ids))
	}
	if n := countShipments(t, f); n != 1 {
		t.Errorf("%d shipments created, want exactly 1", n)
	}
	t.Logf("answers: %v", codes)
}
