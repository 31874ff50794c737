//go:build linux

package faults

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestPoolExhausted gives the server a pool of 2 connections while a
// session of the test holds LOCK TABLE shipments IN ACCESS EXCLUSIVE MODE,
// and sends 16 concurrent readers at it, twice: every read waits on the
// lock or for the pool and must be answered 503 database_unavailable within
// REQUEST_TIMEOUT + 100 ms; /health, on its own connection, must answer
// within 2 s; the server must hold no more than 2 sessions of the pool
// after the load (checkSettled says what it allows during it). Once the
// lock is released, reads must succeed within 1 s.
func TestPoolExhausted(t *testing.T) {
	c := startCluster(t)
	const maxConns = 2
	s := startServer(t, c, fmt.Sprintf("DB_MAX_OPEN_CONNS=%d", maxConns))
	rec := newRecorder("database_unavailable")
	cl := newClient(s, rec)
	defer cl.close()
	ids := cl.createForReads(t, "pool", 2)
	baseline := s.baseline(t)

	lock, err := c.connect(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close(context.Background()) })
	ctx := context.Background()
	tx, err := lock.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE shipments IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	lockedAt := time.Now()

	// Readers, /health and a count of the server's sessions, at once.
	read := func(n int) {
		if n%2 == 0 {
			cl.do(routeGet, http.MethodGet, "/v1/shipments/"+ids[n%len(ids)], "", "")
		} else {
			cl.do(routeList, http.MethodGet, "/v1/shipments?page_size=5", "", "")
		}
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 2 {
				read(i + round)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var healthTook []time.Duration
	sessions := 0
	for waiting := true; waiting; {
		status, _, took, err := s.health()
		healthTook = append(healthTook, took.Round(time.Millisecond))
		switch {
		case err != nil:
			t.Errorf("/health with the pool exhausted: %v after %s", shortErr(err), took.Round(time.Millisecond))
		case took > healthLimit:
			t.Errorf("/health with the pool exhausted: %d after %s, want ≤ %s", status, took.Round(time.Millisecond), healthLimit)
		}
		if n, err := c.serverConns(); err == nil {
			sessions = max(sessions, n)
		}
		select {
		case <-done:
			waiting = false
		case <-time.After(300 * time.Millisecond):
		}
	}
	releasedAt := time.Now() // before COMMIT: a waiting read may finish the moment it lands
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	var after sync.WaitGroup
	for i := range 16 {
		after.Add(1)
		go func() {
			defer after.Done()
			for n := i; time.Since(releasedAt) < recoveryLimit+time.Second; n++ {
				read(n)
				time.Sleep(pace)
			}
		}()
	}
	after.Wait()
	cl.close()

	rec.check(t, false)
	locked, first := rec.checkOutage(t, lockedAt, releasedAt, 32, "while the lock was held", "after the lock was released")
	goroutines := s.checkSettled(t, c, baseline, maxConns, sessions)
	s.checkLog(t)
	t.Logf("lock held %s: %d reads answered behind it (all 503 expected); /health took %v; most pool sessions %d; "+
		"first read 200 %s after the release; slowest answer %s; goroutines %v, baseline %v; answers:%s",
		releasedAt.Sub(lockedAt).Round(time.Millisecond), locked, healthTook, sessions,
		first.Round(time.Millisecond), rec.maxTook().Round(time.Millisecond), goroutines, baseline, rec.summary())
}
