package dbhealth

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/waybill/waybill/capacity"
	"github.com/waybill/waybill/metrics"
	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

// TestHealthCallersShareOneCheck (moved here from handlers with the
// check): concurrent callers share one database check, and callers within
// a second reuse it.
func TestHealthCallersShareOneCheck(t *testing.T) {
	store, err := models.Open(testdb.New(t), models.PoolOptions{MaxOpenConns: 2, MaxIdleConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	h := New(store, Options{Instances: 1})
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ats = map[time.Time]bool{}
	)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := h.Check()
			mu.Lock()
			ats[c.At] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(ats) != 1 {
		t.Errorf("50 concurrent callers ran %d checks, want 1", len(ats))
	}
	first := h.Check().At
	if again := h.Check().At; !again.Equal(first) {
		t.Error("a second caller within a second ran a new check")
	}
	time.Sleep(CacheFor + 50*time.Millisecond)
	if later := h.Check().At; later.Equal(first) {
		t.Error("a caller after the cache period got the old check")
	}
}

// TestReadyUsesRecentCheck: readiness (/readyz) answers at once from a check up to
// readyStaleFor old while a new one runs, and waits for a check only when
// none is that recent. The database here never answers, so a check takes
// its whole budget.
func TestReadyUsesRecentCheck(t *testing.T) {
	hung := blackhole(t)
	store, err := models.Open("postgres://postgres@"+hung+"/x?sslmode=disable",
		models.PoolOptions{MaxOpenConns: 1, MaxIdleConns: 1, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ms := 0.4
	h := New(store, Options{Instances: 1})
	h.last = Check{At: time.Now().Add(-2 * time.Second), PingMs: &ms}

	start := time.Now()
	if c := h.Recent(); !c.Up() || time.Since(start) > 100*time.Millisecond {
		t.Errorf("with a 2s-old good check: ping %v after %s, want it at once", c.PingMs, time.Since(start))
	}
	// The background check fails within its budget and replaces it.
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		h.mu.Lock()
		failed := !h.last.Up()
		h.mu.Unlock()
		if failed {
			break
		}
		if time.Since(start) > 3*time.Second {
			t.Fatal("the background check did not replace the old one")
		}
	}
	h.mu.Lock()
	h.last = Check{At: time.Now().Add(-ReadyStaleFor), PingMs: &ms}
	h.mu.Unlock()
	start = time.Now()
	if c := h.Recent(); c.Up() || time.Since(start) < PingBudget/2 {
		t.Errorf("with a check %s old: ping %v after %s, want to wait for a new, failed check", ReadyStaleFor, c.PingMs, time.Since(start))
	}
}

// blackhole returns the address of a listener that accepts connections
// and never answers.
func blackhole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return l.Addr().String()
}

// TestOneSourceForEverything: a check feeds readiness, waybill_ready, the
// capacity gauges and the log alike; draining fails readiness and
// waybill_ready together, and once Run returns waybill_ready stays 0.
func TestOneSourceForEverything(t *testing.T) {
	store, err := models.Open(testdb.New(t), models.PoolOptions{MaxOpenConns: 2, MaxIdleConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	log, hook := logtest.NewNullLogger()
	m := metrics.New("test", nil)
	var draining atomic.Bool
	h := New(store, Options{Instances: 3, Log: log, Metrics: m, Draining: draining.Load})

	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); h.Run(ctx) }()
	defer func() { cancel(); <-ran }()

	if reason := h.Readiness(); reason != "" {
		t.Fatalf("Readiness() = %q with the database up, want \"\"", reason)
	}
	c := h.Check()
	if !c.Up() || c.Capacity.Status == capacity.Unknown || c.Capacity.AppInstances != 3 {
		t.Fatalf("Check() = up %v, plan %+v; want up with a plan for 3 instances", c.Up(), c.Capacity)
	}
	scraped := scrape(t, m)
	for _, want := range []string{"waybill_ready 1", "waybill_db_capacity_app_instances 3",
		`waybill_db_capacity_status{status="` + c.Capacity.Status + `"} 1`} {
		if !slices.Contains(strings.Split(scraped, "\n"), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	var msgs []string
	for _, e := range hook.AllEntries() {
		msgs = append(msgs, e.Message)
	}
	if n := strings.Count(strings.Join(msgs, "\n"), "database connected"); n != 1 || !slices.ContainsFunc(msgs, func(s string) bool {
		return strings.HasPrefix(s, "connection capacity plan")
	}) {
		t.Errorf("log = %q, want one \"database connected\" and the capacity plan", msgs)
	}

	draining.Store(true)
	if reason := h.Readiness(); reason != "draining" {
		t.Errorf("Readiness() while draining = %q, want draining", reason)
	}
	time.Sleep(CacheFor)
	h.Check() // a check while draining must not publish ready
	if !slices.Contains(strings.Split(scrape(t, m), "\n"), "waybill_ready 0") {
		t.Error("waybill_ready is not 0 while draining")
	}
	draining.Store(false)
	cancel()
	<-ran
	time.Sleep(CacheFor)
	h.Check()
	if !slices.Contains(strings.Split(scrape(t, m), "\n"), "waybill_ready 0") {
		t.Error("waybill_ready is not 0 after Run returned")
	}
}

// scrape returns what m serves at /metrics.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}
