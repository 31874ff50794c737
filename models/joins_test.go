package models

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/waybill/waybill/testdb"
)

// TestKeepJoinOrderIsPerStatement reads join_collapse_limit inside a
// joined read and after it, on a pool of one connection: 1 for the read,
// the server's default for the session afterwards; with prepared
// statements and without (as under PgBouncer).
func TestKeepJoinOrderIsPerStatement(t *testing.T) {
	dsn := testdb.New(t)
	for _, pgBouncer := range []bool{false, true} {
		s, err := Open(dsn, PoolOptions{MaxOpenConns: 1, MaxIdleConns: 1, ConnectTimeout: 5 * time.Second, PgBouncer: pgBouncer})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		checkKeepJoinOrder(t, s, pgBouncer)
	}
}

func checkKeepJoinOrder(t *testing.T, s *Store, pgBouncer bool) {
	t.Helper()
	ctx := context.Background()
	for range 2 { // a second time on the same session
		// The setting is read into a column of a shipment's.
		var got []Shipment
		n, err := s.findJoined(ctx, `SELECT current_setting('join_collapse_limit') AS status`, nil, &got, false)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 || got[0].Status != "1" {
			t.Errorf("inside the read: %d rows, join_collapse_limit %v, want 1 row, 1", n, got)
		}
		// A read by key keeps the order only where statements are not
		// prepared.
		want := "8"
		if pgBouncer {
			want = "1"
		}
		got = nil
		if _, err := s.findJoined(ctx, `SELECT current_setting('join_collapse_limit') AS status`, nil, &got, true); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Status != want {
			t.Errorf("inside a read by key (PgBouncer %v): %v, want join_collapse_limit %s", pgBouncer, got, want)
		}
		after, err := queryRow[string](ctx, s.pool, statement{name: "show", sql: `SHOW join_collapse_limit`})
		if err != nil {
			t.Fatal(err)
		}
		if after != "8" {
			t.Errorf("after the read: join_collapse_limit %q, want the default 8", after)
		}
	}
	// A shipment that does not exist is no row, through the same path.
	if _, err := s.Shipment(ctx, uuid.New()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Shipment(unknown id) = %v, want ErrNotFound", err)
	}
}
