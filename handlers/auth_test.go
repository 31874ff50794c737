package handlers_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"

	"github.com/waybill/waybill/handlers"
	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

// instance is one Waybill process as far as authentication goes: its own
// store, revocation listener and router over a shared test database.
type instance struct {
	e      *echo.Echo
	store  *models.Store
	events *models.KeyEvents
}

type instanceOptions struct {
	cacheTTL   time.Duration
	failureRPS float64
	noListener bool
	pgBouncer  bool
}

func newInstance(t *testing.T, dsn string, o instanceOptions) *instance {
	t.Helper()
	s, err := models.Open(dsn, models.PoolOptions{MaxOpenConns: 4, MaxIdleConns: 4, PgBouncer: o.pgBouncer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	in := &instance{store: s}
	if !o.noListener {
		in.events = s.ListenKeyRevocations()
		t.Cleanup(in.events.Close) // before the store closes and the database is dropped
		if !o.pgBouncer {
			waitFor(t, "the revocation listener to connect", 5*time.Second, in.events.Listening)
		}
	}
	log := logrus.New()
	log.SetOutput(&strings.Builder{})
	in.e = handlers.New(handlers.Options{
		Store: s, Log: log, RequestTimeout: 5 * time.Second, BodyLimit: 1 << 20, Draining: func() bool { return false },
		AuthCacheTTL: o.cacheTTL, AuthFailureRPS: o.failureRPS, KeyEvents: in.events,
	})
	return in
}

// get sends GET /v1/shipments/{some id} with authorization (the whole
// header value; "" for none) from the client address from, and returns
// the recorder.
func (in *instance) get(t *testing.T, authorization, from string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	return in.request(t, http.MethodGet, authorization, from, headers...)
}

func (in *instance) request(t *testing.T, method, authorization, from string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	path := "/v1/shipments/00000000-0000-0000-0000-000000000001"
	body := ""
	if method == http.MethodPatch {
		body = "{}"
	}
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if from != "" {
		req.RemoteAddr = from
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	in.e.ServeHTTP(rec, req)
	handlers.CheckAgainstSpec(t, req, []byte(body), rec)
	return rec
}

// status is the answer to GET with the bearer key, and the code of its
// problem if any.
func (in *instance) status(t *testing.T, key string) (int, string) {
	t.Helper()
	rec := in.get(t, "Bearer "+key, "")
	var p struct{ Code string }
	_ = json.Unmarshal(rec.Body.Bytes(), &p)
	return rec.Code, p.Code
}

func (in *instance) newKey(t *testing.T, scope string) (models.APIKey, string) {
	t.Helper()
	k, key, err := in.store.CreateAPIKey(context.Background(), "test", scope)
	if err != nil {
		t.Fatal(err)
	}
	return k, key
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > limit {
			t.Fatalf("waited %s for %s", limit, what)
		}
	}
}

// TestUnauthorizedChallenge checks RFC 6750 §3's WWW-Authenticate: a bare
// Bearer challenge when no token was sent, error="invalid_token" when one
// was (malformed, unknown or revoked), insufficient_scope on a 403, and
// none on success.
func TestUnauthorizedChallenge(t *testing.T) {
	in := newInstance(t, testdb.New(t), instanceOptions{cacheTTL: time.Minute})
	revoked, revokedKey := in.newKey(t, models.ScopeRead)
	if _, err := in.store.RevokeAPIKey(context.Background(), revoked.ID); err != nil {
		t.Fatal(err)
	}
	_, read := in.newKey(t, models.ScopeRead)
	tests := []struct {
		name, method, authorization string
		status                      int
		challenge                   string
	}{
		{"no header", http.MethodGet, "", 401, "Bearer"},
		{"another scheme", http.MethodGet, "Basic dXNlcjpwYXNz", 401, "Bearer"},
		{"empty bearer", http.MethodGet, "Bearer ", 401, "Bearer"},
		{"unknown", http.MethodGet, "Bearer wb_" + strings.Repeat("A", 43), 401, `Bearer error="invalid_token"`},
		{"malformed", http.MethodGet, "Bearer not a key!", 401, `Bearer error="invalid_token"`},
		{"revoked", http.MethodGet, "Bearer " + revokedKey, 401, `Bearer error="invalid_token"`},
		{"read key writing", http.MethodPatch, "Bearer " + read, 403, `Bearer error="insufficient_scope", scope="write"`},
		{"valid", http.MethodGet, "Bearer " + read, 404, ""},
	}
	var bodies []string
	for _, tt := range tests {
		rec := in.request(t, tt.method, tt.authorization, "")
		if rec.Code != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, rec.Code, tt.status)
		}
		if got := rec.Header().Values("WWW-Authenticate"); strings.Join(got, "|") != tt.challenge {
			t.Errorf("%s: WWW-Authenticate %q, want %q", tt.name, got, tt.challenge)
		}
		if tt.status == 401 {
			var p map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			delete(p, "request_id")
			b, _ := json.Marshal(p)
			bodies = append(bodies, string(b))
		}
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Errorf("every 401 must have the same body: %s and %s", bodies[0], b)
		}
	}
}

