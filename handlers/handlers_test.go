package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"

	"github.com/waybill/waybill/handlers"
	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

type fixture struct {
	e     *echo.Echo
	store *models.Store
	logs  *strings.Builder
}

func newFixture(t *testing.T, withDB bool) *fixture {
	t.Helper()
	if !withDB {
		return fixtureOf(nil)
	}
	return fixtureOf(openStore(t, testdb.New(t), models.PoolOptions{MaxOpenConns: 4, MaxIdleConns: 4}))
}

// openStore opens a store on dsn, closed when t ends.
func openStore(t *testing.T, dsn string, o models.PoolOptions) *models.Store {
	t.Helper()
	s, err := models.Open(dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fixtureOf is the router over store (nil: no database); each of edits
// changes its options first.
func fixtureOf(store *models.Store, edits ...func(*handlers.Options)) *fixture {
	f := &fixture{logs: &strings.Builder{}, store: store}
	log := logrus.New()
	log.SetOutput(f.logs)
	log.SetFormatter(&logrus.JSONFormatter{})
	o := handlers.Options{
		Store: f.store, Log: log, RequestTimeout: 5 * time.Second, BodyLimit: 1 << 20,
		Draining: func() bool { return false },
	}
	for _, edit := range edits {
		edit(&o)
	}
	f.e = handlers.New(o)
	return f
}

func (f *fixture) do(t *testing.T, method, path, key string) (int, http.Header, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	f.e.ServeHTTP(rec, req)
	handlers.CheckAgainstSpec(t, req, nil, rec)
	raw, _ := io.ReadAll(rec.Body)
	var body map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
		}
	}
	return rec.Code, rec.Header(), body
}

// send makes a request with a JSON body (Content-Type application/json
// unless headers say otherwise; headers are name, value pairs) and returns
// the recorder and the decoded JSON object body (nil if none).
func (f *fixture) send(t *testing.T, method, path, key, body string, headers ...string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	f.e.ServeHTTP(rec, req)
	handlers.CheckAgainstSpec(t, req, []byte(body), rec)
	var out map[string]any
	if rec.Body.Len() > 0 && strings.HasPrefix(rec.Header().Get("Content-Type"), "application/") {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %q", method, path, rec.Body)
		}
	}
	return rec, out
}

func (f *fixture) key(t *testing.T, scope string) (models.APIKey, string) {
	t.Helper()
	k, key, err := f.store.CreateAPIKey(context.Background(), "test", scope)
	if err != nil {
		t.Fatal(err)
	}
	return k, key
}

func checkProblem(t *testing.T, status int, h http.Header, body map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || body["code"] != wantCode || body["type"] != "/problems/"+wantCode ||
		body["status"] != float64(wantStatus) || body["request_id"] == "" || body["title"] == "" {
		t.Errorf("got %d %v, want %d %s problem", status, body, wantStatus, wantCode)
	}
	if ct := h.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t, true)
	revoked, revokedKey := f.key(t, models.ScopeRead)
	if _, err := f.store.RevokeAPIKey(context.Background(), revoked.ID); err != nil {
		t.Fatal(err)
	}
	_, good := f.key(t, models.ScopeRead)
	path := "/v1/shipments/00000000-0000-0000-0000-000000000001"

	var bodies []map[string]any
	for _, key := range []string{"", "wb_unknown", revokedKey} {
		status, h, body := f.do(t, http.MethodGet, path, key)
		checkProblem(t, status, h, body, 401, "unauthorized")
		delete(body, "request_id")
		bodies = append(bodies, body)
	}
	if diff := cmp.Diff(bodies[0], bodies[1]); diff != "" || !cmp.Equal(bodies[0], bodies[2]) {
		t.Errorf("missing, unknown and revoked keys must get the same answer: %v", bodies)
	}
	status, h, body := f.do(t, http.MethodGet, path, good)
	checkProblem(t, status, h, body, 404, "not_found")
	// The use is recorded, in the background.
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		var used int
		if err := f.store.DB().QueryRow(`SELECT count(*) FROM api_keys WHERE last_used_at IS NOT NULL`).Scan(&used); err != nil {
			t.Fatal(err)
		}
		if used == 1 {
			break
		}
		if time.Since(start) > 3*time.Second {
			t.Fatalf("%d keys have last_used_at, want 1 (the good key)", used)
		}
	}
	if strings.Contains(f.logs.String(), good) || strings.Contains(f.logs.String(), revokedKey) {
		t.Error("an API key appears in the log")
	}
}

