package models

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/waybill/waybill/testdb"
)

// keyEventLog records what a KeyEvents tells its watcher.
type keyEventLog struct {
	revoked   chan uuid.UUID
	listening chan error // nil: listening
}

func watch(ev *KeyEvents) *keyEventLog {
	l := &keyEventLog{revoked: make(chan uuid.UUID, 16), listening: make(chan error, 16)}
	ev.Watch(func(id uuid.UUID) { l.revoked <- id }, func(on bool, err error) {
		if on {
			err = nil
		} else if err == nil {
			err = errors.New("not listening, without a reason")
		}
		l.listening <- err
	})
	return l
}

func (l *keyEventLog) wantListening(t *testing.T, want bool) error {
	t.Helper()
	timeout := time.After(3 * time.Second)
	for {
		select {
		case err := <-l.listening:
			if (err == nil) == want {
				return err
			}
		case <-timeout:
			t.Fatalf("no report of listening=%v within 3 s", want)
		}
	}
}

func (l *keyEventLog) wantRevoked(t *testing.T, id uuid.UUID) {
	t.Helper()
	select {
	case got := <-l.revoked:
		if got != id {
			t.Fatalf("revoked %s, want %s", got, id)
		}
	case <-time.After(time.Second):
		t.Fatalf("the revocation of %s did not arrive within 1 s", id)
	}
}

// TestKeyEvents checks the listener: a revocation arrives as a
// notification (and only when it commits); a quiet connection pinged many
// times still delivers; a connection killed by the server is reported
// lost, reconnected and delivers again; Close reports it closed and leaves
// no session.
func TestKeyEvents(t *testing.T) {
	dsn := testdb.New(t)
	s, err := Open(dsn, PoolOptions{MaxOpenConns: 2, MaxIdleConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	ev := s.listenKeyRevocations(20 * time.Millisecond)
	closed := false
	defer func() {
		if !closed {
			ev.Close()
		}
	}()
	l := watch(ev)
	l.wantListening(t, true)
	var app string
	if err := s.DB().QueryRow(`SELECT application_name FROM pg_stat_activity WHERE pid = $1`, ev.PID()).Scan(&app); err != nil || app != "waybill-listen" {
		t.Errorf("the listener's session: application_name %q (%v), want waybill-listen", app, err)
	}

	// Quiet for several ping intervals: the connection is kept.
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-l.listening:
		t.Fatalf("while quiet, the listener reported %v", err)
	default:
	}
	k, _, err := s.CreateAPIKey(ctx, "a", ScopeRead)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	l.wantRevoked(t, k.ID)

	// A revocation rolled back is never announced.
	k2, _, err := s.CreateAPIKey(ctx, "b", ScopeRead)
	if err != nil {
		t.Fatal(err)
	}
	failed := errors.New("the enclosing write failed")
	if err := s.inTx(ctx, func(tx *gorm.DB) error {
		if _, err := s.RevokeAPIKey(withTx(ctx, tx), k2.ID); err != nil {
			return err
		}
		return failed
	}); !errors.Is(err, failed) {
		t.Fatalf("transaction: %v", err)
	}
	select {
	case id := <-l.revoked:
		t.Fatalf("a revocation rolled back was announced (%s)", id)
	case <-time.After(100 * time.Millisecond):
	}

	// The server ends the session: lost, then back, and delivering.
	if _, err := s.DB().Exec(`SELECT pg_terminate_backend($1)`, ev.PID()); err != nil {
		t.Fatal(err)
	}
	if err := l.wantListening(t, false); err == nil {
		t.Fatal("lost without a reason")
	}
	l.wantListening(t, true)
	if _, err := s.RevokeAPIKey(ctx, k2.ID); err != nil {
		t.Fatal(err)
	}
	l.wantRevoked(t, k2.ID)

	pid := ev.PID()
	ev.Close()
	closed = true
	if err := l.wantListening(t, false); !errors.Is(err, ErrListenerClosed) {
		t.Errorf("after Close: %v, want ErrListenerClosed", err)
	}
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		var n int
		if err := s.DB().QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatal("the listener's session is still there 1 s after Close")
		}
	}
}