// TestRevocationReachesEveryInstance runs two instances over one database
// with a one-minute cache: a key revoked through one is refused by the
// other within a second.
func TestRevocationReachesEveryInstance(t *testing.T) {
	dsn := testdb.New(t)
	a := newInstance(t, dsn, instanceOptions{cacheTTL: time.Minute})
	b := newInstance(t, dsn, instanceOptions{cacheTTL: time.Minute})
	k, key := a.newKey(t, models.ScopeRead)
	for _, in := range []*instance{a, b} {
		if status, _ := in.status(t, key); status != 404 {
			t.Fatalf("with a valid key: %d, want 404", status)
		}
	}
	// Both now trust the key without asking.
	lookups := b.store.APIKeyLookups()
	if status, _ := b.status(t, key); status != 404 || b.store.APIKeyLookups() != lookups {
		t.Fatalf("second request: %d after %d lookups, want 404 from the cache", status, b.store.APIKeyLookups()-lookups)
	}

	revokedAt := time.Now()
	if _, err := a.store.RevokeAPIKey(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	for _, in := range []*instance{b, a} {
		for {
			status, code := in.status(t, key)
			if status == 401 && code == "unauthorized" {
				break
			}
			if elapsed := time.Since(revokedAt); elapsed > time.Second {
				t.Fatalf("%s after the revocation the key still gets %d, want 401 within 1 s", elapsed, status)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Logf("refused by both instances %s after the revocation", time.Since(revokedAt))
}

// TestLostListenerStopsTheCache cuts an instance's revocation listener and
// keeps it out: meanwhile no key is cached, so a key revoked behind
// Waybill's back (a plain UPDATE, no notification) is refused at once;
// once the listener is back, keys are cached again.
func TestLostListenerStopsTheCache(t *testing.T) {
	dsn := testdb.New(t)
	in := newInstance(t, dsn, instanceOptions{cacheTTL: time.Minute})
	states := make(chan bool, 16)
	in.events.Watch(func(uuid.UUID) {}, func(on bool, _ error) { states <- on })
	if on := <-states; !on {
		t.Fatal("Watch reported not listening")
	}
	admin := testdb.Open(t, dsn)
	server := testdb.Open(t, testdb.AdminURL()) // a database may not lock itself out
	db := dsn[strings.LastIndex(dsn, "/")+1:]
	db = db[:strings.IndexAny(db+"?", "?")]
	k1, key1 := in.newKey(t, models.ScopeRead)
	_, key2 := in.newKey(t, models.ScopeRead)

	lookups := func() int64 { return in.store.APIKeyLookups() }
	for _, key := range []string{key1, key1, key2} {
		if status, _ := in.status(t, key); status != 404 {
			t.Fatalf("with a valid key: %d, want 404", status)
		}
	}
	if lookups() != 2 {
		t.Fatalf("%d lookups for three requests with two keys, want 2 (the cache works)", lookups())
	}
	// The requests below must not need a new pool connection while the
	// database refuses them: open two now.
	holdConnections(t, in.store.DB(), 2)

	exec(t, admin, "SELECT 1") // its connection is open before the database refuses new ones
	exec(t, server, "ALTER DATABASE "+db+" ALLOW_CONNECTIONS false")
	t.Cleanup(func() { server.Exec("ALTER DATABASE " + db + " ALLOW_CONNECTIONS true") })
	exec(t, admin, "SELECT pg_terminate_backend($1)", in.events.PID())
	waitState(t, states, false)

	exec(t, admin, "UPDATE api_keys SET revoked_at = now() WHERE id = $1", k1.ID)
	if status, code := in.status(t, key1); status != 401 || code != "unauthorized" {
		t.Errorf("key revoked by UPDATE while the listener is down: %d %s, want 401 at once (no cache)", status, code)
	}
	before := lookups()
	for range 3 {
		if status, _ := in.status(t, key2); status != 404 {
			t.Fatalf("with a valid key while the listener is down: %d, want 404", status)
		}
	}
	if n := lookups() - before; n != 3 {
		t.Errorf("%d lookups for three requests while the listener is down, want 3 (no cache)", n)
	}

	exec(t, server, "ALTER DATABASE "+db+" ALLOW_CONNECTIONS true")
	waitState(t, states, true)
	before = lookups()
	for range 3 {
		if status, _ := in.status(t, key2); status != 404 {
			t.Fatalf("with a valid key after the listener is back: %d, want 404", status)
		}
	}
	if n := lookups() - before; n != 1 {
		t.Errorf("%d lookups for three requests after the listener is back, want 1 (cached again)", n)
	}
}

func holdConnections(t *testing.T, db *sql.DB, n int) {
	t.Helper()
	var conns []*sql.Conn
	for range n {
		c, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.PingContext(context.Background()); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close() // back to the idle pool
	}
}

func exec(t *testing.T, db *sql.DB, stmt string, args ...any) {
	t.Helper()
	if _, err := db.Exec(stmt, args...); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func waitState(t *testing.T, states <-chan bool, want bool) {
	t.Helper()
	timeout := time.After(3 * time.Second)
	for {
		select {
		case on := <-states:
			if on == want {
				return
			}
		case <-timeout:
			t.Fatalf("the listener did not report listening=%v within 3 s", want)
		}
	}
}

// TestUnknownKeysCostFewLookups checks the negative cache: many requests
// with one made-up key (one after another, and at once) ask the database
// about once a second, and a key that becomes valid works within
// unknownKeyTTL (1 s).
func TestUnknownKeysCostFewLookups(t *testing.T) {
	dsn := testdb.New(t)
	in := newInstance(t, dsn, instanceOptions{cacheTTL: time.Minute, noListener: true})
	token := "wb_" + strings.Repeat("B", 43)

	start, before := time.Now(), in.store.APIKeyLookups()
	for range 200 {
		if status, _ := in.status(t, token); status != 401 {
			t.Fatalf("unknown key: %d, want 401", status)
		}
	}
	allowed := 1 + int64(time.Since(start)/time.Second)
	if n := in.store.APIKeyLookups() - before; n > allowed {
		t.Errorf("200 requests with one unknown key in %s made %d lookups, want at most %d", time.Since(start), n, allowed)
	}

	other := "wb_" + strings.Repeat("C", 43)
	before = in.store.APIKeyLookups()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if status, _ := in.status(t, other); status != 401 {
				t.Errorf("unknown key: %d, want 401", status)
			}
		})
	}
	wg.Wait()
	if n := in.store.APIKeyLookups() - before; n > 2 {
		t.Errorf("50 concurrent requests with one unknown key made %d lookups, want 1 or 2", n)
	}

	// The made-up key becomes a real one (as only SQL by hand can do).
	sum := sha256.Sum256([]byte(token))
	exec(t, testdb.Open(t, dsn), "INSERT INTO api_keys (name, scope, key_hash) VALUES ('late', 'read', $1)", sum[:])
	valid := time.Now()
	for {
		status, _ := in.status(t, token)
		if status == 404 {
			break
		}
		if time.Since(valid) > 1500*time.Millisecond {
			t.Fatalf("a key that became valid still gets %d after %s, want 404 within 1 s", status, time.Since(valid))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFailuresLimitedPerAddress checks the per-address budget of bad
// keys: past the burst, 429 with Retry-After and no lookup; other
// addresses, and keys this instance already verified, are not held back;
// forwarding headers change nothing; an IPv6 client is counted by /64.
func TestFailuresLimitedPerAddress(t *testing.T) {
	in := newInstance(t, testdb.New(t), instanceOptions{cacheTTL: time.Minute, failureRPS: 5, noListener: true}) // burst 10
	_, good := in.newKey(t, models.ScopeRead)
	_, uncached := in.newKey(t, models.ScopeRead)
	const from = "192.0.2.1:1234"
	if rec := in.get(t, "Bearer "+good, from); rec.Code != 404 {
		t.Fatalf("valid key: %d, want 404", rec.Code)
	}
	bogus := func(i int) string { return "Bearer wb_" + strings.Repeat("D", 40) + strconv.Itoa(100+i) }

	before := in.store.APIKeyLookups()
	for i := range 10 {
		if rec := in.get(t, bogus(i), from); rec.Code != 401 {
			t.Fatalf("bad key %d of the burst: %d, want 401", i+1, rec.Code)
		}
	}
	for i, h := range [][]string{nil, {"X-Forwarded-For", "203.0.113.9"}, {"X-Real-Ip", "203.0.113.9"}} {
		rec := in.get(t, bogus(10+i), from, h...)
		var p struct{ Code string }
		_ = json.Unmarshal(rec.Body.Bytes(), &p)
		if rec.Code != 429 || p.Code != "rate_limited" {
			t.Errorf("bad key past the burst (headers %v): %d %s, want 429 rate_limited", h, rec.Code, p.Code)
		}
		if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 {
			t.Errorf("429 with Retry-After %q, want a number of seconds", rec.Header().Get("Retry-After"))
		}
	}
	if n := in.store.APIKeyLookups() - before; n != 10 {
		t.Errorf("%d lookups, want 10: none once the address is limited", n)
	}
	if rec := in.get(t, "Bearer "+good, from); rec.Code != 404 {
		t.Errorf("a key already verified, from the limited address: %d, want 404", rec.Code)
	}
	if rec := in.get(t, "Bearer "+uncached, from); rec.Code != 429 {
		t.Errorf("a key not yet verified, from the limited address: %d, want 429 (no lookup)", rec.Code)
	}
	if rec := in.get(t, bogus(20), "192.0.2.2:1234"); rec.Code != 401 {
		t.Errorf("bad key from another address: %d, want 401", rec.Code)
	}
	// The budget refills at 5 a second.
	time.Sleep(250 * time.Millisecond)
	if rec := in.get(t, bogus(21), from); rec.Code != 401 {
		t.Errorf("bad key after the budget refilled: %d, want 401", rec.Code)
	}

	for i := range 10 {
		in.get(t, bogus(30+i), "[2001:db8::1]:1")
	}
	if rec := in.get(t, bogus(40), "[2001:db8::2]:1"); rec.Code != 429 {
		t.Errorf("another address of the same IPv6 /64: %d, want 429", rec.Code)
	}
	if rec := in.get(t, bogus(41), "[2001:db8:0:1::1]:1"); rec.Code != 401 {
		t.Errorf("an address of another IPv6 /64: %d, want 401", rec.Code)
	}
}

// TestNoCacheBehindPgBouncer: through PgBouncer's transaction pooling
// LISTEN cannot work, so the listener never connects and keys are looked
// up on every request.
func TestNoCacheBehindPgBouncer(t *testing.T) {
	in := newInstance(t, testdb.New(t), instanceOptions{cacheTTL: time.Minute, pgBouncer: true})
	var reason error
	in.events.Watch(func(uuid.UUID) {}, func(_ bool, err error) { reason = err })
	if !errors.Is(reason, models.ErrListenUnsupported) || in.events.Listening() {
		t.Errorf("listening %v (%v), want not, with ErrListenUnsupported", in.events.Listening(), reason)
	}
	_, key := in.newKey(t, models.ScopeRead)
	before := in.store.APIKeyLookups()
	for range 3 {
		if status, _ := in.status(t, key); status != 404 {
			t.Fatalf("with a valid key: %d, want 404", status)
		}
	}
	if n := in.store.APIKeyLookups() - before; n != 3 {
		t.Errorf("%d lookups for three requests, want 3 (no cache without a listener)", n)
	}
}

// TestHealthBadKeysCostFewLookups: /health's optional key check shares the
// API's guard, so bogus keys cannot keep its one connection busy: an
// unknown key is looked up once, and an address past its failure budget
// makes no lookup at all; a valid key still gets the full report.
func TestHealthBadKeysCostFewLookups(t *testing.T) {
	dsn := testdb.New(t)
	in := newInstance(t, dsn, instanceOptions{cacheTTL: time.Minute, failureRPS: 5, noListener: true})
	health := func(key, from string) map[string]any {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/health", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		req.RemoteAddr = from
		rec := httptest.NewRecorder()
		in.e.ServeHTTP(rec, req)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("/health: %d %q", rec.Code, rec.Body)
		}
		return body
	}

	start, before := time.Now(), in.store.APIKeyLookups()
	bogus := "wb_" + strings.Repeat("D", 43)
	for range 100 {
		if body := health(bogus, "192.0.2.1:1000"); body["database"] != nil {
			t.Fatal("/health gave its full report for an unknown key")
		}
	}
	if n := in.store.APIKeyLookups() - before; n > 1+int64(time.Since(start)/time.Second) {
		t.Errorf("100 /health requests with one unknown key made %d lookups", n)
	}

	start, before = time.Now(), in.store.APIKeyLookups()
	for i := range 200 {
		health(fmt.Sprintf("wb_%043d", i), "192.0.2.2:1000")
	}
	// A burst of twice the rate, then the rate.
	if n, most := in.store.APIKeyLookups()-before, int64(10+5*time.Since(start).Seconds()+1); n > most {
		t.Errorf("200 distinct unknown keys from one address made %d lookups, want at most %d", n, most)
	}

	_, key := in.newKey(t, models.ScopeRead)
	if body := health(key, "192.0.2.3:1000"); body["database"] == nil {
		t.Errorf("/health with a valid key from another address: %v, want the full report", body)
	}
}
