package app

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

// monitorJSON runs waybill monitor --format json and decodes its report.
func monitorJSON(t *testing.T, env map[string]string, args ...string) (int, map[string]any, string) {
	t.Helper()
	code, stdout, stderr := run(t, env, append([]string{"monitor", "--format", "json"}, args...)...)
	var m map[string]any
	if err := json.Unmarshal([]byte(stdout), &m); err != nil {
		t.Fatalf("exit %d, stderr %q: output is not one JSON document: %v\n%s", code, stderr, err, stdout)
	}
	return code, m, stderr
}

// wantExit checks that code is the exit status of the report's status.
func wantExit(t *testing.T, code int, m map[string]any) {
	t.Helper()
	want := map[any]int{"ok": 0, "warning": 1, "critical": 2}[m["status"]]
	if code != want {
		t.Errorf("exit %d for status %v, want %d", code, m["status"], want)
	}
}

func field(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func TestMonitorCannotConnect(t *testing.T) {
	code, stdout, stderr := run(t, nil, "monitor", "--database-url", "postgres://postgres:s3cret@127.0.0.1:1/x", "--connect-timeout", "2s")
	if code != 3 || stdout != "" {
		t.Errorf("exit %d, stdout %q; want 3 and nothing", code, stdout)
	}
	if !strings.HasPrefix(stderr, "waybill monitor: cannot connect: ") || strings.Count(stderr, "\n") != 1 || strings.Contains(stderr, "s3cret") {
		t.Errorf("stderr %q, want one line saying why, without the password", stderr)
	}
}

func TestMonitorUsage(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, nil, "no database"},
		{nil, []string{"--database-url", "mysql://u:pw@h/db"}, "scheme"},
		{map[string]string{"DATABASE_URL": "postgres://u@h/db"}, []string{"--format", "xml"}, "--format"},
		{map[string]string{"DATABASE_URL": "postgres://u@h/db"}, []string{"--unused-index-min", "lots"}, "not a size"},
		{map[string]string{"DATABASE_URL": "postgres://u@h/db"}, []string{"--long-query", "0s"}, "positive"},
		{map[string]string{"DATABASE_URL": "postgres://u@h/db", "APP_INSTANCES": "zero"}, nil, "APP_INSTANCES"},
		{map[string]string{"DATABASE_URL": "postgres://u@h/db"}, []string{"extra"}, "unexpected argument"},
	} {
		code, _, stderr := run(t, tc.env, append([]string{"monitor"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "pw@") {
			t.Errorf("%v %v: exit %d, stderr %q; want 2 and %q", tc.env, tc.args, code, stderr, tc.want)
		}
	}
	code, stdout, _ := run(t, nil, "monitor", "-h")
	if code != 0 || !strings.Contains(stdout, "-unused-index-min") {
		t.Errorf("-h: exit %d, %q", code, stdout)
	}
}

// TestMonitorJSON creates an idle-in-transaction session and an unused
// index and finds both, with their figures, in the JSON report.
func TestMonitorJSON(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testdb.New(t)
	db := testdb.Open(t, url)
	for _, stmt := range []string{
		"CREATE TABLE monitor_fill (id int, v text)",
		"INSERT INTO monitor_fill SELECT g, md5(g::text) FROM generate_series(1, 20000) g",
		"CREATE INDEX monitor_fill_v ON monitor_fill (v)",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	var indexBytes float64
	if err := db.QueryRowContext(ctx, "SELECT pg_relation_size('monitor_fill_v')").Scan(&indexBytes); err != nil {
		t.Fatal(err)
	}
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var pid float64
	if err := c.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"BEGIN", "SELECT 1"} {
		if _, err := c.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	defer c.ExecContext(ctx, "ROLLBACK")

	env := map[string]string{"DATABASE_URL": url}
	var m map[string]any
	var session map[string]any
	deadline := time.Now().Add(15 * time.Second)
	for session == nil {
		var code int
		code, m, _ = monitorJSON(t, env, "--idle-tx", "1s", "--unused-index-min", "100kB", "--app-instances", "2", "--pool-max", "3")
		wantExit(t, code, m)
		for _, s := range field(m, "idle_in_transaction").([]any) {
			if s := s.(map[string]any); s["pid"] == pid {
				session = s
			}
		}
		if session == nil && time.Now().After(deadline) {
			t.Fatalf("session %v never reported idle in transaction: %v", pid, m)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Over 1 s by the server's clock, rounded to two decimals: 1.004 s is
	// reported as 1.
	if d, _ := session["duration_seconds"].(float64); d < 1 || session["user"] != "postgres" {
		t.Errorf("session = %v, want at least 1 s, user postgres", session)
	}
	if m["status"] != "warning" && m["status"] != "critical" {
		t.Errorf("status %v with a session idle in transaction, want warning or worse", m["status"])
	}
	if got := field(m, "thresholds", "idle_tx_seconds"); got != 1.0 {
		t.Errorf("thresholds.idle_tx_seconds = %v, want 1", got)
	}
	if got := field(m, "thresholds", "unused_index_min_bytes"); got != 102400.0 {
		t.Errorf("thresholds.unused_index_min_bytes = %v, want 102400", got)
	}
	if got, want := field(m, "database"), url[strings.LastIndex(url, "/")+1:strings.Index(url, "?")]; got != want {
		t.Errorf("database = %v, want %s", got, want)
	}
	// The plan uses the flags: 2 × (3 + 2).
	if got := field(m, "capacity", "planned_app_connections"); got != 10.0 {
		t.Errorf("capacity.planned_app_connections = %v, want 10", got)
	}
	if got := field(m, "connections", "idle_in_transaction"); got.(float64) < 1 {
		t.Errorf("connections.idle_in_transaction = %v, want at least 1", got)
	}
	conns := m["connections"].(map[string]any)
	if conns["available"] != conns["usable_connections"].(float64)-conns["total"].(float64) {
		t.Errorf("available = %v, want usable − total in %v", conns["available"], conns)
	}

	var index map[string]any
	for _, x := range m["unused_indexes"].([]any) {
		if x := x.(map[string]any); x["index"] == "monitor_fill_v" {
			index = x
		}
	}
	if index == nil || index["schema"] != "public" || index["table"] != "monitor_fill" || field(index, "size", "bytes") != indexBytes ||
		field(index, "size", "pretty") == "" {
		t.Errorf("unused index = %v, want public.monitor_fill.monitor_fill_v of %v bytes", index, indexBytes)
	}
	if tables := m["largest_tables"].([]any); len(tables) == 0 || tables[0].(map[string]any)["table"] != "monitor_fill" {
		t.Errorf("largest_tables = %v, want monitor_fill first", tables)
	}
	var recs []string
	for _, i := range m["issues"].([]any) {
		recs = append(recs, i.(map[string]any)["recommendation"].(string))
	}
	all := strings.Join(recs, "\n")
	for _, want := range []string{fmt.Sprintf("pg_terminate_backend(%d) ends the session idle in transaction for ", int(pid)),
		"DROP INDEX CONCURRENTLY public.monitor_fill_v frees "} {
		if !strings.Contains(all, want) {
			t.Errorf("no recommendation %q in\n%s", want, all)
		}
	}
}

// TestMonitorExitStatus holds connections on a server with 10 usable ones:
// the exit status follows the utilization.
func TestMonitorExitStatus(t *testing.T) {
	t.Parallel()
	url := testdb.Cluster(t, "max_connections = 13", "superuser_reserved_connections = 3")
	env := map[string]string{"DATABASE_URL": url, "DB_MAX_OPEN_CONNS": "2"}
	others := testdb.Open(t, url)
	var held []*sql.Conn
	for _, step := range []struct{ held, code int }{{0, 0}, {6, 1}, {8, 2}} {
		for len(held) < step.held {
			c, err := others.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			held = append(held, c)
		}
		if len(held) > 0 {
			// The previous run's session ends a moment after it exits:
			// wait until the held connections are the only ones (asked on
			// one of them, so the question adds none).
			for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
				var n int
				err := held[0].QueryRowContext(context.Background(),
					`SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'`).Scan(&n)
				if err != nil {
					t.Fatal(err)
				}
				if n == len(held) || time.Since(start) > 10*time.Second {
					break
				}
			}
		}
		code, stdout, stderr := run(t, env, "monitor")
		if code != step.code {
			t.Errorf("holding %d of 10: exit %d, want %d\n%s%s", step.held, code, step.code, stdout, stderr)
		}
		if want := fmt.Sprintf("total                 %d\n", step.held+1); !strings.Contains(stdout, want) {
			t.Errorf("holding %d: no %q in\n%s", step.held, want, stdout)
		}
		if strings.Contains(stdout, "\x1b") {
			t.Error("colours in output that is not a terminal")
		}
	}
}

func TestMonitorServer(t *testing.T) {
	t.Parallel()
	const health = `{"status":"healthy","version":"test","uptime_seconds":5123.4,"timestamp":"2026-11-28T17:39:55.123456Z",
		"database":{"status":"healthy","connectivity":"connected","ping_ms":0.41,"orm_available":true,
		"pool_size":10,"pool_free":8,"pool_used":2,"pool_max":32,"pool_utilization_percent":6.25,
		"wait_count":0,"wait_duration_ms":0,"max_idle_closed":0,"max_idle_time_closed":0,"max_lifetime_closed":0,
		"capacity":{"server_max_connections":150,"reserved_connections":3,"server_connections":25,"app_instances":2,
		"planned_app_connections":66,"planned_utilization_percent":44.9,"status":"ok","recommendation":""},"replicas":[]}}`
	keys := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys <- r.Header.Get("Authorization")
		if r.URL.Path != "/health" || r.Header.Get("Authorization") != "Bearer the-key" {
			w.Write([]byte(`{"status":"healthy"}`))
			return
		}
		w.Write([]byte(health))
	}))
	defer srv.Close()
	env := map[string]string{"DATABASE_URL": testdb.New(t), "WAYBILL_API_KEY": "the-key"}

	_, m, _ := monitorJSON(t, env, "--server", srv.URL)
	if got := <-keys; got != "Bearer the-key" {
		t.Errorf("Authorization %q, want the key from WAYBILL_API_KEY", got)
	}
	for _, f := range []struct {
		path []string
		want any
	}{
		{[]string{"waybill_pool", "status"}, "healthy"},
		{[]string{"waybill_pool", "database", "pool_max"}, 32.0},
		{[]string{"waybill_pool", "database", "pool_used"}, 2.0},
		{[]string{"waybill_pool", "database", "pool_free"}, 8.0},
		{[]string{"waybill_pool", "database", "ping_ms"}, 0.41},
		{[]string{"waybill_pool", "database", "capacity", "planned_app_connections"}, 66.0},
	} {
		if got := field(m, f.path...); got != f.want {
			t.Errorf("%s = %v, want %v", strings.Join(f.path, "."), got, f.want)
		}
	}

	// --api-key wins over the environment; the text has the section.
	_, stdout, _ := run(t, env, "monitor", "--server", srv.URL, "--api-key", "the-key", "--no-color")
	<-keys
	for _, want := range []string{"Waybill pool (from /health)", "10 open, 2 in use, 8 idle, max 32 (6.25 % used)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("no %q in\n%s", want, stdout)
		}
	}

	// A wrong key, and a server that is not there: warnings, not exit 3.
	code, m, _ := monitorJSON(t, env, "--server", srv.URL, "--api-key", "wrong")
	<-keys
	if code == 3 || code == 0 || field(m, "waybill_pool", "database") != nil {
		t.Errorf("wrong key: exit %d, %v", code, m["waybill_pool"])
	}
	code, m, _ = monitorJSON(t, env, "--server", "http://127.0.0.1:1")
	if code == 3 || code == 0 || field(m, "waybill_pool", "error") == nil {
		t.Errorf("no server: exit %d, %v", code, m["waybill_pool"])
	}
	found := false
	for _, i := range m["issues"].([]any) {
		i := i.(map[string]any)
		found = found || i["section"] == "waybill_pool" && i["severity"] == "warning"
	}
	if !found {
		t.Errorf("no waybill_pool warning in %v", m["issues"])
	}
}

