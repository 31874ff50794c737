package models

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/waybill/waybill/testdb"
)

func newShipment() *Shipment {
	return &Shipment{
		Mode: "test", Status: StatusUnknown, Currency: "USD",
		FromAddress: &Address{Street1: "1 Main St", City: "Springfield", Zip: "12345", Country: "US"},
		ToAddress:   &Address{Street1: "2 Elm St", City: "Shelbyville", Zip: "54321", Country: "US"},
	}
}

// createShipment is an idempotent write: it creates a shipment and answers
// with its id.
func createShipment(s *Store) func(context.Context) (IdempotentResponse, error) {
	return func(ctx context.Context) (IdempotentResponse, error) {
		sh, err := s.CreateShipment(ctx, newShipment())
		if err != nil {
			return IdempotentResponse{}, err
		}
		return IdempotentResponse{Status: 201, Headers: JSON(`{}`), Body: []byte(sh.ID.String())}, nil
	}
}

func idempotentRequest(t *testing.T, s *Store, key string) IdempotentRequest {
	t.Helper()
	k, _, err := s.CreateAPIKey(context.Background(), "test", ScopeWrite)
	if err != nil {
		t.Fatal(err)
	}
	return IdempotentRequest{APIKeyID: k.ID, Key: key, Method: "POST", Path: "/v1/shipments", Hash: []byte("body")}
}

// rowCounts returns how many shipments and stored idempotent responses
// there are.
func rowCounts(t *testing.T, s *Store) [2]int {
	t.Helper()
	return [2]int{count(t, s, `SELECT count(*) FROM shipments`), count(t, s, `SELECT count(*) FROM idempotency_keys`)}
}

// TestIdempotentNothingOrBoth: whatever ends the transaction early (the
// write's own error, the connection killed after the write), neither the
// write nor the key's record remains, and the key is free at once; once
// it succeeds, retries replay without writing.
func TestIdempotentNothingOrBoth(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	req := idempotentRequest(t, s, "order-1")

	failing := errors.New("the handler failed after writing")
	_, err := s.Idempotent(ctx, req, func(ctx context.Context) (IdempotentResponse, error) {
		if _, err := createShipment(s)(ctx); err != nil {
			return IdempotentResponse{}, err
		}
		return IdempotentResponse{}, failing
	})
	if !errors.Is(err, failing) {
		t.Fatalf("got %v, want the write's error", err)
	}
	if got := rowCounts(t, s); got != [2]int{0, 0} {
		t.Fatalf("after a failed write: %v shipments and keys, want none", got)
	}

	// The connection dies after the write and before COMMIT, as in a
	// server restart.
	var pid int
	_, err = s.Idempotent(ctx, req, func(ctx context.Context) (IdempotentResponse, error) {
		if _, err := createShipment(s)(ctx); err != nil {
			return IdempotentResponse{}, err
		}
		if err := s.conn(ctx).Raw(`SELECT pg_backend_pid()`).Scan(&pid).Error; err != nil {
			return IdempotentResponse{}, err
		}
		err := s.conn(ctx).Exec(`SELECT pg_terminate_backend(pg_backend_pid())`).Error
		return IdempotentResponse{}, classify(err)
	})
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("connection killed before COMMIT: got %v, want ErrUnavailable (nothing changed)", err)
	}
	if got := rowCounts(t, s); got != [2]int{0, 0} {
		t.Fatalf("after a killed connection: %v shipments and keys, want none", got)
	}

	// The key is free as soon as the backend is gone (its entry leaves
	// pg_stat_activity after its locks are released): no staleness to
	// wait out.
	for count(t, s, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, pid) > 0 {
		time.Sleep(time.Millisecond)
	}
	replay, err := s.Idempotent(ctx, req, createShipment(s))
	if err != nil || replay != nil {
		t.Fatalf("retry: replay %v, %v; want a fresh write", replay, err)
	}
	for range 2 {
		replay, err = s.Idempotent(ctx, req, func(context.Context) (IdempotentResponse, error) {
			t.Fatal("a retry after success wrote again")
			return IdempotentResponse{}, nil
		})
		if err != nil || replay == nil || replay.Status != 201 {
			t.Fatalf("retry after success: %+v, %v; want the stored 201", replay, err)
		}
	}
	if got := rowCounts(t, s); got != [2]int{1, 1} {
		t.Fatalf("%v shipments and keys, want one of each", got)
	}
	other := req
	other.Hash = []byte("another body")
	if _, err := s.Idempotent(ctx, other, createShipment(s)); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Fatalf("same key, other body: %v, want ErrIdempotencyMismatch", err)
	}
}

// TestIdempotentInFlightUntilItsTransactionEnds: while a request holds its
// key, a retry is told it is in flight; when the first request's
// connection is killed mid-write, the retry runs at once.
func TestIdempotentInFlightUntilItsTransactionEnds(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	req := idempotentRequest(t, s, "order-2")

	pids := make(chan int)
	first := make(chan error)
	go func() {
		_, err := s.Idempotent(ctx, req, func(ctx context.Context) (IdempotentResponse, error) {
			if _, err := createShipment(s)(ctx); err != nil {
				return IdempotentResponse{}, err
			}
			var pid int
			if err := s.conn(ctx).Raw(`SELECT pg_backend_pid()`).Scan(&pid).Error; err != nil {
				return IdempotentResponse{}, err
			}
			pids <- pid
			// Stuck until its connection is killed.
			err := s.conn(ctx).Exec(`SELECT pg_sleep(30)`).Error
			return IdempotentResponse{}, classify(err)
		})
		first <- err
	}()
	pid := <-pids
	if _, err := s.Idempotent(ctx, req, createShipment(s)); !errors.Is(err, ErrIdempotencyInFlight) {
		t.Fatalf("retry while the first runs: %v, want ErrIdempotencyInFlight", err)
	}
	// With a timeout, pg_terminate_backend waits until the backend is gone
	// (and its locks with it).
	if count(t, s, `SELECT count(*) FROM (SELECT pg_terminate_backend($1, 10000)) AS t WHERE pg_terminate_backend`, pid) != 1 {
		t.Fatal("pg_terminate_backend")
	}
	if err := <-first; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("first request: %v, want ErrUnavailable", err)
	}
	start := time.Now()
	if replay, err := s.Idempotent(ctx, req, createShipment(s)); err != nil || replay != nil {
		t.Fatalf("retry after the first died: %v, %v; want a fresh write", replay, err)
	}
	t.Logf("key free %v after its connection died", time.Since(start))
	if got := rowCounts(t, s); got != [2]int{1, 1} {
		t.Fatalf("%v shipments and keys, want one of each", got)
	}
}

