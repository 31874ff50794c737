package app

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// syncBuffer is a bytes.Buffer safe for the server's log writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// server is a waybill process run in-process through Run, as main does.
type server struct {
	base   string
	stdout *syncBuffer
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan int
}

// startWaybill runs `waybill args...` with env and waits until /livez
// answers.
func startWaybill(t *testing.T, env map[string]string, args ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	// No drain delay unless a test asks for one: stopping would take 5 s.
	full := map[string]string{"HTTP_ADDR": addr, "LOG_LEVEL": "debug", "DRAIN_DELAY": "0"}
	for k, v := range env {
		full[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{base: "http://" + addr, stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() { s.done <- Run(ctx, args, func(k string) string { return full[k] }, s.stdout, s.stderr) }()
	t.Cleanup(func() {
		if s.cancel != nil {
			s.stop(t)
		}
		if t.Failed() {
			t.Logf("waybill's log:\n%s", s.stderr)
		}
	})
	// Waits for /livez or the exit, whichever comes first; the ceiling is
	// generous because `waybill dev` runs initdb first, which once took 9.3 s
	// on two busy cores.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case code := <-s.done:
			t.Fatalf("waybill exited %d before serving:\n%s", code, s.stderr)
		default:
		}
		if resp, err := http.Get(s.base + "/livez"); err == nil {
			resp.Body.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waybill did not start:\n%s", s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop is SIGTERM: it cancels the context and returns the exit status.
func (s *server) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	s.cancel = nil
	select {
	case code := <-s.done:
		return code
	case <-time.After(20 * time.Second):
		t.Fatal("waybill did not stop")
		return -1
	}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	took   time.Duration
}

func (s *server) get(t *testing.T, path, key string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, took: time.Since(start)}
	if len(raw) > 0 && json.Unmarshal(raw, &r.body) != nil {
		t.Fatalf("GET %s: body is not JSON: %q", path, raw)
	}
	return r
}

// wantProblem checks a problem+json answer with status and code.
func wantProblem(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.body["code"] != code {
		t.Errorf("got %d %v, want %d %s", r.status, r.body, status, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	if status == http.StatusServiceUnavailable && r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
}

func TestDegradedWithoutDatabase(t *testing.T) {
	s := startWaybill(t, nil)
	if r := s.get(t, "/livez", ""); r.status != 200 || r.body["status"] != "ok" {
		t.Errorf("/livez = %d %v", r.status, r.body)
	}
	if r := s.get(t, "/readyz", ""); r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Errorf("/readyz = %d %v, want 503 with Retry-After", r.status, r.body)
	}
	wantProblem(t, s.get(t, "/v1/shipments/00000000-0000-0000-0000-000000000001", "wb_any"), 503, "database_unavailable")
	if code := s.stop(t); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if !strings.Contains(s.stderr.String(), "degraded mode") {
		t.Errorf("no degraded-mode warning in the log:\n%s", s.stderr)
	}
}

// proxy stands between Waybill and PostgreSQL so a test can take the
// database away and bring it back: down refuses connections, blackhole
// accepts them and never answers, up forwards.
type proxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
	forward      bool
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{addr: freeAddr(t), target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(p.down)
	return p
}

func (p *proxy) listen(t *testing.T, forward bool) {
	t.Helper()
	p.down()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.forward = ln, forward
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns[c] = true
			p.mu.Unlock()
			if forward {
				go p.pipe(c)
			}
		}
	}()
}

func (p *proxy) up(t *testing.T)        { p.listen(t, true) }
func (p *proxy) blackhole(t *testing.T) { p.listen(t, false) }

func (p *proxy) pipe(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[s] = true
	p.mu.Unlock()
	go func() { io.Copy(s, c); s.Close() }()
	io.Copy(c, s)
	c.Close()
}

// down closes the listener and cuts every open connection, as a crashed
// or restarted server does.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// viaProxy returns dbURL pointed at the proxy, with a password that trust
// authentication ignores and the logs must never show.
func viaProxy(t *testing.T, dbURL string, p *proxy) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.addr
	u.User = url.UserPassword("postgres", "hunter2-secret")
	return u.String()
}

