package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/waybill/waybill/handlers"
	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

// newProxiedFixture is a fixture whose store reaches the database through
// a testdb.Proxy, and which trusts a verified API key for a minute, so
// requests get past authentication while the database is gone.
func newProxiedFixture(t *testing.T) (*fixture, *testdb.Proxy) {
	t.Helper()
	proxy, dsn := testdb.NewProxy(t, testdb.New(t))
	s, err := models.Open(dsn, models.PoolOptions{MaxOpenConns: 4, MaxIdleConns: 4, ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := &fixture{store: s, logs: &strings.Builder{}}
	log := logrus.New()
	log.SetOutput(f.logs)
	log.SetFormatter(&logrus.JSONFormatter{})
	f.e = handlers.New(handlers.Options{
		Store: s, Log: log, RequestTimeout: 5 * time.Second, BodyLimit: 1 << 20, AuthCacheTTL: time.Minute,
		Draining: func() bool { return false },
	})
	return f, proxy
}

// TestDatabaseGoneIs503Everywhere: with the database unreachable, every
// /v1 route answers 503 with Retry-After (or a 4xx its input earns before
// any query), never 500; the write routes with valid bodies answer 503.
func TestDatabaseGoneIs503Everywhere(t *testing.T) {
	f, proxy := newProxiedFixture(t)
	_, key := f.key(t, models.ScopeWrite)
	rec, sh := f.send(t, http.MethodPost, "/v1/shipments", key, minimalShipment)
	if rec.Code != 201 {
		t.Fatalf("create: %d %v", rec.Code, sh)
	}
	id := sh["id"].(string)
	proxy.Cut()

	writes := []struct{ method, path, body string }{
		{http.MethodPost, "/v1/shipments", minimalShipment},
		{http.MethodPatch, "/v1/shipments/" + id, `{"reference": "r"}`},
		{http.MethodDelete, "/v1/shipments/" + id, ""},
		{http.MethodPost, "/v1/shipments/" + id + "/events", `{"status": "in_transit"}`},
		{http.MethodPut, "/v1/shipments/" + id + "/metrics", `{}`},
		{http.MethodPost, "/v1/addresses", `{"street1": "a", "city": "b", "zip": "c"}`},
		{http.MethodGet, "/v1/shipments/" + id, ""},
	}
	for _, w := range writes {
		for _, idem := range []string{"", "key-" + w.method + w.path} {
			var headers []string
			if idem != "" && w.method == http.MethodPost {
				headers = []string{"Idempotency-Key", idem}
			}
			rec, body := f.send(t, w.method, w.path, key, w.body, headers...)
			checkProblem(t, rec.Code, rec.Header(), body, 503, "database_unavailable")
			if rec.Header().Get("Retry-After") == "" {
				t.Errorf("%s %s: 503 without Retry-After", w.method, w.path)
			}
		}
	}
	for _, r := range f.e.Routes() {
		if !strings.HasPrefix(r.Path, "/v1/") {
			continue
		}
		path := strings.ReplaceAll(r.Path, ":id", id)
		body := ""
		if r.Method != http.MethodGet && r.Method != http.MethodDelete {
			body = `{}`
		}
		rec, _ := f.send(t, r.Method, path, key, body)
		if rec.Code >= 500 && rec.Code != 503 || rec.Code == 503 && rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s %s with the database gone: %d (Retry-After %q), want 503 with Retry-After or a 4xx",
				r.Method, path, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
	if strings.Contains(f.logs.String(), "internal error") {
		t.Errorf("an outage was logged as an internal error:\n%s", f.logs)
	}

	proxy.Restore()
	if rec, body := f.send(t, http.MethodGet, "/v1/shipments/"+id, key, ""); rec.Code != 200 {
		t.Errorf("after the database is back: %d %v", rec.Code, body)
	}
}

// TestCommitLostIsOutcomeUnknown: a create whose COMMIT is lost on the wire
// after the server committed answers 503 outcome_unknown, which never
// claims that nothing changed; the retry with the same key replays the
// committed shipment instead of creating a second.
func TestCommitLostIsOutcomeUnknown(t *testing.T) {
	f, proxy := newProxiedFixture(t)
	_, key := f.key(t, models.ScopeWrite)
	for _, idem := range []string{"", "order-9"} {
		var headers []string
		if idem != "" {
			headers = []string{"Idempotency-Key", idem}
		}
		proxy.FailNextCommit(testdb.CommitLostAfter)
		rec, body := f.send(t, http.MethodPost, "/v1/shipments", key, minimalShipment, headers...)
		checkProblem(t, rec.Code, rec.Header(), body, 503, "outcome_unknown")
		if detail, _ := body["detail"].(string); strings.Contains(strings.ToLower(detail), "nothing was changed") ||
			!strings.Contains(detail, "may have been applied") || rec.Header().Get("Retry-After") == "" {
			t.Errorf("outcome unknown: detail %q, Retry-After %q", detail, rec.Header().Get("Retry-After"))
		}
	}
	if n := countShipments(t, f); n != 2 {
		t.Fatalf("%d shipments after two lost COMMITs that reached the server, want 2", n)
	}
	rec, body := f.send(t, http.MethodPost, "/v1/shipments", key, minimalShipment, "Idempotency-Key", "order-9")
	if rec.Code != 201 || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry with the key: %d %v, replayed %q; want the committed shipment replayed", rec.Code, body, rec.Header().Get("Idempotent-Replayed"))
	}
	if n := countShipments(t, f); n != 2 {
		t.Errorf("%d shipments after the retry, want still 2", n)
	}
}

// TestClientGoneIs499: a request whose client hangs up is logged at info
// and counted with status 499, never as a 500 or an internal error.
func TestClientGoneIs499(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	// Hold the shipments table so the create waits, then hang up.
	tx, err := f.store.DB().Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`LOCK TABLE shipments IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	for _, idem := range []string{"", "gone-1"} {
		ctx, cancel := context.WithCancel(context.Background())
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v1/shipments", strings.NewReader(minimalShipment))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		time.AfterFunc(200*time.Millisecond, cancel)
		rec := httptest.NewRecorder()
		f.e.ServeHTTP(rec, req)
		if rec.Code != 499 {
			t.Errorf("Idempotency-Key %q: client gone answered %d, want 499", idem, rec.Code)
		}
	}
	tx.Rollback()
	logs := f.logs.String()
	if strings.Contains(logs, "internal error") || strings.Contains(logs, `"level":"error"`) {
		t.Errorf("a client that hung up was logged as an error:\n%s", logs)
	}
	if !strings.Contains(logs, `"status":499`) {
		t.Errorf("no request logged with status 499:\n%s", logs)
	}
	rec := httptest.NewRecorder()
	f.e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	want := fmt.Sprintf(`waybill_http_requests_total{method="POST",route="/v1/shipments",status="%d"} 2`, 499)
	if !strings.Contains(rec.Body.String(), want) {
		t.Errorf("/metrics lacks %s", want)
	}
	if n := countShipments(t, f); n != 0 {
		t.Errorf("%d shipments from requests whose client left, want 0", n)
	}
}
