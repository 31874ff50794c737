package app

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

// TestThreeInstances runs three Waybill processes against one database,
// as a deploy with a load balancer does: migrations started by all three
// at once apply each migration once; a key revoked through any process is
// refused by all three within a second, however long they cache keys; one
// Idempotency-Key sent to all three at once makes one shipment; and
// dashboard refreshes started by all three at once do the work once.
func TestThreeInstances(t *testing.T) {
	dbURL := testdb.Empty(t)
	env := map[string]string{"DATABASE_URL": dbURL, "APP_INSTANCES": "3", "AUTH_CACHE_TTL": "1m"}

	// Migrations at start, all three at once.
	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _, _ = run(t, env, "migrate", "up")
		}()
	}
	wg.Wait()
	db := testdb.Open(t, dbURL)
	var applied, distinct int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0 AND is_applied`).
		Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(codes) != "[0 0 0]" || applied != len(migrationFiles(t)) || distinct != applied {
		t.Fatalf("three concurrent migrate up: exit %v, %d migrations applied (%d distinct), want 0 0 0 and each of %d once",
			codes, applied, distinct, len(migrationFiles(t)))
	}

	// A day changed behind the dashboard is recomputed once, however many
	// instances' refreshers run at once (before the servers start, whose
	// own refreshers would take the mark first).
	if days := refreshedByThree(t, dbURL); len(days) != 1 {
		t.Errorf("three concurrent refreshes wrote days %v, want today's once", days)
	}

	servers := make([]*server, 3)
	for i := range servers {
		servers[i] = startWaybill(t, env)
	}
	code, stdout, stderr := run(t, env, "apikey", "create", "--name", "fleet", "--scope", "write")
	if code != 0 {
		t.Fatalf("apikey create: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	key, id := lines[len(lines)-1], strings.Fields(lines[0])[3]

	// One Idempotency-Key, one request to each instance at once: one
	// shipment, and every answer is it (or a 409 while the first runs).
	body := `{"from_address": {"street1": "1 Main St", "city": "Springfield", "zip": "62701"},
		"to_address": {"street1": "2 Rue de Rivoli", "city": "Paris", "zip": "75001", "country": "FR"}}`
	count := func() int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM shipments`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	statuses := make([]int, 3)
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/shipments", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "fleet-1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("POST to instance %d: %v", i, err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	if n := count() - before; n != 1 {
		t.Errorf("%d shipments from one Idempotency-Key sent to three instances (answers %v), want 1", n, statuses)
	}
	for i, st := range statuses {
		if st != http.StatusCreated && st != http.StatusConflict {
			t.Errorf("instance %d answered %d, want 201 or 409", i, st)
		}
	}

	// Every instance has the key cached; a revocation reaches them all.
	path := "/v1/shipments/00000000-0000-0000-0000-000000000001"
	for i, s := range servers {
		if r := s.get(t, path, key); r.status != http.StatusNotFound {
			t.Fatalf("instance %d with the key: %d, want 404", i, r.status)
		}
	}
	if code, _, stderr := run(t, env, "apikey", "revoke", id); code != 0 {
		t.Fatalf("revoke: exit %d: %s", code, stderr)
	}
	revoked := time.Now()
	for i, s := range servers {
		for s.get(t, path, key).status != http.StatusUnauthorized {
			if time.Since(revoked) > time.Second {
				t.Fatalf("instance %d still takes the revoked key 1 s after its revocation", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

}

// refreshedByThree materializes today with a shipment, marks it with a
// second one, and runs three dashboard refreshes at once, each on a store
// of its own as three instances' refreshers would; it returns every day
// they wrote, together. Whatever their timing, one of them takes the mark:
// the others wait for none (the lock is taken) or find no mark left.
func refreshedByThree(t *testing.T, dbURL string) []string {
	t.Helper()
	ctx := context.Background()
	stores := make([]*models.Store, 3)
	for i := range stores {
		s, err := models.Open(dbURL, models.PoolOptions{MaxOpenConns: 2, MaxIdleConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	ship := func() {
		sh := models.Shipment{Mode: "test", Status: models.StatusUnknown, Currency: "USD",
			FromAddress: &models.Address{Street1: "1 Main St", City: "Springfield", Zip: "62701", Country: "US"},
			ToAddress:   &models.Address{Street1: "2 Rue de Rivoli", City: "Paris", Zip: "75001", Country: "FR"}}
		if _, err := stores[0].CreateShipment(ctx, &sh); err != nil {
			t.Fatal(err)
		}
	}
	ship()
	today := models.Date{Time: time.Now().UTC().Truncate(24 * time.Hour)}
	if _, err := stores[0].RefreshDashboard(ctx, []models.Date{today}); err != nil {
		t.Fatal(err)
	}
	ship()
	var mu sync.Mutex
	var written []string
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			days, err := s.RefreshDashboard(ctx, nil)
			if err != nil {
				t.Errorf("refresh: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, d := range days {
				written = append(written, d.Format(models.DateFormat))
			}
		}()
	}
	wg.Wait()
	return written
}