func apiKeyFor(t *testing.T, dbURL, scope string) string {
	t.Helper()
	s, err := models.Open(dbURL, models.PoolOptions{MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, key, err := s.CreateAPIKey(context.Background(), "test", scope)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func pgAddr(t *testing.T, dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// text gets path and returns its body as text.
func (s *server) text(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(s.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// waitMetric waits until /metrics has a sample line that is exactly line.
func (s *server) waitMetric(t *testing.T, line string, limit time.Duration) {
	t.Helper()
	for start := time.Now(); !slices.Contains(strings.Split(s.text(t, "/metrics"), "\n"), line); time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > limit {
			t.Fatalf("/metrics lacks %q after %s", line, limit)
		}
	}
}

// waitGauge waits until /metrics has the sample name (with its labels)
// at min or more.
func (s *server) waitGauge(t *testing.T, name string, min float64, limit time.Duration) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		for _, line := range strings.Split(s.text(t, "/metrics"), "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				if x, err := strconv.ParseFloat(v, 64); err == nil && x >= min {
					return
				}
			}
		}
		if time.Since(start) > limit {
			t.Fatalf("/metrics has no %s of %v or more after %s", name, min, limit)
		}
	}
}

// waitLog waits until the log contains substr.
func (s *server) waitLog(t *testing.T, substr string, limit time.Duration) {
	t.Helper()
	for start := time.Now(); !strings.Contains(s.stderr.String(), substr); time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > limit {
			t.Fatalf("the log lacks %q after %s", substr, limit)
		}
	}
}