func TestMonitorWatch(t *testing.T) {
	t.Parallel()
	url := testdb.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	var stdout, stderr bytes.Buffer
	env := map[string]string{"DATABASE_URL": url}
	code := Run(ctx, []string{"monitor", "--watch", "1s", "--format", "json"}, func(k string) string { return env[k] }, &stdout, &stderr)

	reports := strings.Split(strings.TrimSpace(stdout.String()), "\n\n")
	if len(reports) < 2 || len(reports) > 4 {
		t.Fatalf("%d reports in 2.5 s at 1 s intervals, want 2–4; stderr %q", len(reports), stderr.String())
	}
	var last map[string]any
	for _, r := range reports {
		if err := json.Unmarshal([]byte(r), &last); err != nil {
			t.Fatalf("a report is not JSON: %v\n%s", err, r)
		}
	}
	wantExit(t, code, last)
	if stderr.Len() != 0 {
		t.Errorf("stderr %q", stderr.String())
	}
}

// TestMonitorReadsRunningWaybill points --server at a real waybill serve
// and finds its pool's own view in the report.
func TestMonitorReadsRunningWaybill(t *testing.T) {
	dbURL := testdb.New(t)
	key := apiKeyFor(t, dbURL, models.ScopeRead)
	env := map[string]string{"DATABASE_URL": dbURL, "DB_MAX_OPEN_CONNS": "7"}
	s := startWaybill(t, env)
	code, m, stderr := monitorJSON(t, env, "--server", s.base, "--api-key", key)
	if stderr != "" {
		t.Errorf("stderr %q", stderr)
	}
	wantExit(t, code, m)
	if field(m, "waybill_pool", "status") != "healthy" || field(m, "waybill_pool", "database", "pool_max") != float64(7) ||
		field(m, "waybill_pool", "error") != nil && field(m, "waybill_pool", "error") != "" {
		t.Errorf("waybill_pool = %v", m["waybill_pool"])
	}
}
