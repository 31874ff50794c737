package models

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCoalescerSharesRuns sends 20 concurrent callers while runs are slow:
// far fewer runs than callers, and each caller's answer comes from a run
// that started after the caller did.
func TestCoalescerSharesRuns(t *testing.T) {
	var c coalescer[string, time.Time]
	var runs atomic.Int32
	fn := func(ctx context.Context) (time.Time, error) {
		runs.Add(1)
		started := time.Now()
		time.Sleep(20 * time.Millisecond)
		return started, nil
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * time.Millisecond)
			called := time.Now()
			started, err := c.do(context.Background(), "k", fn)
			if err != nil {
				t.Error(err)
			}
			if started.Before(called) {
				t.Errorf("a caller got a run that started %s before it arrived", called.Sub(started))
			}
		}()
	}
	wg.Wait()
	if n := runs.Load(); n > 4 || n < 2 {
		t.Errorf("%d runs for 20 callers over ~20ms with 20ms runs, want 2 to 4", n)
	}
	// The last run forgets its key just after answering.
	for start := time.Now(); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		left := len(c.keys)
		c.mu.Unlock()
		if left == 0 {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("%d keys left after every run ended", left)
		}
	}
	// Another key is not shared.
	if _, err := c.do(context.Background(), "other", fn); err != nil {
		t.Fatal(err)
	}
}

// TestCoalescerCallerLeaves checks that a caller whose context ends gets
// its error at once, and that a run nobody waits for any more is
// cancelled.
func TestCoalescerCallerLeaves(t *testing.T) {
	var c coalescer[int, int]
	cancelled := make(chan struct{})
	fn := func(ctx context.Context) (int, error) {
		<-ctx.Done()
		close(cancelled)
		return 0, ctx.Err()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.do(ctx, 1, fn); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the caller's deadline", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the caller waited %s past its deadline", took)
	}
	select {
	case <-cancelled:
	case <-time.After(time.Second):
		t.Fatal("the run was not cancelled when its only caller left")
	}
}