// TestCommitOutcomeUnknown loses the connection during COMMIT, once after
// the server committed and once before it saw COMMIT. Both are
// ErrOutcomeUnknown (the client cannot tell them apart); a retry with the
// key then replays the committed write or makes the lost one, so either
// way there is exactly one shipment.
func TestCommitOutcomeUnknown(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault testdb.CommitFault
	}{{"committed", testdb.CommitLostAfter}, {"not committed", testdb.CommitLostBefore}} {
		t.Run(tc.name, func(t *testing.T) {
			proxy, dsn := testdb.NewProxy(t, testdb.New(t))
			s, err := Open(dsn, PoolOptions{MaxOpenConns: 2, MaxIdleConns: 2, ConnectTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			ctx := context.Background()
			req := idempotentRequest(t, s, "order-3")

			proxy.FailNextCommit(tc.fault)
			_, err = s.Idempotent(ctx, req, createShipment(s))
			if !errors.Is(err, ErrOutcomeUnknown) {
				t.Fatalf("got %v, want ErrOutcomeUnknown", err)
			}
			committed := rowCounts(t, s)
			want := map[testdb.CommitFault][2]int{testdb.CommitLostAfter: {1, 1}, testdb.CommitLostBefore: {0, 0}}[tc.fault]
			if committed != want {
				t.Fatalf("after the lost COMMIT: %v shipments and keys, want %v", committed, want)
			}
			// The server notices the lost connection a moment later; until
			// then the key is in flight, and a client retries.
			var replay *IdempotentResponse
			for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
				replay, err = s.Idempotent(ctx, req, createShipment(s))
				if !errors.Is(err, ErrIdempotencyInFlight) || time.Since(start) > 10*time.Second {
					break
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if (replay != nil) != (tc.fault == testdb.CommitLostAfter) {
				t.Errorf("retry replayed: %v; want a replay exactly when the first committed", replay != nil)
			}
			if got := rowCounts(t, s); got != [2]int{1, 1} {
				t.Fatalf("after the retry: %v shipments and keys, want one of each", got)
			}
			// Without a key the same fault is ErrOutcomeUnknown too, never
			// "nothing changed".
			proxy.FailNextCommit(tc.fault)
			if _, err := s.CreateShipment(ctx, newShipment()); !errors.Is(err, ErrOutcomeUnknown) {
				t.Fatalf("unkeyed create: %v, want ErrOutcomeUnknown", err)
			}
		})
	}
}

// TestWritesWithTheDatabaseGone: with the server unreachable, every kind of
// write fails with ErrUnavailable, whichever step met it.
func TestWritesWithTheDatabaseGone(t *testing.T) {
	proxy, dsn := testdb.NewProxy(t, testdb.New(t))
	s, err := Open(dsn, PoolOptions{MaxOpenConns: 2, MaxIdleConns: 2, ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	sh, err := s.CreateShipment(ctx, newShipment())
	if err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	writes := map[string]func() error{
		"create shipment": func() error { _, err := s.CreateShipment(ctx, newShipment()); return err },
		"update shipment": func() error {
			_, err := s.UpdateShipment(ctx, sh.ID, func(*Shipment) ([]string, error) { return nil, nil })
			return err
		},
		"delete shipment": func() error { return s.DeleteShipment(ctx, sh.ID) },
		"add event":       func() error { return s.AddEvent(ctx, &ShipmentEvent{ShipmentID: sh.ID, Status: StatusInTransit}) },
		"create address":  func() error { return s.CreateAddress(ctx, newShipment().FromAddress) },
		"delete address":  func() error { return s.DeleteAddress(ctx, uuid.New()) },
	}
	for name, write := range writes {
		if err := write(); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", name, err)
		}
	}
	s.Close()
	if err := writes["create shipment"](); !Unavailable(err) {
		t.Errorf("closed store: %v, want unavailable", err)
	}
}

// TestPurgeIdempotencyKeys deletes expired records only, at most limit at
// a time.
func TestPurgeIdempotencyKeys(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	req := idempotentRequest(t, s, "k")
	for _, key := range []string{"a", "b", "c", "live"} {
		req.Key = key
		if _, err := s.Idempotent(ctx, req, createShipment(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.db.Exec(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key <> 'live'`).Error; err != nil {
		t.Fatal(err)
	}
	for _, want := range []int64{2, 1, 0} {
		if n, err := s.PurgeIdempotencyKeys(ctx, 2); err != nil || n != want {
			t.Fatalf("purged %d, %v; want %d", n, err, want)
		}
	}
	if n := count(t, s, `SELECT count(*) FROM idempotency_keys WHERE key = 'live'`); n != 1 {
		t.Errorf("the live record was purged")
	}
}