// waitStatus polls path until it answers want, and returns how long that
// took.
func (s *server) waitStatus(t *testing.T, path, key string, want int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		r := s.get(t, path, key)
		if r.status == want {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s still %d %v after %s, want %d", path, r.status, r.body, limit, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDatabaseComesAndGoes starts Waybill with its database down, brings
// the database up, takes it away while running and brings it back: 503
// with Retry-After while it is away (never 500, never a hang), normal
// service within a second of its return, no restart.
func TestDatabaseComesAndGoes(t *testing.T) {
	dbURL := testdb.New(t)
	key := apiKeyFor(t, dbURL, models.ScopeRead)
	p := newProxy(t, pgAddr(t, dbURL))
	s := startWaybill(t, map[string]string{
		"DATABASE_URL":       viaProxy(t, dbURL, p),
		"REQUEST_TIMEOUT":    "1s",
		"DB_CONNECT_TIMEOUT": "500ms",
	})
	shipment := "/v1/shipments/00000000-0000-0000-0000-000000000001"

	// Started with the database down.
	if r := s.get(t, "/readyz", ""); r.status != 503 {
		t.Errorf("/readyz = %d, want 503 while the database is down", r.status)
	}
	wantProblem(t, s.get(t, shipment, key), 503, "database_unavailable")

	p.up(t)
	took := s.waitStatus(t, shipment, key, 404, 3*time.Second)
	t.Logf("serving %s after the database came up", took)
	if took > time.Second {
		t.Errorf("took %s to serve after the database came up, want ≤ 1s", took)
	}
	// Readiness shares /health's check, which callers reuse for up to 1 s.
	s.waitStatus(t, "/readyz", "", 200, 1500*time.Millisecond)

	// Lost while running: refused connections.
	p.down()
	r := s.get(t, shipment, key)
	wantProblem(t, r, 503, "database_unavailable")
	// Lost while running: a database that accepts and never answers.
	p.blackhole(t)
	r = s.get(t, shipment, key)
	wantProblem(t, r, 503, "database_unavailable")
	if r.took > 2*time.Second {
		t.Errorf("request against a hung database took %s, want about REQUEST_TIMEOUT (1s)", r.took)
	}
	// /readyz and /health share a check that callers reuse for up to 1 s:
	// they turn 503 within that and the check's budget, and no answer
	// takes longer than 2 s.
	for _, probe := range []struct{ path, key, status string }{
		{"/readyz", "", "unavailable"}, {"/health", "", "unhealthy"}, {"/health", key, "unhealthy"},
	} {
		for start := time.Now(); ; {
			r := s.get(t, probe.path, probe.key)
			if r.took > 2*time.Second {
				t.Errorf("%s took %s against a hung database, want ≤ 2s", probe.path, r.took)
			}
			if r.status == 503 && r.body["status"] == probe.status {
				break
			}
			if time.Since(start) > 3*time.Second {
				t.Fatalf("%s = %d %v 3s into a hung database, want 503 %s", probe.path, r.status, r.body, probe.status)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	s.waitMetric(t, "waybill_ready 0", 6*time.Second)

	p.up(t)
	s.waitStatus(t, shipment, key, 404, 3*time.Second)
	// The background watcher notices too (its backoff is capped at 5 s).
	s.waitMetric(t, "waybill_ready 1", 6*time.Second)
	s.waitLog(t, "database connected", time.Second)

	if code := s.stop(t); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	logs := s.stderr.String()
	for _, secret := range []string{"hunter2-secret", key} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains a secret %q", secret)
		}
	}
	if !strings.Contains(logs, "database unreachable") {
		t.Error(`the log lacks "database unreachable"`)
	}
}

// TestGracefulShutdown cancels the context (what SIGTERM does in main)
// while a request is in flight: the request completes, then Run returns 0.
func TestGracefulShutdown(t *testing.T) {
	dbURL := testdb.New(t)
	key := apiKeyFor(t, dbURL, models.ScopeRead)
	p := newProxy(t, pgAddr(t, dbURL))
	p.up(t)
	s := startWaybill(t, map[string]string{
		"DATABASE_URL":     viaProxy(t, dbURL, p),
		"REQUEST_TIMEOUT":  "1500ms",
		"SHUTDOWN_TIMEOUT": "5s",
		// No idle connections: the blackhole below closes them, and a
		// request on a dead one would fail at once instead of hanging.
		"DB_MAX_IDLE_CONNS": "0",
	})
	s.waitStatus(t, "/readyz", "", 200, 3*time.Second)
	p.blackhole(t) // the next request hangs on the database until its deadline

	result := make(chan response, 1)
	go func() { result <- s.get(t, "/v1/shipments/00000000-0000-0000-0000-000000000001", key) }()
	// In flight: it holds a pool connection, hanging on the database
	// (background work may hold more).
	s.waitGauge(t, `go_sql_in_use_connections{db_name="primary"}`, 1, time.Second)
	start := time.Now()
	code := s.stop(t)
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("shutdown took %s, longer than SHUTDOWN_TIMEOUT", took)
	}
	r := <-result
	if r.status != 503 {
		t.Errorf("in-flight request got %d, want its own answer (503 at its deadline), not a cut connection", r.status)
	}
	if !strings.Contains(s.stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", s.stderr)
	}
}

func TestInvalidConfigExits(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := map[string]string{"DATABASE_URL": "postgres://app:hunter2@db:notaport/w"}
	code := Run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, &stdout, &stderr)
	if code == 0 {
		t.Fatal("exit status 0 for an invalid DATABASE_URL")
	}
	msg := stderr.String()
	if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "DATABASE_URL") || strings.Contains(msg, "hunter2") {
		t.Errorf("stderr = %q, want one line naming DATABASE_URL without the password", msg)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"serve", "--bogus"}, {"migrate"}, {"migrate", "sideways"}, {"migrate", "to", "x"}, {"apikey", "create"}} {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
		if code != 2 || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line", args, code, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), []string{"help"}, func(string) string { return "" }, &stdout, &stderr); code != 0 ||
		!strings.Contains(stdout.String(), "migrate") {
		t.Errorf("help: exit %d, %q", code, stdout.String())
	}
}

