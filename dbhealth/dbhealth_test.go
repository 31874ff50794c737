package handlers

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/waybill/waybill/capacity"
	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

// TestHealthCallersShareOneCheck: concurrent callers share one database
// check, and callers within a second reuse it.
func TestHealthCallersShareOneCheck(t *testing.T) {
	store, err := models.Open(testdb.New(t), models.PoolOptions{MaxOpenConns: 2, MaxIdleConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	plans := 0
	h := &healthChecker{store: store, instances: 1, started: time.Now(), onPlan: func(capacity.Plan) { plans++ }}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ats = map[time.Time]bool{}
	)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := h.check()
			mu.Lock()
			ats[c.at] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(ats) != 1 || plans != 1 {
		t.Errorf("50 concurrent callers ran %d checks (%d plans), want 1", len(ats), plans)
	}
	first := h.check().at
	if again := h.check().at; !again.Equal(first) {
		t.Error("a second caller within a second ran a new check")
	}
	time.Sleep(healthCacheFor + 50*time.Millisecond)
	if later := h.check().at; later.Equal(first) {
		t.Error("a caller after the cache period got the old check")
	}
}

// TestReadyUsesRecentCheck: /readyz answers at once from a check up to
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
	h := &healthChecker{store: store, instances: 1, started: time.Now()}
	h.last = dbCheck{at: time.Now().Add(-2 * time.Second), pingMs: &ms}

	start := time.Now()
	if c := h.recentCheck(); c.pingMs == nil || time.Since(start) > 100*time.Millisecond {
		t.Errorf("with a 2s-old good check: ping %v after %s, want it at once", c.pingMs, time.Since(start))
	}
	// The background check fails within its budget and replaces it.
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		h.mu.Lock()
		failed := h.last.pingMs == nil
		h.mu.Unlock()
		if failed {
			break
		}
		if time.Since(start) > 3*time.Second {
			t.Fatal("the background check did not replace the old one")
		}
	}
	h.mu.Lock()
	h.last = dbCheck{at: time.Now().Add(-readyStaleFor), pingMs: &ms}
	h.mu.Unlock()
	start = time.Now()
	if c := h.recentCheck(); c.pingMs != nil || time.Since(start) < healthPingBudget/2 {
		t.Errorf("with a check %s old: ping %v after %s, want to wait for a new, failed check", readyStaleFor, c.pingMs, time.Since(start))
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
