package handlers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/waybill/waybill/handlers"
	"github.com/waybill/waybill/migrations"
	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/pgcluster"
	"github.com/waybill/waybill/testdb"
)

// replicated is a primary and a streaming replica of it, both started by
// the test, and the router over a store that reads from the replica.
type replicated struct {
	*fixture
	key        string // an API key with write scope
	replica    *pgcluster.Cluster
	rport      int
	replicaURL string // the replica's waybill database
}

// startReplicated starts a primary (migrated) and a streaming replica of
// it (pg_basebackup -R), both with settings in their postgresql.conf, and
// the router over a store with that replica, measured every second, at
// most maxLag behind.
func startReplicated(t *testing.T, maxLag time.Duration, settings ...string) *replicated {
	t.Helper()
	ctx := context.Background()
	_, port := testdb.StartCluster(t, settings...)
	if _, err := testdb.Open(t, pgcluster.URL(port)).Exec("CREATE DATABASE waybill"); err != nil {
		t.Fatal(err)
	}
	dsn := testdb.WithDatabase(pgcluster.URL(port), "waybill")
	p, err := migrations.NewProvider(testdb.Open(t, dsn), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	rc, rport := testdb.Replica(t, port)
	r := &replicated{replica: rc, rport: rport, replicaURL: testdb.WithDatabase(pgcluster.URL(rport), "waybill")}

	opts := models.PoolOptions{MaxOpenConns: 10, MaxIdleConns: 10, ConnectTimeout: 2 * time.Second}
	store := openStore(t, dsn, opts)
	if err := store.OpenReplicas([]string{r.replicaURL}, opts, maxLag); err != nil {
		t.Fatal(err)
	}
	watchCtx, stop := context.WithCancel(ctx)
	var watching sync.WaitGroup
	watching.Go(func() { store.WatchReplicas(watchCtx) })
	t.Cleanup(func() { stop(); watching.Wait() }) // before the store closes
	r.fixture = fixtureOf(store)
	_, r.key = r.fixture.key(t, models.ScopeWrite)
	r.waitStatus(t, models.ReplicaHealthy)
	return r
}

// status returns the replica's last measurement.
func (r *replicated) status() models.ReplicaStatus { return r.store.Replicas()[0] }

// waitStatus waits until the replica is measured as want.
func (r *replicated) waitStatus(t *testing.T, want string) models.ReplicaStatus {
	t.Helper()
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		st := r.status()
		if st.Status == want {
			return st
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("replica %+v, still not %s 30 s later", st, want)
		}
	}
}

// get GETs path with headers and returns the status and the body's
// field name.
func (r *replicated) get(t *testing.T, path, field string, headers ...string) (int, any) {
	t.Helper()
	rec, body := r.send(t, http.MethodGet, path, r.key, "", headers...)
	return rec.Code, body[field]
}

// write sends a write and returns its response and X-Waybill-LSN.
func (r *replicated) write(t *testing.T, method, path, body string, want int) (map[string]any, string) {
	t.Helper()
	rec, out := r.send(t, method, path, r.key, body)
	if rec.Code != want {
		t.Fatalf("%s %s = %d %v, want %d", method, path, rec.Code, out, want)
	}
	lsn := rec.Header().Get(handlers.HeaderLSN)
	if _, err := models.ParseLSN(lsn); err != nil {
		t.Fatalf("%s %s: %s = %q, want a WAL position", method, path, handlers.HeaderLSN, lsn)
	}
	return out, lsn
}

// waitVisible waits until a read without a minimum LSN (a replica's)
// finds path's field equal to want.
func (r *replicated) waitVisible(t *testing.T, path, field string, want any) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		code, got := r.get(t, path, field)
		if code == 200 && got == want {
			return
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("GET %s: %d, %s = %v 30 s later, want %v", path, code, field, got, want)
		}
	}
}