// TestAuthCache checks that a valid key is trusted for AUTH_CACHE_TTL
// without a lookup, and that its revocation takes effect when that ends.
func TestAuthCache(t *testing.T) {
	f := newFixture(t, true)
	const ttl = 300 * time.Millisecond
	f.e = handlers.New(handlers.Options{Store: f.store, Log: logrus.New(), RequestTimeout: 5 * time.Second,
		BodyLimit: 1 << 20, AuthCacheTTL: ttl, Draining: func() bool { return false }})
	k, key := f.key(t, models.ScopeRead)
	path := "/v1/shipments/00000000-0000-0000-0000-000000000001"
	if status, _, _ := f.do(t, http.MethodGet, path, key); status != http.StatusNotFound {
		t.Fatalf("with the key: %d, want 404", status)
	}
	revokedAt := time.Now()
	if _, err := f.store.RevokeAPIKey(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	status, _, _ := f.do(t, http.MethodGet, path, key)
	if elapsed := time.Since(revokedAt); status != http.StatusNotFound && elapsed < ttl {
		t.Errorf("revoked %s ago, within the cache's %s: %d, want 404 (the key was not cached)", elapsed, ttl, status)
	}
	time.Sleep(ttl)
	status, h, body := f.do(t, http.MethodGet, path, key)
	checkProblem(t, status, h, body, http.StatusUnauthorized, "unauthorized")
}

func TestRoutingErrors(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeWrite)
	tests := []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/nope", 404, "not_found"},
		{http.MethodGet, "/v1/nope", 404, "not_found"},
		{http.MethodGet, "/v1/shipments/not-a-uuid", 400, "bad_request"},
		{http.MethodPost, "/livez", 405, "method_not_allowed"},
		{http.MethodPut, "/v1/shipments/00000000-0000-0000-0000-000000000001", 405, "method_not_allowed"},
		{http.MethodPost, "/v1/addresses/00000000-0000-0000-0000-000000000001", 405, "method_not_allowed"},
		{http.MethodGet, "/problems/nope", 404, "not_found"},
	}
	for _, tt := range tests {
		status, h, body := f.do(t, tt.method, tt.path, key)
		checkProblem(t, status, h, body, tt.status, tt.code)
	}
	status, _, body := f.do(t, http.MethodGet, "/problems/validation_failed", "")
	if status != 200 || body["status"] != float64(422) || body["description"] == "" {
		t.Errorf("GET /problems/validation_failed = %d %v", status, body)
	}
}

var microsUTC = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)

func TestGetShipment(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeRead)
	_, err := f.store.DB().Exec(`
		WITH a AS (INSERT INTO addresses (street1, city, zip, country) VALUES ('1 Main St', 'Springfield', '12345', 'US') RETURNING id),
		     b AS (INSERT INTO addresses (street1, city, zip, country) VALUES ('2 Rue', 'Paris', '75001', 'FR') RETURNING id),
		     p AS (INSERT INTO parcels (weight) VALUES (16) RETURNING id)
		INSERT INTO shipments (id, from_address_id, to_address_id, parcel_id, total_cost, rates_data, est_delivery_date)
		SELECT '00000000-0000-0000-0000-000000000001', a.id, b.id, p.id, 0.1,
		       '[{"rate": "12.10"}]', '2026-11-28T17:39:55.123456+01:00' FROM a, b, p`)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/shipments/00000000-0000-0000-0000-000000000001", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	rec := httptest.NewRecorder()
	f.e.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	raw := rec.Body.String()
	for _, want := range []string{`"total_cost":0.10`, `"rates":[{"rate":"12.10"}]`, `"status":"unknown"`,
		`"est_delivery_date":"2026-11-28T16:39:55.123456Z"`, `"city":"Paris"`, `"weight":16`} {
		if !strings.Contains(raw, want) {
			t.Errorf("body lacks %s: %s", want, raw)
		}
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(raw), &body); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"created_at", "updated_at"} {
		if s, _ := body[field].(string); !microsUTC.MatchString(s) {
			t.Errorf("%s = %q, want RFC 3339 UTC with microseconds", field, body[field])
		}
	}
}

func TestDegradedAndDraining(t *testing.T) {
	f := newFixture(t, false)
	status, h, body := f.do(t, http.MethodGet, "/v1/shipments/00000000-0000-0000-0000-000000000001", "x")
	checkProblem(t, status, h, body, 503, "database_unavailable")
	if h.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}

	g := newFixture(t, true)
	draining := false
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	g.e = handlers.New(handlers.Options{Store: g.store, Log: quiet, RequestTimeout: time.Second, BodyLimit: 1024,
		Draining: func() bool { return draining }})
	if status, _, _ := g.do(t, http.MethodGet, "/readyz", ""); status != 200 {
		t.Errorf("/readyz = %d, want 200", status)
	}
	draining = true
	if status, h, _ := g.do(t, http.MethodGet, "/readyz", ""); status != 503 || h.Get("Retry-After") == "" {
		t.Errorf("/readyz while draining = %d, want 503 with Retry-After", status)
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, true)
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	f.e = handlers.New(handlers.Options{Store: f.store, Log: quiet, RequestTimeout: 5 * time.Second, BodyLimit: 1 << 20,
		RateLimitRPS: 2, Draining: func() bool { return false }})
	_, key := f.key(t, models.ScopeRead)
	_, other := f.key(t, models.ScopeRead)
	path := "/v1/shipments?page_size=1"
	for i := range 2 {
		if status, _, _ := f.do(t, http.MethodGet, path, key); status != 200 {
			t.Fatalf("request %d within the burst: %d", i, status)
		}
	}
	status, h, body := f.do(t, http.MethodGet, path, key)
	checkProblem(t, status, h, body, 429, "rate_limited")
	if h.Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q, want 1", h.Get("Retry-After"))
	}
	if status, _, _ := f.do(t, http.MethodGet, path, other); status != 200 {
		t.Errorf("another API key was limited too: %d", status)
	}
}
