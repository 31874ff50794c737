package handlers_test

import (
	"context"
	"database/sql"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/waybill/waybill/models"
)

// health gets /health with key and returns its status code and body.
func (f *fixture) health(t *testing.T, key string) (int, map[string]any) {
	t.Helper()
	start := time.Now()
	rec, body := f.send(t, http.MethodGet, "/health", key, "")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("/health took %s, want < 2s", took)
	}
	return rec.Code, body
}

func database(body map[string]any) map[string]any {
	db, _ := body["database"].(map[string]any)
	return db
}

func TestHealthReport(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeRead)

	code, body := f.health(t, "")
	if code != 200 || len(body) != 1 || body["status"] != "healthy" {
		t.Errorf("anonymous /health = %d %v, want 200 and only the status", code, body)
	}
	code, body = f.health(t, "wb_wrong")
	if code != 200 || len(body) != 1 {
		t.Errorf("/health with an unknown key = %d %v, want 200 and only the status", code, body)
	}

	code, body = f.health(t, key)
	db := database(body)
	if code != 200 || body["status"] != "healthy" || db["status"] != "healthy" || db["connectivity"] != "connected" ||
		db["orm_available"] != true || db["pool_max"] != float64(4) || body["version"] == nil || body["uptime_seconds"] == nil {
		t.Fatalf("/health = %d %v", code, body)
	}
	if ping, ok := db["ping_ms"].(float64); !ok || ping <= 0 || ping > 1000 {
		t.Errorf("ping_ms = %v", db["ping_ms"])
	}
	if r, ok := db["replicas"].([]any); !ok || len(r) != 0 {
		t.Errorf("replicas = %v, want []", db["replicas"])
	}
	// The capacity plan is the server's own figures: max_connections and
	// the reserved ones, one instance × (pool 4 + the health connection +
	// the key revocation listener).
	var maxConns, reserved int
	if err := f.store.DB().QueryRow(`SELECT current_setting('max_connections')::int,
		current_setting('superuser_reserved_connections')::int + coalesce(current_setting('reserved_connections', true), '0')::int`).
		Scan(&maxConns, &reserved); err != nil {
		t.Fatal(err)
	}
	cp := db["capacity"].(map[string]any)
	if cp["server_max_connections"] != float64(maxConns) || cp["reserved_connections"] != float64(reserved) ||
		cp["app_instances"] != float64(1) || cp["planned_app_connections"] != float64(6) || cp["status"] != "ok" ||
		cp["server_connections"].(float64) < 1 {
		t.Errorf("capacity = %v (max_connections %d, reserved %d)", cp, maxConns, reserved)
	}
}

// TestHealthPoolFiguresMove holds pool connections and checks /health
// reports them live, and that waiting for the pool marks it saturated.
func TestHealthPoolFiguresMove(t *testing.T) {
	f := newFixture(t, true)
	_, key := f.key(t, models.ScopeRead)
	ctx := context.Background()
	pool := f.store.DB()
	var held []*sql.Conn
	release := func() {
		for _, c := range held {
			c.Close()
		}
		held = nil
	}
	defer release()
	for range 3 {
		c, err := pool.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	_, body := f.health(t, key)
	db := database(body)
	if db["pool_used"] != float64(3) || db["pool_utilization_percent"] != float64(75) || db["pool_size"].(float64) < 3 {
		t.Errorf("with 3 of 4 held: %v", db)
	}
	release()
	_, body = f.health(t, key)
	db = database(body)
	if db["pool_used"] != float64(0) || db["pool_free"].(float64) < 3 || db["pool_utilization_percent"] != float64(0) {
		t.Errorf("after release: %v", db)
	}
	if body["status"] != "healthy" || db["wait_count"] != float64(0) {
		t.Errorf("before any wait: %v", body)
	}

	// Exhaust the pool: /health still answers at once (its own
	// connection), and a fifth query waits.
	for range 4 {
		c, err := pool.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	code, body := f.health(t, key)
	if code != 200 || database(body)["pool_used"] != float64(4) {
		t.Errorf("with the pool exhausted: %d %v", code, body)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var one int
		_ = pool.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	}()
	// database/sql counts a wait when it starts.
	for start := time.Now(); pool.Stats().WaitCount == 0; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the fifth query never waited for the pool")
		}
	}
	release()
	wg.Wait()
	_, body = f.health(t, key)
	db = database(body)
	if db["wait_count"].(float64) < 1 || db["wait_duration_ms"].(float64) <= 0 || body["status"] != "degraded" || db["status"] != "degraded" {
		t.Errorf("after a pool wait: status %v, %v; want degraded with wait_count ≥ 1", body["status"], db)
	}
}

func TestHealthWithoutDatabase(t *testing.T) {
	f := newFixture(t, false)
	code, body := f.health(t, "wb_any")
	if code != 200 || body["status"] != "degraded" || len(body) != 1 {
		t.Errorf("/health without a database = %d %v, want 200 degraded", code, body)
	}
}
