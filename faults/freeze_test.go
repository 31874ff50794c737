//go:build linux

package faults

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestFrozenDatabase freezes PostgreSQL (SIGSTOP to the postmaster and
// every backend: sockets open, nothing answers) under 8 readers for
// 2 × REQUEST_TIMEOUT + 0.5 s. Every read sent while it is frozen must be
// 503 within REQUEST_TIMEOUT + 100 ms, never a 500 or a hang; /health must
// answer within 2 s and /livez 200. After SIGCONT, reads must succeed
// within 1 s and go on succeeding.
func TestFrozenDatabase(t *testing.T) {
	c := startCluster(t)
	const maxConns = 8
	s := startServer(t, c, fmt.Sprintf("DB_MAX_OPEN_CONNS=%d", maxConns))
	rec := newRecorder("database_unavailable")
	cl := newClient(s, rec)
	defer cl.close()
	ids := cl.createForReads(t, "freeze", 3)
	baseline := s.baseline(t)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if n%2 == 0 {
					cl.do(routeGet, http.MethodGet, "/v1/shipments/"+ids[(i+n)%len(ids)], "", "")
				} else {
					cl.do(routeList, http.MethodGet, "/v1/shipments?page_size=5", "", "")
				}
				time.Sleep(pace)
			}
		}()
	}
	stopReaders := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopReaders)
	time.Sleep(500 * time.Millisecond)

	thaw := c.freeze(t)
	frozenAt := time.Now()
	var probes []string
	var slowestHealth time.Duration
	for time.Since(frozenAt) < 2*requestTimeout+500*time.Millisecond {
		status, _, took, err := s.health()
		slowestHealth = max(slowestHealth, took)
		switch {
		case err != nil:
			t.Errorf("/health while PostgreSQL is frozen: %v after %s", shortErr(err), took.Round(time.Millisecond))
		case took > healthLimit:
			t.Errorf("/health while PostgreSQL is frozen: %d after %s, want ≤ %s", status, took.Round(time.Millisecond), healthLimit)
		}
		probes = append(probes, fmt.Sprintf("%d", status))
		start := time.Now()
		resp, err := s.probe.Get(s.base + "/livez")
		took = time.Since(start)
		if err != nil {
			t.Errorf("/livez while PostgreSQL is frozen: %v", shortErr(err))
		} else {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || took > 500*time.Millisecond {
				t.Errorf("/livez while PostgreSQL is frozen: %d after %s, want 200 at once", resp.StatusCode, took.Round(time.Millisecond))
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Taken before SIGCONT goes out: the processes resume one by one, and
	// a read may be answered before thaw returns.
	thawedAt := time.Now()
	thaw()
	time.Sleep(recoveryLimit + time.Second)
	stopReaders()
	cl.close()

	rec.check(t, false)
	frozen, first := rec.checkOutage(t, frozenAt, thawedAt, 8, "while PostgreSQL was frozen", "after SIGCONT")
	goroutines := s.checkSettled(t, c, baseline, maxConns, 0)
	s.checkLog(t)
	t.Logf("frozen %s: %d reads answered within it (all 503 expected); /health statuses %v, slowest %s; "+
		"first read 200 %s after SIGCONT; slowest answer %s; goroutines %v, baseline %v; answers:%s",
		thawedAt.Sub(frozenAt).Round(time.Millisecond), frozen, probes, slowestHealth.Round(time.Millisecond),
		first.Round(time.Millisecond), rec.maxTook().Round(time.Millisecond), goroutines, baseline, rec.summary())
}
