//go:build linux

package faults

import (
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMDrains sends SIGTERM to a server with DRAIN_DELAY 2s under 4
// keyed writers, 2 unkeyed writers and 2 readers. /readyz must turn 503
// within 100 ms and stay 503 (the listener open) for DRAIN_DELAY while
// writes still succeed; requests sent before the listener closes must be
// answered; the process must exit 0 within DRAIN_DELAY + SHUTDOWN_TIMEOUT,
// having closed its connections; no acknowledged write may be lost and no
// answer may be a 500.
func TestSIGTERMDrains(t *testing.T) {
	c := startCluster(t)
	const (
		maxConns        = 8
		drainDelay      = 2 * time.Second
		shutdownTimeout = 5 * time.Second
		readyLimit      = 100 * time.Millisecond // from SIGTERM to /readyz 503
	)
	s := startServer(t, c, fmt.Sprintf("DB_MAX_OPEN_CONNS=%d", maxConns),
		"DRAIN_DELAY="+drainDelay.String(), "SHUTDOWN_TIMEOUT="+shutdownTimeout.String())
	rec := newRecorder("database_unavailable", "outcome_unknown")
	prefix := fmt.Sprintf("drain-%d", time.Now().UnixNano())
	l := startLoad(t, s, c, rec, prefix, 4, 2, 2)

	// /readyz on a new connection every 10 ms, as a load balancer probes.
	type probe struct {
		at     time.Time
		status int
		err    error
	}
	var (
		mu     sync.Mutex
		probes []probe
	)
	probing := make(chan struct{})
	go func() {
		defer close(probing)
		for !s.hasExited() {
			at := time.Now()
			resp, err := s.probe.Get(s.base + "/readyz")
			p := probe{at: at, err: err}
			if err == nil {
				p.status = resp.StatusCode
				resp.Body.Close()
			}
			mu.Lock()
			probes = append(probes, p)
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second)

	termAt := time.Now()
	s.signal(t, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(drainDelay + shutdownTimeout + time.Second):
		t.Fatalf("waybill still runs %s after SIGTERM (DRAIN_DELAY %s, SHUTDOWN_TIMEOUT %s)",
			drainDelay+shutdownTimeout+3*time.Second, drainDelay, shutdownTimeout)
	}
	exitAt := time.Now()
	<-probing
	l.finish()

	var xe *exec.ExitError
	switch {
	case errors.As(s.exitErr, &xe):
		t.Errorf("after SIGTERM: exit status %d, want 0; the log ends:\n%s", xe.ExitCode(), s.log.tail(10))
	case s.exitErr != nil:
		t.Errorf("after SIGTERM: %v", s.exitErr)
	}

	// Readiness: 503 within readyLimit, then 503 (not refused, not 200)
	// until the delay is nearly over.
	var first503 time.Time
	var wrong examples
	for _, p := range probes {
		if p.at.Before(termAt) {
			continue
		}
		if p.status == http.StatusServiceUnavailable && first503.IsZero() {
			first503 = p.at
		}
		if p.at.After(termAt.Add(readyLimit)) && p.at.Before(termAt.Add(drainDelay-100*time.Millisecond)) && p.status != http.StatusServiceUnavailable {
			what := fmt.Sprint(p.status)
			if p.err != nil {
				what = shortErr(p.err)
			}
			wrong.add("/readyz sent %s after SIGTERM: %s", p.at.Sub(termAt).Round(time.Millisecond), what)
		}
	}
	switch {
	case first503.IsZero():
		t.Errorf("/readyz never answered 503 after SIGTERM")
	case first503.Sub(termAt) > readyLimit:
		t.Errorf("/readyz first answered 503 %s after SIGTERM, want ≤ %s", first503.Sub(termAt).Round(time.Millisecond), readyLimit)
	}
	if wrong.n > 0 {
		t.Errorf("/readyz during DRAIN_DELAY was not 503: %s", &wrong)
	}

	// Writes go on while draining.
	drained := rec.where(func(a answer) bool {
		return (a.route == routeKeyed || a.route == routeUnkeyed) && a.status == http.StatusCreated &&
			!first503.IsZero() && a.start.After(first503)
	})
	if len(drained) == 0 {
		t.Errorf("no create sent after /readyz turned 503 succeeded: the server stopped serving as it began to drain")
	}

	// Every request sent while the listener was to stay open is answered;
	// after that, refused connections are what clients should see.
	rec.check(t, true)
	var cut examples
	for _, a := range rec.where(func(a answer) bool {
		return a.err != nil && a.start.Before(termAt.Add(drainDelay-100*time.Millisecond))
	}) {
		cut.add("%s sent %s after SIGTERM: %s", a.route, a.start.Sub(termAt).Round(time.Millisecond), shortErr(a.err))
	}
	if cut.n > 0 {
		t.Errorf("a request sent during DRAIN_DELAY got no answer: %s", &cut)
	}

	l.ledger.verify(t, c, prefix, false)
	var n int
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		var err error
		if n, err = c.serverConns(); err == nil && n == 0 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("connection leak: pg_stat_activity still has %d sessions of application_name waybill 5 s after the server exited", n)
			break
		}
	}
	s.checkLog(t)
	keys, acked, retries, replays, unkeyed, events := l.ledger.figures()
	ready := "never"
	if !first503.IsZero() {
		ready = first503.Sub(termAt).Round(time.Millisecond).String()
	}
	t.Logf("/readyz 503 %s after SIGTERM; %d creates succeeded while draining; exit %s after SIGTERM (status %v); "+
		"keys %d (answered 2xx %d), retries %d, replays %d; unkeyed creates %d, events %d; slowest answer %s; answers:%s",
		ready, len(drained), exitAt.Sub(termAt).Round(time.Millisecond), s.exitErr,
		keys, acked, retries, replays, unkeyed, events, rec.maxTook().Round(time.Millisecond), rec.summary())
}