// TestCapacityPlanOnSmallServer runs Waybill as one of four instances
// against a server with max_connections 23: the startup log warns with a
// recommendation, and /health reports the critical plan as degraded.
func TestCapacityPlanOnSmallServer(t *testing.T) {
	dbURL := testdb.Cluster(t, "max_connections = 23", "superuser_reserved_connections = 2")
	env := map[string]string{"DATABASE_URL": dbURL, "APP_INSTANCES": "4", "DB_MAX_OPEN_CONNS": "4"}
	if code, _, stderr := run(t, env, "migrate", "up"); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	key := apiKeyFor(t, dbURL, models.ScopeRead)
	s := startWaybill(t, env)
	s.waitLog(t, "connection capacity plan is critical", 6*time.Second)
	// 4 × (4 + 2) = 24 of 21 usable; at most 12 of 21 (60 %): 4 × 3.
	for _, want := range []string{`"planned_app_connections":24`, "DB_MAX_OPEN_CONNS to at most 1", "max_connections to at least 42"} {
		if !strings.Contains(s.stderr.String(), want) {
			t.Errorf("the startup log lacks %s", want)
		}
	}
	r := s.get(t, "/health", key)
	samples := strings.Split(s.text(t, "/metrics"), "\n")
	for _, want := range []string{
		`waybill_db_capacity_status{status="critical"} 1`, `waybill_db_capacity_planned_utilization_percent 114.29`,
		`waybill_db_capacity_server_max_connections 23`, "waybill_ready 1", `go_sql_max_open_connections{db_name="primary"} 4`,
		`go_sql_max_open_connections{db_name="health"} 1`, `waybill_http_requests_total{method="GET",route="/health",status="200"} 1`,
	} {
		if !slices.Contains(samples, want) {
			t.Errorf("/metrics lacks the sample %s", want)
		}
	}
	db, _ := r.body["database"].(map[string]any)
	cp, _ := db["capacity"].(map[string]any)
	if r.status != 200 || r.body["status"] != "degraded" || cp["status"] != "critical" || cp["server_max_connections"] != float64(23) ||
		cp["reserved_connections"] != float64(2) || cp["planned_utilization_percent"] != 114.29 || cp["recommendation"] == "" {
		t.Errorf("/health = %d %v", r.status, r.body)
	}
}

// TestPprof checks that PPROF_ADDR serves Go's profiler on its own
// listener, and that the API's listener does not.
func TestPprof(t *testing.T) {
	pprofAddr := freeAddr(t)
	s := startWaybill(t, map[string]string{"PPROF_ADDR": pprofAddr})
	s.waitStatus(t, "/livez", "", http.StatusOK, 5*time.Second)
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("PPROF_ADDR /debug/pprof/: %d, want 200", resp.StatusCode)
	}
	if r := s.get(t, "/debug/pprof/", ""); r.status != http.StatusNotFound {
		t.Errorf("HTTP_ADDR /debug/pprof/: %d, want 404", r.status)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
}

// TestServeMaterializesDashboard checks that serve runs the dashboard's
// refresher: a dashboard over days not materialized gets them
// materialized in the background.
func TestServeMaterializesDashboard(t *testing.T) {
	dbURL := testdb.New(t)
	env := map[string]string{"DATABASE_URL": dbURL}
	if code, _, stderr := run(t, env, "seed", "--shipments", "200", "--days", "5"); code != 0 {
		t.Fatalf("seed: exit %d: %s", code, stderr)
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM dashboard_days`); err != nil {
		t.Fatal(err)
	}
	key := apiKeyFor(t, dbURL, models.ScopeRead)
	s := startWaybill(t, env)
	if r := s.get(t, "/v1/analytics/dashboard", key); r.status != http.StatusOK {
		t.Fatalf("dashboard: %d %v", r.status, r.body)
	}
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM dashboard_days`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("serve did not materialize the dashboard's days within 5s")
		}
	}
	s.waitLog(t, "dashboard refreshed", time.Second)
	if code := s.stop(t); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
}