// TestReadYourWrites: with the replica's replay paused, every read that
// carries the LSN its write answered sees the write (the primary serves
// it), and a read without one is served by the replica, older data
// included; the shipment reads on pgx and the dashboard go to the replica
// too.
func TestReadYourWrites(t *testing.T) {
	// No lag bound: however slow the machine, the paused replica stays in
	// use for reads without a minimum.
	r := startReplicated(t, 0)
	ctx := context.Background()

	addr, _ := r.write(t, "POST", "/v1/addresses", `{"street1": "1 Main St", "city": "v0", "zip": "12345"}`, 201)
	path := "/v1/addresses/" + addr["id"].(string)
	sh, _ := r.write(t, "POST", "/v1/shipments", minimalShipment, 201)
	shipment := "/v1/shipments/" + sh["id"].(string)
	r.waitVisible(t, path, "city", "v0")
	r.waitVisible(t, shipment, "id", sh["id"])

	if err := pgcluster.PauseReplay(ctx, r.replicaURL); err != nil {
		t.Fatal(err)
	}
	before := r.status().Reads
	const pairs = 1000
	stale := 0
	for i := 1; i <= pairs; i++ {
		city := fmt.Sprintf("v%d", i)
		_, lsn := r.write(t, "PATCH", path, `{"city": "`+city+`"}`, 200)
		if code, got := r.get(t, path, "city", handlers.HeaderMinLSN, lsn); code != 200 || got != city {
			t.Fatalf("pair %d: GET with %s %s = %d, city %v, want 200 %s (the write)", i, handlers.HeaderMinLSN, lsn, code, got, city)
		}
		if i%100 == 0 {
			// Without the header the paused replica answers: the city it
			// had when replay paused.
			if code, got := r.get(t, path, "city"); code != 200 || got == city {
				t.Errorf("pair %d: GET without %s = %d, city %v, want the replica's older city", i, handlers.HeaderMinLSN, code, got)
			} else {
				stale++
			}
		}
	}
	if st := r.status(); st.Reads-before != int64(pairs/100) || st.Status != models.ReplicaHealthy {
		t.Errorf("replica %+v: %d reads routed to it during the pairs, want %d (only those without the header)", st, st.Reads-before, pairs/100)
	}

	// The pgx pipeline of a shipment's get and the dashboard read from
	// the replica too: a shipment created while replay is paused is not
	// there yet.
	sh2, lsn := r.write(t, "POST", "/v1/shipments", minimalShipment, 201)
	if code, _ := r.get(t, "/v1/shipments/"+sh2["id"].(string), "id"); code != 404 {
		t.Errorf("GET a shipment the paused replica has not replayed = %d, want 404 (read from the replica)", code)
	}
	if code, got := r.get(t, "/v1/shipments/"+sh2["id"].(string), "id", handlers.HeaderMinLSN, lsn); code != 200 || got != sh2["id"] {
		t.Errorf("GET it with %s = %d %v, want 200 (the primary)", handlers.HeaderMinLSN, code, got)
	}
	today := time.Now().UTC().Format("2006-01-02")
	dash := "/v1/analytics/dashboard?start_date=" + today + "&end_date=" + today
	count := func(headers ...string) any {
		t.Helper()
		code, summary := r.get(t, dash, "summary", headers...)
		if code != 200 {
			t.Fatalf("GET %s = %d", dash, code)
		}
		return summary.(map[string]any)["total_shipments"]
	}
	if got := count(); got != 1.0 {
		t.Errorf("dashboard from the paused replica counts %v shipments today, want 1", got)
	}
	if got := count(handlers.HeaderMinLSN, lsn); got != 2.0 {
		t.Errorf("dashboard with %s counts %v shipments today, want 2", handlers.HeaderMinLSN, got)
	}

	if err := pgcluster.ResumeReplay(ctx, r.replicaURL); err != nil {
		t.Fatal(err)
	}
	r.waitVisible(t, path, "city", fmt.Sprintf("v%d", pairs))
	// Caught up, the replica serves a read that carries the last LSN.
	before = r.status().Reads
	if code, got := r.get(t, path, "city", handlers.HeaderMinLSN, lsn); code != 200 || got != fmt.Sprintf("v%d", pairs) {
		t.Errorf("GET with %s after the replay resumed = %d %v", handlers.HeaderMinLSN, code, got)
	}
	if n := r.status().Reads - before; n != 1 {
		t.Errorf("a read within a caught-up replica's LSN: %d routed to it, want 1", n)
	}
	// Outside the document (its pattern refuses it), so not through send.
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+r.key)
	req.Header.Set(handlers.HeaderMinLSN, "not an lsn")
	rec := httptest.NewRecorder()
	r.e.ServeHTTP(rec, req)
	if rec.Code != 400 {
		t.Errorf("GET with a malformed %s = %d, want 400", handlers.HeaderMinLSN, rec.Code)
	}
}

