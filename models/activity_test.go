package models

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

func countActivities(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.DB().QueryRow(`SELECT count(*) FROM user_activities`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestActivityInTheWritesTransaction: a write that rolls back, whether
// its caller's transaction fails after it or the database refuses it,
// leaves no audit row; a write without an actor records nothing; one
// that commits has exactly its row.
func TestActivityInTheWritesTransaction(t *testing.T) {
	s := newStore(t)
	keyID := uuid.New()
	ctx := WithActor(context.Background(), Actor{APIKeyID: &keyID, APIKeyName: "k", RequestID: "req-1",
		ClientIP: "192.0.2.7", Method: "POST", Endpoint: "/v1/addresses"})
	errBoom := errors.New("boom")

	// Rolled back after the write succeeded.
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		if err := s.CreateAddress(withTx(ctx, tx), &Address{Street1: "a", City: "b", Zip: "c", Country: "US"}); err != nil {
			return err
		}
		if n := countActivities(t, s); n != 0 {
			t.Errorf("an uncommitted write's row is visible outside its transaction: %d rows", n)
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("inTx: %v", err)
	}
	if n := countActivities(t, s); n != 0 {
		t.Errorf("after a rolled-back create: %d audit rows, want 0", n)
	}

	// Committed.
	a := Address{Street1: "a", City: "b", Zip: "c", Country: "US"}
	if err := s.CreateAddress(ctx, &a); err != nil {
		t.Fatal(err)
	}
	rows, _, err := s.Activities(context.Background(), ActivityFilter{Page: Page{Size: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("after one create: %d audit rows, want 1", len(rows))
	}
	r := rows[0]
	if r.Action != "address.create" || *r.ResourceType != "address" || *r.ResourceID != a.ID.String() ||
		*r.APIKeyID != keyID || *r.APIKeyName != "k" || *r.RequestID != "req-1" || *r.IPAddress != "192.0.2.7" ||
		r.Method != "POST" || r.Endpoint != "/v1/addresses" || *r.StatusCode != 201 || r.CreatedAt.IsZero() {
		t.Errorf("audit row %+v", r)
	}

	// Refused by the database: the address is still used by a shipment.
	sh := Shipment{FromAddressID: a.ID, ToAddressID: a.ID, Status: StatusUnknown, Mode: "test", Currency: "USD"}
	if _, err := s.CreateShipment(context.Background(), &sh); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAddress(ctx, a.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete of a used address: %v, want a conflict", err)
	}
	if n := countActivities(t, s); n != 1 {
		t.Errorf("after a refused delete: %d audit rows, want 1", n)
	}

	// No actor (seed, the batch worker): nothing recorded.
	if err := s.CreateAddress(context.Background(), &Address{Street1: "a", City: "b", Zip: "c", Country: "US"}); err != nil {
		t.Fatal(err)
	}
	if n := countActivities(t, s); n != 1 {
		t.Errorf("after a write without an actor: %d audit rows, want 1", n)
	}
}

// TestActivityOfRevocation: waybill apikey revoke records api_key.revoke,
// naming the key, with no API key and no HTTP status.
func TestActivityOfRevocation(t *testing.T) {
	s := newStore(t)
	k, _, err := s.CreateAPIKey(context.Background(), "ci", ScopeAdmin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithActor(context.Background(), Actor{Method: "CLI", Endpoint: "waybill apikey revoke"})
	if _, err := s.RevokeAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	action := "api_key.revoke"
	rows, _, err := s.Activities(context.Background(), ActivityFilter{Page: Page{Size: 10}, Action: &action})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("%d api_key.revoke rows, want 1", len(rows))
	}
	r := rows[0]
	if *r.ResourceID != k.ID.String() || r.APIKeyID != nil || r.StatusCode != nil || r.Method != "CLI" ||
		r.Endpoint != "waybill apikey revoke" || string(r.ExtraMetadata) != `{"name": "ci"}` {
		t.Errorf("revocation row %+v (metadata %s)", r, r.ExtraMetadata)
	}
}

// TestPruneActivities: rows older than the retention go, oldest first and
// a batch at a time; newer ones stay; the background loop prunes after its
// delay.
func TestPruneActivities(t *testing.T) {
	s := newStore(t)
	ctx := WithActor(context.Background(), Actor{Method: "POST", Endpoint: "/v1/addresses"})
	for range 6 {
		if err := s.CreateAddress(ctx, &Address{Street1: "a", City: "b", Zip: "c", Country: "US"}); err != nil {
			t.Fatal(err)
		}
	}
	// Three rows 100 days old, one 89 days old.
	if _, err := s.DB().Exec(`UPDATE user_activities SET created_at = now() - interval '100 days'
		WHERE id IN (SELECT id FROM user_activities ORDER BY id LIMIT 3)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec(`UPDATE user_activities SET created_at = now() - interval '89 days'
		WHERE id = (SELECT id FROM user_activities WHERE created_at > now() - interval '1 day' ORDER BY id LIMIT 1)`); err != nil {
		t.Fatal(err)
	}
	const retention = 90 * 24 * time.Hour
	var got []int64
	for range 3 {
		n, err := s.PruneActivities(context.Background(), retention, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if got[0] != 2 || got[1] != 1 || got[2] != 0 {
		t.Errorf("pruned %v in batches of 2, want [2 1 0]", got)
	}
	if n := countActivities(t, s); n != 3 {
		t.Errorf("%d rows left, want the 3 younger than the retention", n)
	}

	// The loop: its first round runs at once and reports the count.
	if _, err := s.DB().Exec(`UPDATE user_activities SET created_at = now() - interval '100 days'`); err != nil {
		t.Fatal(err)
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reported := make(chan int64, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.RunActivityRetention(loopCtx, retention, 0, time.Hour, 2, func(n int64, err error) {
			if err != nil {
				t.Errorf("retention round: %v", err)
			}
			select {
			case reported <- n:
			default:
			}
		})
	}()
	select {
	case n := <-reported:
		if n != 3 {
			t.Errorf("the first round pruned %d, want 3", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the retention loop reported nothing")
	}
	cancel()
	<-done
	if n := countActivities(t, s); n != 0 {
		t.Errorf("%d rows left after the loop, want 0", n)
	}
	// A retention of 0 keeps everything and returns at once.
	s.RunActivityRetention(context.Background(), 0, 0, time.Hour, 2, nil)
}
