package models

import (
	"context"
	"sync"
)

// coalescer lets concurrent callers with the same key share one run of a
// computation without ever getting a stale answer: a caller joins the next
// run to start, never one already running, so the answer it gets was
// computed entirely after it arrived (a client reads its own writes). While
// a run is in progress, the callers that arrive wait for it to end and then
// share a single new run. So at most one run per key is in progress, and
// under N concurrent callers the work is about one run per run-time
// instead of N.
//
// A run does not depend on any one caller's context: it is cancelled when
// every caller waiting for it has gone (each leaves at its own deadline).
type coalescer[K comparable, V any] struct {
	mu   sync.Mutex
	keys map[K]*coalesced[V]
}

// coalesced is a key's state: the run in progress, if any, and the run
// that callers arriving meanwhile are waiting to start.
type coalesced[V any] struct {
	running, next *run[V]
}

type run[V any] struct {
	fn      func(context.Context) (V, error)
	waiters int
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	v       V
	err     error
}

// do returns the result of fn, or of an equivalent fn passed with the same
// key, run after this call began. It returns ctx's error if ctx ends first.
func (c *coalescer[K, V]) do(ctx context.Context, key K, fn func(context.Context) (V, error)) (V, error) {
	c.mu.Lock()
	if c.keys == nil {
		c.keys = map[K]*coalesced[V]{}
	}
	st := c.keys[key]
	if st == nil {
		st = &coalesced[V]{}
		c.keys[key] = st
	}
	r := st.next
	if r == nil {
		r = &run[V]{fn: fn, done: make(chan struct{})}
		r.ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
		st.next = r
		if st.running == nil {
			c.start(key, st)
		}
	}
	r.waiters++
	c.mu.Unlock()

	select {
	case <-r.done:
		return r.v, r.err
	case <-ctx.Done():
		c.mu.Lock()
		r.waiters--
		if r.waiters == 0 {
			r.cancel() // nobody is left to answer
			if st.next == r {
				st.next = nil
				c.forget(key, st)
			}
		}
		c.mu.Unlock()
		var zero V
		return zero, ctx.Err()
	}
}

// start runs st.next; c.mu is held.
func (c *coalescer[K, V]) start(key K, st *coalesced[V]) {
	r := st.next
	st.running, st.next = r, nil
	go func() {
		r.v, r.err = r.fn(r.ctx)
		r.cancel()
		close(r.done)
		c.mu.Lock()
		defer c.mu.Unlock()
		st.running = nil
		if st.next != nil {
			c.start(key, st)
			return
		}
		c.forget(key, st)
	}()
}

// forget drops an idle key; c.mu is held.
func (c *coalescer[K, V]) forget(key K, st *coalesced[V]) {
	if st.running == nil && st.next == nil && c.keys[key] == st {
		delete(c.keys, key)
	}
}
