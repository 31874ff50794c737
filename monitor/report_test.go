package monitor

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/waybill/waybill/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// openOne opens url limited to one connection, as waybill monitor does.
func openOne(t *testing.T, url string) *sql.DB {
	t.Helper()
	db := testdb.Open(t, url)
	db.SetMaxOpenConns(1)
	return db
}

// hold opens a connection to url of its own and keeps it until t ends.
func hold(t *testing.T, db *sql.DB) (*sql.Conn, int) {
	t.Helper()
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var pid int
	if err := c.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return c, pid
}

// terminate ends backend pid from an admin connection when t ends, in case
// the test failed before it finished with it.
func terminate(t *testing.T, pid int) {
	t.Cleanup(func() {
		db, err := sql.Open("pgx", testdb.AdminURL())
		if err != nil {
			return
		}
		defer db.Close()
		// Only a session in one of this process's test databases: by
		// now the pid may be another backend's (pids are reused, and this
		// machine's pid_max is 32768), perhaps another test run's.
		_, _ = db.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1 AND datname LIKE $2`,
			pid, fmt.Sprintf("waybill_t_%d_%%", os.Getpid()))
	})
}

// collectUntil collects reports until ok accepts one, for up to 15 s.
func collectUntil(t *testing.T, db *sql.DB, opts Options, ok func(Report) bool) Report {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := Collect(context.Background(), db, opts)
		if err != nil {
			t.Fatalf("Collect: %v", err)
		}
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the condition never showed in the report: %+v", r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func issueFor(r Report, section, substr string) (Issue, bool) {
	for _, i := range r.Issues {
		if i.Section == section && strings.Contains(i.Recommendation+i.Message, substr) {
			return i, true
		}
	}
	return Issue{}, false
}

func TestLongRunningQuery(t *testing.T) {
	t.Parallel()
	url := testdb.New(t)
	db := openOne(t, url)
	c, pid := hold(t, testdb.Open(t, url))
	terminate(t, pid)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.ExecContext(ctx, "SELECT pg_sleep(5) /* monitor test: a long query */")
		done <- err
	}()
	t.Cleanup(func() { cancel(); <-done })

	var got LongQuery
	r := collectUntil(t, db, Options{LongQuery: time.Second}, func(r Report) bool {
		for _, q := range r.LongQueries {
			if q.PID == pid {
				got = q
				return true
			}
		}
		return false
	})
	if got.State != "active" || got.DurationSeconds < 1 || got.DurationSeconds > 6 { // over 1 s, to two decimals
		t.Errorf("long query = %+v, want active and running 1–6 s", got)
	}
	if want := "SELECT pg_sleep(5) /* monitor test: a long query *"; got.Query != want {
		t.Errorf("query = %q, want its first 50 characters %q", got.Query, want)
	}
	if got.Database == "" || !strings.Contains(url, "/"+got.Database+"?") {
		t.Errorf("database = %q, want the test's (%s)", got.Database, url)
	}
	i, ok := issueFor(r, SectionLongQueries, fmt.Sprintf("pg_cancel_backend(%d)", pid))
	if !ok || i.Severity != Warning {
		t.Errorf("no warning naming pg_cancel_backend(%d) in %+v", pid, r.Issues)
	}
	if rank(r.Status) < rank(Warning) {
		t.Errorf("status = %s, want at least warning", r.Status)
	}

	// The monitor's own session never lists itself, however long it runs.
	var own int
	if err := db.QueryRow("SELECT pg_backend_pid()").Scan(&own); err != nil {
		t.Fatal(err)
	}
	for _, q := range r.LongQueries {
		if q.PID == own {
			t.Errorf("the monitor's own pid %d is listed", own)
		}
	}
}

func TestIdleInTransaction(t *testing.T) {
	t.Parallel()
	url := testdb.New(t)
	db := openOne(t, url)
	c, pid := hold(t, testdb.Open(t, url+"&application_name=monitor-idle-test"))
	terminate(t, pid)
	ctx := context.Background()
	if _, err := c.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}

	// Before the threshold passes it is counted but not reported.
	r, err := Collect(ctx, db, Options{IdleTx: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if r.Conns.IdleInTransaction < 1 {
		t.Errorf("idle in transaction = %d, want at least 1", r.Conns.IdleInTransaction)
	}
	for _, s := range r.IdleInTransaction {
		if s.PID == pid {
			t.Errorf("pid %d reported idle in transaction with --idle-tx 1h", pid)
		}
	}

	var got IdleSession
	r = collectUntil(t, db, Options{IdleTx: time.Second}, func(r Report) bool {
		for _, s := range r.IdleInTransaction {
			if s.PID == pid {
				got = s
				return true
			}
		}
		return false
	})
	// Over 1 s by the server's clock, rounded to two decimals: 1.004 s is
	// reported as 1.
	if got.User != "postgres" || got.ApplicationName != "monitor-idle-test" || got.DurationSeconds < 1 {
		t.Errorf("session = %+v, want user postgres, application monitor-idle-test, at least 1 s", got)
	}
	i, ok := issueFor(r, SectionIdleTx, fmt.Sprintf("pg_terminate_backend(%d) ends the session idle in transaction for", pid))
	if !ok || i.Severity != Warning {
		t.Errorf("no warning naming pg_terminate_backend(%d) in %+v", pid, r.Issues)
	}
	if _, err := c.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
}

func TestTablesIndexesAndCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testdb.New(t)
	db := openOne(t, url)

	// A fresh database has looked up no blocks of its tables: no ratio.
	r, err := Collect(ctx, db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Cache.Tables.Percent != nil || r.Cache.Tables.Status != OK {
		t.Errorf("fresh database: table cache = %+v, want no ratio and ok", r.Cache.Tables)
	}

	other := testdb.Open(t, url)
	for _, stmt := range []string{
		"CREATE TABLE monitor_big (id int, v text, w text)",
		"INSERT INTO monitor_big SELECT g, md5(g::text), md5((g * 7)::text) FROM generate_series(1, 20000) g",
		"CREATE INDEX monitor_big_v ON monitor_big (v)",
		"CREATE INDEX monitor_big_w ON monitor_big (w)",
		"CREATE UNIQUE INDEX monitor_big_id ON monitor_big (id)",
		"CREATE INDEX monitor_big_small ON monitor_big (id) WHERE id < 10",
		"ANALYZE monitor_big",
	} {
		if _, err := other.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	// Use monitor_big_w once, and flush the statistics so the monitor sees it.
	c, _ := hold(t, other)
	for _, stmt := range []string{"SET enable_seqscan = off", "SET enable_bitmapscan = off",
		"SELECT count(*) FROM monitor_big WHERE w = 'x'", "SELECT count(*) FROM monitor_big",
		"SELECT pg_stat_force_next_flush()", "SELECT 1"} {
		if _, err := c.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	c.Close()

	r = collectUntil(t, db, Options{UnusedIndexMin: 100 << 10}, func(r Report) bool {
		for _, x := range r.UnusedIndexes {
			if x.Name == "monitor_big_w" {
				return false // the scan has not reached the statistics yet
			}
		}
		return r.Cache.Tables.Percent != nil
	})

	var names []string
	for _, x := range r.UnusedIndexes {
		names = append(names, x.Name)
		if x.Name == "monitor_big_v" && (x.Schema != "public" || x.Table != "monitor_big" || x.Size.Bytes <= 100<<10) {
			t.Errorf("unused index = %+v, want public.monitor_big and over 100 kB", x)
		}
	}
	// Not the used one, not the unique one, not the one under the floor.
	if diff := cmp.Diff([]string{"monitor_big_v"}, names); diff != "" {
		t.Errorf("unused indexes (-want +got):\n%s", diff)
	}
	if _, ok := issueFor(r, SectionIndexes, "DROP INDEX CONCURRENTLY public.monitor_big_v frees "); !ok {
		t.Errorf("no DROP INDEX recommendation in %+v", r.Issues)
	}

	// A higher floor leaves it out.
	r2, err := Collect(ctx, db, Options{UnusedIndexMin: 100 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(r2.UnusedIndexes) != 0 {
		t.Errorf("unused indexes over 100 MB = %+v, want none", r2.UnusedIndexes)
	}

	if len(r.LargestTables) == 0 || r.LargestTables[0].Name != "monitor_big" || r.LargestTables[0].Size.Bytes < 1<<20 {
		t.Errorf("largest tables = %+v, want monitor_big (over 1 MB) first", r.LargestTables)
	}
	if len(r.LargestTables) > 10 {
		t.Errorf("%d largest tables, want at most 10", len(r.LargestTables))
	}
	if r.DatabaseSize.Bytes < r.LargestTables[0].Size.Bytes || r.DatabaseSize.Pretty == "" {
		t.Errorf("database size = %+v, want at least the largest table", r.DatabaseSize)
	}
	ct := r.Cache.Tables
	if p := *ct.Percent; p < 0 || p > 100 || ct.HitBlocks+ct.ReadBlocks == 0 {
		t.Errorf("table cache = %+v, want a ratio over the blocks looked up", ct)
	}
}

func TestConnectionThresholds(t *testing.T) {
	for _, tc := range []struct {
		usable, total int
		util, avail   string
	}{
		// A 10-connection server: available warns below 5, critical below 2.
		{10, 5, OK, OK},
		{10, 6, Warning, Warning},
		{10, 8, Warning, Warning},
		{10, 9, Critical, Critical},
		// The predecessor's absolute thresholds from 100 usable.
		{197, 100, OK, OK},
		{197, 150, Warning, Warning},
		{197, 160, Critical, Warning},
		{197, 180, Critical, Critical},
		{100, 50, OK, OK},
		{100, 51, OK, Warning},
		{100, 60, Warning, Warning},
		{100, 80, Warning, Warning},
		{100, 81, Critical, Critical},
		{0, 1, Critical, Critical},
	} {
		c := rateConnections(Connections{Usable: tc.usable, Total: tc.total})
		if c.UtilizationStatus != tc.util || c.AvailableStatus != tc.avail {
			t.Errorf("%d of %d: utilization %s, available %s; want %s, %s", tc.total, tc.usable, c.UtilizationStatus, c.AvailableStatus, tc.util, tc.avail)
		}
	}
}

// TestUtilization holds connections open on a server of its own with 10
// usable connections and watches the report cross 60 % and 80 %.
func TestUtilization(t *testing.T) {
	t.Parallel()
	url := testdb.Cluster(t, "max_connections = 13", "superuser_reserved_connections = 3")
	mon := openOne(t, url)
	others := testdb.Open(t, url)
	// A plan well inside the server, so only the connections speak.
	opts := Options{AppInstances: 1, PoolMax: 2}

	r, err := Collect(context.Background(), mon, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := Connections{MaxConnections: 13, Reserved: 3, Usable: 10, Total: 1, Active: 1, Available: 9,
		UtilizationPercent: 10, UtilizationStatus: OK, AvailableCriticalBelow: 2, AvailableWarnBelow: 5, AvailableStatus: OK}
	if diff := cmp.Diff(want, r.Conns); diff != "" {
		t.Errorf("only the monitor (-want +got):\n%s", diff)
	}
	if r.Status != OK || r.Capacity.Status != OK {
		t.Errorf("status %s, capacity %s; want ok", r.Status, r.Capacity.Status)
	}

	var held []*sql.Conn
	for _, step := range []struct {
		held   int
		util   float64
		status string
	}{
		{6, 70, Warning},  // 7 of 10 with the monitor
		{8, 90, Critical}, // 9 of 10
	} {
		for len(held) < step.held {
			c, _ := hold(t, others)
			held = append(held, c)
		}
		r, err := Collect(context.Background(), mon, opts)
		if err != nil {
			t.Fatal(err)
		}
		c := r.Conns
		if c.Total != step.held+1 || c.UtilizationPercent != step.util || c.UtilizationStatus != step.status || c.Idle != step.held {
			t.Errorf("holding %d: %+v, want %d total, %.0f %%, %s", step.held, c, step.held+1, step.util, step.status)
		}
		if r.Status != step.status {
			t.Errorf("holding %d: report status %s, want %s", step.held, r.Status, step.status)
		}
		i, ok := issueFor(r, SectionConnections, fmt.Sprintf("%d connections left", 10-step.held-1))
		if !ok || i.Severity != step.status {
			t.Errorf("holding %d: no %s connections issue in %+v", step.held, step.status, r.Issues)
		}
		// 7 connections at 60 % need 12 usable, 15 with the 3 reserved.
		if step.held == 6 && !strings.Contains(i.Recommendation, "raise max_connections to at least 15") {
			t.Errorf("recommendation %q, want max_connections 15", i.Recommendation)
		}
	}
}
