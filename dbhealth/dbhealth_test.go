package dbhealth

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

// TestHealthCallersShareOneCheck (moved here from handlers with the
// check): concurrent callers share one database
// check, and callers within a second reuse it.
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
