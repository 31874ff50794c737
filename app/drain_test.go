package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

// lockedShipment is a database with one shipment and a side connection
// that holds its row lock, so that a PATCH of it waits until release.
type lockedShipment struct {
	id      string
	db      *sql.DB
	tx      *sql.Tx
	release func()
}

func lockShipment(t *testing.T, dbURL string) *lockedShipment {
	t.Helper()
	if code, _, stderr := run(t, map[string]string{"DATABASE_URL": dbURL}, "seed", "--shipments", "5", "--days", "1"); code != 0 {
		t.Fatalf("seed: exit %d: %s", code, stderr)
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l := &lockedShipment{db: db}
	if err := db.QueryRow(`SELECT id FROM shipments ORDER BY id LIMIT 1`).Scan(&l.id); err != nil {
		t.Fatal(err)
	}
	if l.tx, err = db.Begin(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.tx.Exec(`SELECT 1 FROM shipments WHERE id = $1 FOR UPDATE`, l.id); err != nil {
		t.Fatal(err)
	}
	l.release = func() { l.tx.Rollback() }
	t.Cleanup(l.release)
	return l
}

// waitBlocked waits until a statement of Waybill's waits for the lock.
func (l *lockedShipment) waitBlocked(t *testing.T) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		var n int
		err := l.db.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("no statement waits for the shipment's row lock")
		}
	}
}

// result is the outcome of a request sent in the background.
type result struct {
	status int
	header http.Header
	body   string
	err    error
	took   time.Duration
}

// patchAsync sends PATCH /v1/shipments/{id} in the background.
func (s *server) patchAsync(key, id string) <-chan result {
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPatch, s.base+"/v1/shipments/"+id, strings.NewReader(`{"reference":"drained"}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err, took: time.Since(start)}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, header: resp.Header, body: string(b), took: time.Since(start)}
	}()
	return done
}

// fresh gets path on a new connection, as a client the load balancer has
// just sent here would.
func (s *server) fresh(t *testing.T, path, key string) response {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s on a new connection: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(raw, &r.body)
	}
	return r
}

// keptAlive gets path on a connection kept alive for reuse, and returns
// the status and whether the server closes the connection after it.
func (s *server) keptAlive(t *testing.T, path, key string) (status int, closes bool) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Close
}

// refuses reports whether the server's port refuses connections.
func (s *server) refuses() bool {
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.base, "http://"), 200*time.Millisecond)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// signal cancels serve's context, as SIGTERM does in main, without
// waiting for Run to return.
func (s *server) signal() {
	s.cancel()
	s.cancel = nil // the test collects the exit status from s.done
}

func (s *server) exitStatus(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case code := <-s.done:
		return code
	case <-time.After(limit):
		t.Fatalf("waybill did not return within %s", limit)
		return -1
	}
}

// TestDrain signals a server with DRAIN_DELAY 2s while a PATCH waits on a
// row lock. For the delay, /readyz answers 503 draining, waybill_ready is
// 0, and a data route still answers on a new connection; then the port
// refuses connections, the PATCH (released after that) completes, and Run
// returns 0.
func TestDrain(t *testing.T) {
	const delay = 2 * time.Second
	dbURL := testdb.New(t)
	lock := lockShipment(t, dbURL)
	key := apiKeyFor(t, dbURL, models.ScopeWrite)
	s := startWaybill(t, map[string]string{
		"DATABASE_URL": dbURL, "DRAIN_DELAY": delay.String(), "SHUTDOWN_TIMEOUT": "5s", "REQUEST_TIMEOUT": "8s",
	})
	s.waitStatus(t, "/readyz", "", http.StatusOK, 3*time.Second)
	patched := s.patchAsync(key, lock.id)
	lock.waitBlocked(t)

	s.signal()
	signalled := time.Now()

	// The drain delay: readiness fails, everything else is served.
	s.waitStatus(t, "/readyz", "", http.StatusServiceUnavailable, time.Second)
	r := s.fresh(t, "/readyz", "")
	if r.status != http.StatusServiceUnavailable || r.body["reason"] != "draining" || r.header.Get("Retry-After") == "" {
		t.Errorf("/readyz while draining = %d %v (Retry-After %q), want 503 draining with Retry-After",
			r.status, r.body, r.header.Get("Retry-After"))
	}
	if r := s.fresh(t, "/v1/shipments", key); r.status != http.StatusOK {
		t.Errorf("GET /v1/shipments on a new connection while draining = %d %v, want 200", r.status, r.body)
	}
	// A kept-alive connection is closed after its answer, so that its
	// client reconnects through the balancer.
	if status, closes := s.keptAlive(t, "/v1/shipments", key); status != http.StatusOK || !closes {
		t.Errorf("GET /v1/shipments on a kept-alive connection while draining = %d, Connection: close %v; want 200, true", status, closes)
	}
	s.waitMetric(t, "waybill_ready 0", time.Second)
	if took := time.Since(signalled); took >= delay {
		t.Fatalf("the checks during the drain delay took %s, longer than the delay (%s): the machine is too slow for this test", took, delay)
	}
	if s.refuses() {
		t.Fatal("the port refuses connections during the drain delay")
	}
	select {
	case res := <-patched:
		t.Fatalf("the locked PATCH finished during the delay: %+v", res)
	default:
	}

	// Then the listener closes, while the PATCH is still in flight.
	for !s.refuses() {
		if time.Since(signalled) > delay+2*time.Second {
			t.Fatalf("the port still accepts connections %s after the signal, DRAIN_DELAY is %s", time.Since(signalled), delay)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if closed := time.Since(signalled); closed < delay {
		t.Errorf("the listener closed %s after the signal, before DRAIN_DELAY (%s)", closed, delay)
	}
	lock.release()
	select {
	case res := <-patched:
		if res.err != nil || res.status != http.StatusOK {
			t.Errorf("in-flight PATCH = %d %v %s, want 200", res.status, res.err, res.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the in-flight PATCH did not finish within SHUTDOWN_TIMEOUT")
	}
	if code := s.exitStatus(t, 5*time.Second); code != exitOK {
		t.Errorf("exit status %d, want 0", code)
	}
	logs := s.stderr.String()
	for _, want := range []string{`"drain_delay":"2s"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s", want)
		}
	}
	for _, phase := range []string{"draining: /readyz answers 503", "drain delay over: closing the listener", `"msg":"stopped"`} {
		if n := strings.Count(logs, phase); n != 1 {
			t.Errorf("the log has %q %d times, want once", phase, n)
		}
	}
	if strings.Contains(logs, "internal error") {
		t.Error(`the log has an "internal error"`)
	}
}

