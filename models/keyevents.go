package models

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// keyRevocations is the PostgreSQL notification channel on which
// RevokeAPIKey announces a revocation; the payload is the key's id.
const keyRevocations = "waybill_api_keys"

// listenRevocations subscribes the listener's own pgx connection (LISTEN
// needs a session that outlives a pool checkout) to keyRevocations.
var listenRevocations = statement{name: "listen for revocations", sql: "LISTEN " + keyRevocations}

// The listener's timing: it reconnects with backoff from listenMinBackoff
// doubling to listenMaxBackoff, and, while connected, checks a quiet
// connection with a ping every listenPingInterval (a connection that died
// without a word would otherwise look connected).
const (
	listenMinBackoff   = 100 * time.Millisecond
	listenMaxBackoff   = time.Second
	listenPingInterval = 5 * time.Second
	listenPingTimeout  = 2 * time.Second
)

// Why KeyEvents is not listening, besides a lost connection.
var (
	// ErrListenUnsupported: behind PgBouncer, transaction pooling hands
	// LISTEN's server connection to other clients, and notifications
	// would be lost without a sign, so KeyEvents never listens.
	ErrListenUnsupported = errors.New("LISTEN does not work through PgBouncer's transaction pooling")
	// ErrListenerClosed: Close was called.
	ErrListenerClosed = errors.New("the revocation listener is closed")
)

// KeyEvents delivers the API key revocations of every Waybill process to
// this one, over PostgreSQL LISTEN/NOTIFY on a connection of its own
// (application_name waybill-listen), outside the application pool. A
// cache of keys is safe exactly while KeyEvents is listening: from the
// moment it reports listening until it reports the connection lost, every
// revocation committed anywhere reaches its watchers, in about a
// millisecond. Notifications sent while it is not connected are lost, so
// watchers must drop what they cached when it stops listening and again
// when it resumes.
type KeyEvents struct {
	cfg       *pgx.ConnConfig // nil behind PgBouncer: never listens
	pingEvery time.Duration
	cancel    context.CancelFunc
	done      chan struct{}
	pid       atomic.Uint32

	mu        sync.Mutex // held while calling watchers, so each sees events in order
	listening bool
	err       error // why it is not listening
	watchers  []keyWatcher
}

type keyWatcher struct {
	revoked   func(id uuid.UUID)
	listening func(on bool, err error)
}

// ListenKeyRevocations starts listening for API key revocations on a new
// connection to the store's database, reconnecting whenever it is lost
// (backoff from 100 ms to at most 1 s between tries). Close stops it.
// Behind PgBouncer it never connects (ErrListenUnsupported).
func (s *Store) ListenKeyRevocations() *KeyEvents {
	return s.listenKeyRevocations(listenPingInterval)
}

func (s *Store) listenKeyRevocations(pingEvery time.Duration) *KeyEvents {
	ctx, cancel := context.WithCancel(context.Background())
	ev := &KeyEvents{cfg: s.keys.listen, pingEvery: pingEvery, cancel: cancel, done: make(chan struct{}),
		err: errors.New("not connected yet")}
	if ev.cfg == nil {
		ev.err = ErrListenUnsupported
		close(ev.done)
		return ev
	}
	go ev.run(ctx)
	return ev
}

// Watch registers a watcher: revoked is called with the id of each key
// revoked anywhere, and listening with true when the listener (re)connects
// and with false and the reason when it loses its connection. listening is
// called at once with the current state. Calls are made one at a time, in
// order, and must not block or call back into ev.
func (ev *KeyEvents) Watch(revoked func(id uuid.UUID), listening func(on bool, err error)) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.watchers = append(ev.watchers, keyWatcher{revoked: revoked, listening: listening})
	listening(ev.listening, ev.err)
}

// Listening reports whether revocations are being received now.
func (ev *KeyEvents) Listening() bool {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.listening
}

// PID is the server process id of the listener's connection, 0 when it
// has none: what an operator looks for in pg_stat_activity.
func (ev *KeyEvents) PID() uint32 { return ev.pid.Load() }

// Close stops listening and returns once the connection is closed; the
// watchers are told it is not listening (ErrListenerClosed).
func (ev *KeyEvents) Close() {
	ev.cancel()
	<-ev.done
	ev.setListening(false, ErrListenerClosed)
}

func (ev *KeyEvents) run(ctx context.Context) {
	defer close(ev.done)
	backoff := listenMinBackoff
	for {
		connected, err := ev.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		ev.setListening(false, err)
		if connected {
			backoff = listenMinBackoff
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, listenMaxBackoff)
	}
}

// listen connects, LISTENs and delivers notifications until the
// connection fails or ctx ends. connected reports whether it got as far as
// listening.
func (ev *KeyEvents) listen(ctx context.Context) (connected bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, ev.cfg)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		ev.pid.Store(0)
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, listenRevocations.sql); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	ev.pid.Store(conn.PgConn().PID())
	ev.setListening(true, nil)
	for {
		waitCtx, cancel := context.WithTimeout(ctx, ev.pingEvery)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, nil
		case err == nil:
			ev.deliver(n.Payload)
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			// Quiet for a while: make sure the connection still is one.
			pingCtx, cancel := context.WithTimeout(ctx, listenPingTimeout)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil && ctx.Err() == nil {
				return true, fmt.Errorf("ping: %w", err)
			}
		default:
			return true, fmt.Errorf("wait for notification: %w", err)
		}
	}
}

// deliver hands a revoked key's id to the watchers. A payload that is no
// id (someone else's NOTIFY on the channel) cannot be matched to a key, so
// the watchers are told to drop everything, as if the connection had
// blinked.
func (ev *KeyEvents) deliver(payload string) {
	id, err := uuid.Parse(payload)
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, w := range ev.watchers {
		if err != nil {
			w.listening(false, errors.New("a revocation that names no key id"))
			w.listening(true, nil)
			continue
		}
		w.revoked(id)
	}
}

func (ev *KeyEvents) setListening(on bool, err error) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if on == ev.listening {
		ev.err = err
		return
	}
	ev.listening, ev.err = on, err
	for _, w := range ev.watchers {
		w.listening(on, err)
	}
}