// TestReplicaFailover: a replica that is killed, or falls behind by more than
// the maximum lag, no longer serves reads; the primary does, with no 5xx,
// and /health says degraded; once it is back, or caught up, it serves
// reads again.
func TestReplicaFailover(t *testing.T) {
	r := startReplicated(t, time.Second)
	ctx := context.Background()
	addr, _ := r.write(t, "POST", "/v1/addresses", `{"street1": "1 Main St", "city": "v0", "zip": "12345"}`, 201)
	path := "/v1/addresses/" + addr["id"].(string)
	r.waitVisible(t, path, "city", "v0")
	r.checkHealth(t, "healthy", models.ReplicaHealthy)

	// Reads keep coming while the replica is killed and started again.
	stopReads := make(chan struct{})
	var readers sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stopReads:
					return
				default:
				}
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.Header.Set("Authorization", "Bearer "+r.key)
				rec := httptest.NewRecorder()
				r.e.ServeHTTP(rec, req)
				io.Copy(io.Discard, rec.Body)
				mu.Lock()
				codes[rec.Code]++
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	// Killed, not shut down: its sessions end mid-conversation, without a
	// goodbye.
	pid, err := r.replica.PID()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.replica.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); !pgcluster.ProcessEnded(pid); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatal("the killed replica's postmaster still runs 30 s later")
		}
	}
	r.waitStatus(t, models.ReplicaDown)
	time.Sleep(500 * time.Millisecond) // the readers keep reading
	r.checkHealth(t, "degraded", models.ReplicaDown)
	if code, got := r.get(t, path, "city"); code != 200 || got != "v0" {
		t.Errorf("GET with the replica down = %d %v, want 200 from the primary", code, got)
	}
	// Its backends notice the postmaster's death and exit; until they have,
	// a new postmaster refuses their shared memory.
	for start := time.Now(); ; time.Sleep(200 * time.Millisecond) {
		err := r.replica.Start(r.rport)
		if err == nil {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("restart the killed replica: %v", err)
		}
	}
	r.waitStatus(t, models.ReplicaHealthy)
	time.Sleep(300 * time.Millisecond)
	close(stopReads)
	readers.Wait()
	t.Logf("answers to the reads while the replica was killed and restarted: %v", codes)
	for code, n := range codes {
		if code != 200 {
			t.Errorf("%d reads answered %d while the replica was killed and restarted, want every one 200 (%v)", n, code, codes)
		}
	}
	before := r.status().Reads
	r.waitVisible(t, path, "city", "v0")
	if r.status().Reads == before {
		t.Error("the replica, back, serves no read")
	}
	r.checkHealth(t, "healthy", models.ReplicaHealthy)

	// Replay paused past the maximum lag: the primary serves the reads,
	// the new city included, without any header.
	if err := pgcluster.PauseReplay(ctx, r.replicaURL); err != nil {
		t.Fatal(err)
	}
	r.write(t, "PATCH", path, `{"city": "v1"}`, 200)
	st := r.waitStatus(t, models.ReplicaLagging)
	if st.LagBytes == nil || *st.LagBytes <= 0 || st.LagSeconds == nil || *st.LagSeconds <= 1 {
		t.Errorf("lagging replica %+v: want lag bytes > 0 and lag seconds > 1", st)
	}
	r.checkHealth(t, "degraded", models.ReplicaLagging)
	if code, got := r.get(t, path, "city"); code != 200 || got != "v1" {
		t.Errorf("GET with the replica lagging = %d %v, want 200 v1 from the primary", code, got)
	}
	rec, _ := r.send(t, http.MethodGet, "/metrics", "", "")
	metrics := rec.Body.String()
	label := fmt.Sprintf(`{addr="127.0.0.1:%d",replica="0"}`, r.rport)
	for _, want := range []string{"waybill_db_replica_healthy" + label + " 0", "waybill_db_replica_lag_seconds" + label, "waybill_db_replica_lag_bytes" + label} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, "postgres://") {
		t.Error("/metrics shows a database URL")
	}

	if err := pgcluster.ResumeReplay(ctx, r.replicaURL); err != nil {
		t.Fatal(err)
	}
	st = r.waitStatus(t, models.ReplicaHealthy)
	if *st.LagSeconds != 0 {
		t.Errorf("caught up, lag seconds = %v, want 0", *st.LagSeconds)
	}
	before = r.status().Reads
	if code, got := r.get(t, path, "city"); code != 200 || got != "v1" || r.status().Reads != before+1 {
		t.Errorf("GET once caught up = %d %v, %d reads on the replica, want 200 v1 from the replica", code, got, r.status().Reads-before)
	}
}