// TestShutdownCutsRequests signals a server with SHUTDOWN_TIMEOUT 1s while
// a PATCH waits on a row lock that is never released in time: the PATCH is
// cut, answered 503, and logged as cut by the shutdown, never as an
// internal error; Run returns 1.
func TestShutdownCutsRequests(t *testing.T) {
	dbURL := testdb.New(t)
	lock := lockShipment(t, dbURL)
	key := apiKeyFor(t, dbURL, models.ScopeWrite)
	s := startWaybill(t, map[string]string{
		"DATABASE_URL": dbURL, "DRAIN_DELAY": "0", "SHUTDOWN_TIMEOUT": "1s", "REQUEST_TIMEOUT": "8s",
	})
	patched := s.patchAsync(key, lock.id)
	lock.waitBlocked(t)

	s.signal()
	signalled := time.Now()
	code := s.exitStatus(t, 5*time.Second)
	took := time.Since(signalled)
	if code != exitFail {
		t.Errorf("exit status %d, want 1 (requests were cut)", code)
	}
	if took < time.Second || took > time.Second+cutGrace+time.Second {
		t.Errorf("Run returned %s after the signal, want about SHUTDOWN_TIMEOUT (1s) + %s", took, cutGrace)
	}
	res := <-patched
	if res.err == nil && (res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "") {
		t.Errorf("cut PATCH = %d %s (Retry-After %q), want 503 with Retry-After", res.status, res.body, res.header.Get("Retry-After"))
	}
	if res.err != nil {
		t.Errorf("cut PATCH got no answer (%v), want 503: cut requests have %s to answer", res.err, cutGrace)
	}
	// Nothing changed: the PATCH's transaction rolled back.
	lock.release()
	var ref sql.NullString
	if err := lock.db.QueryRowContext(context.Background(), `SELECT reference FROM shipments WHERE id = $1`, lock.id).Scan(&ref); err != nil {
		t.Fatal(err)
	}
	if ref.String == "drained" {
		t.Error("the cut PATCH was applied")
	}
	logs := s.stderr.String()
	if !strings.Contains(logs, `"cut":1`) {
		t.Errorf("the log does not say one request was cut:\n%s", logs)
	}
	for _, bad := range []string{"internal error", `"status":500`} {
		if strings.Contains(logs, bad) {
			t.Errorf("the log has %s for the cut request:\n%s", bad, logs)
		}
	}
}
