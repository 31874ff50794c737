//go:build linux

package faults

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestWritersThroughRestarts runs 8 keyed writers, 2 unkeyed writers and 2
// readers through one server while PostgreSQL is restarted fast
// (pg_ctl restart -m fast), restarted immediately (-m immediate: no
// shutdown checkpoint, crash recovery on start), and killed (SIGKILL to the
// postmaster, its backends left to notice and exit, then pg_ctl start),
// each twice. No key may yield two shipments, no acknowledged write may be
// lost, no answer may be a 500 or late, and service must resume within
// 1 s of PostgreSQL accepting connections again.
func TestWritersThroughRestarts(t *testing.T) {
	c := startCluster(t)
	const maxConns = 8
	s := startServer(t, c, fmt.Sprintf("DB_MAX_OPEN_CONNS=%d", maxConns))

	faults := []struct {
		name   string
		inject func(t *testing.T)
	}{
		{"fast", func(t *testing.T) { c.restart(t, "fast") }},
		{"immediate", func(t *testing.T) { c.restart(t, "immediate") }},
		{"sigkill", func(t *testing.T) {
			c.kill(t)
			time.Sleep(500 * time.Millisecond) // down for a while, as after a real crash
			if err := c.Start(c.port); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			baseline := s.baseline(t)
			rec := newRecorder("database_unavailable", "outcome_unknown")
			prefix := fmt.Sprintf("%s-%d", f.name, time.Now().UnixNano())
			l := startLoad(t, s, c, rec, prefix, 8, 2, 2)
			time.Sleep(time.Second)

			var rounds []string
			for round := 1; round <= 2; round++ {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				up := c.recovered(ctx)
				faultAt := time.Now()
				f.inject(t)
				var upAt time.Time
				select {
				case upAt = <-up:
				case <-ctx.Done():
					cancel()
					t.Fatalf("round %d: PostgreSQL was never seen refusing and then accepting connections", round)
				}
				cancel()
				time.Sleep(1500 * time.Millisecond)
				first, ok := rec.firstOKAfter(upAt)
				switch {
				case !ok:
					t.Errorf("round %d: no 2xx in the 1.5 s after PostgreSQL accepted connections again", round)
				case first > recoveryLimit:
					t.Errorf("round %d: first 2xx %s after PostgreSQL accepted connections again, want ≤ %s",
						round, first.Round(time.Millisecond), recoveryLimit)
				}
				rounds = append(rounds, fmt.Sprintf("round %d: %s from the fault to PostgreSQL accepting connections, first 2xx %s after that",
					round, upAt.Sub(faultAt).Round(time.Millisecond), first.Round(time.Millisecond)))
			}
			l.finish()

			rec.check(t, false)
			l.ledger.verify(t, c, prefix, true)
			goroutines := s.checkSettled(t, c, baseline, maxConns, l.seenConns())
			keys, acked, retries, replays, unkeyed, events := l.ledger.figures()
			t.Logf("%s; keys %d (answered 2xx %d), retries %d, replays %d; unkeyed creates %d, events %d; "+
				"slowest answer %s; most pool sessions %d; goroutines %v, baseline %v; answers:%s",
				strings.Join(rounds, "; "), keys, acked, retries, replays, unkeyed, events,
				rec.maxTook().Round(time.Millisecond), l.seenConns(), goroutines, baseline, rec.summary())
		})
	}
	s.checkLog(t)
}