// checkHealth checks /health's status and its one replica's.
func (r *replicated) checkHealth(t *testing.T, want, replica string) {
	t.Helper()
	var code int
	var body map[string]any
	// /health shares a check for up to a second.
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(100 * time.Millisecond) {
		code, body = r.health(t, r.key)
		reps := asList(database(body)["replicas"])
		if code == 200 && body["status"] == want && len(reps) == 1 && reps[0].(map[string]any)["status"] == replica {
			if plan, _ := reps[0].(map[string]any)["capacity"].(map[string]any); replica != models.ReplicaDown &&
				(plan["server_max_connections"] != 100.0 || plan["planned_app_connections"] != 12.0) {
				t.Errorf("the replica's capacity plan %v: want its server's 100 connections, 12 planned (10 + 2)", plan)
			}
			return
		}
	}
	t.Errorf("/health = %d %v, want 200 %s with the replica %s", code, body, want, replica)
}

// TestReplicaReadRoundTrips counts, in the replica's statement log, what a
// read costs it: a read without X-Waybill-Min-LSN, and one whose minimum
// the cached replay position meets, are one statement each (no extra
// round trip to choose the replica); one whose minimum is past the cache
// asks the replica for its position once, and is then served by the
// primary.
func TestReplicaReadRoundTrips(t *testing.T) {
	// %a: the application name, which tells the pool's statements
	// (waybill) from the measurements' (waybill-health).
	r := startReplicated(t, time.Minute, "log_statement = 'all'", "log_line_prefix = '%a|'")
	addr, lsn := r.write(t, "POST", "/v1/addresses", `{"street1": "1 Main St", "city": "v0", "zip": "12345"}`, 201)
	path := "/v1/addresses/" + addr["id"].(string)
	r.waitVisible(t, path, "city", "v0")
	// Until a measurement has cached a replay position at or past the
	// write's, a read with its LSN asks the replica.
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if st := r.status(); st.ReplayLSN != "" {
			if l, _ := models.ParseLSN(st.ReplayLSN); l >= mustLSN(t, lsn) {
				break
			}
		}
		if time.Since(start) > 30*time.Second {
			t.Fatal("no measurement caught up with the write")
		}
	}
	logged := func() int {
		t.Helper()
		b, err := os.ReadFile(r.replica.LogFile)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, l := range strings.Split(string(b), "\n") {
			// pgx pings a connection idle for over a second before reusing
			// it ("-- ping"), on any server: not the router's doing.
			if strings.HasPrefix(l, "waybill|") && (strings.Contains(l, "LOG:  statement: ") || strings.Contains(l, "LOG:  execute ")) &&
				!strings.Contains(l, "-- ping") {
				n++
			}
		}
		return n
	}
	const reads = 50
	for _, tc := range []struct {
		name       string
		headers    []string
		statements int   // on the replica, per read
		onReplica  int64 // reads it served
	}{
		{"no header", nil, 1, reads},
		{"a minimum the cache meets", []string{handlers.HeaderMinLSN, lsn}, 1, reads},
		{"a minimum past the replica", []string{handlers.HeaderMinLSN, "FF/0"}, 1, 0},
	} {
		before, served := logged(), r.status().Reads
		for range reads {
			if code, got := r.get(t, path, "city", tc.headers...); code != 200 || got != "v0" {
				t.Fatalf("%s: GET = %d %v", tc.name, code, got)
			}
		}
		// The server writes its log a moment after it answers.
		var n int
		for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(50 * time.Millisecond) {
			if n = logged() - before; n >= tc.statements*reads {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
		n = logged() - before
		if n != tc.statements*reads || r.status().Reads-served != tc.onReplica {
			t.Errorf("%s: %d reads made %d statements on the replica and %d were served by it, want %d and %d",
				tc.name, reads, n, r.status().Reads-served, tc.statements*reads, tc.onReplica)
		}
	}
}

func mustLSN(t *testing.T, s string) models.LSN {
	t.Helper()
	l, err := models.ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestReplicaHangs: a replica that stops answering (its processes
// stopped: connections stay open, nothing comes back) is found down by the
// measurements, which cancels the reads waiting on it; they, and the reads
// after, are answered by the primary, every one 200, none slower than the
// request deadline. Once it answers again it serves reads again.
func TestReplicaHangs(t *testing.T) {
	r := startReplicated(t, 0)
	addr, _ := r.write(t, "POST", "/v1/addresses", `{"street1": "1 Main St", "city": "v0", "zip": "12345"}`, 201)
	path := "/v1/addresses/" + addr["id"].(string)
	r.waitVisible(t, path, "city", "v0")

	stopReads := make(chan struct{})
	var readers sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	var slowest time.Duration
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stopReads:
					return
				default:
				}
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.Header.Set("Authorization", "Bearer "+r.key)
				rec := httptest.NewRecorder()
				start := time.Now()
				r.e.ServeHTTP(rec, req)
				took := time.Since(start)
				mu.Lock()
				codes[rec.Code]++
				slowest = max(slowest, took)
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	pids := processTree(t, r.replica)
	signalAll(t, pids, syscall.SIGSTOP)
	stopped := time.Now()
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			signalAll(t, pids, syscall.SIGCONT)
		}
	})
	st := r.waitStatus(t, models.ReplicaDown)
	// Hung for longer than the request deadline (the fixture's 5 s): a read
	// left waiting on it would time out.
	time.Sleep(6*time.Second - time.Since(stopped))
	signalAll(t, pids, syscall.SIGCONT)
	resumed = true
	r.waitStatus(t, models.ReplicaHealthy)
	time.Sleep(300 * time.Millisecond)
	close(stopReads)
	readers.Wait()
	t.Logf("answers while the replica hung (found %s: %s) and came back: %v, the slowest in %s", st.Status, st.Reason, codes, slowest)
	for code, n := range codes {
		if code != 200 {
			t.Errorf("%d reads answered %d while the replica hung, want every one 200 (%v)", n, code, codes)
		}
	}
	if slowest > 4500*time.Millisecond {
		t.Errorf("the slowest read took %s: reads waited on the hung replica for nearly the request deadline", slowest)
	}
	before := r.status().Reads
	r.waitVisible(t, path, "city", "v0")
	if r.status().Reads == before {
		t.Error("the replica, answering again, serves no read")
	}
}

// processTree returns the process ids of c's server: its postmaster and
// the postmaster's children.
func processTree(t *testing.T, c *pgcluster.Cluster) []int {
	t.Helper()
	pid, err := c.PID()
	if err != nil {
		t.Fatal(err)
	}
	pids := []int{pid}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// The fields after the command name, in parentheses: state, ppid.
		_, rest, ok := strings.Cut(string(b), ") ")
		fields := strings.Fields(rest)
		if !ok || len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		if child, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
			pids = append(pids, child)
		}
	}
	if len(pids) < 3 {
		t.Fatalf("the replica's processes: %v, want its postmaster and its children", pids)
	}
	return pids
}

func signalAll(t *testing.T, pids []int, sig syscall.Signal) {
	t.Helper()
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil {
			t.Errorf("signal %d: %v", pid, err)
		}
	}
}
