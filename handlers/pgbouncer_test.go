package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waybill/waybill/dbhealth"
	"github.com/waybill/waybill/handlers"
	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

// TestThroughPgBouncer runs the API through a real PgBouncer (1.18, as
// Debian ships it) in transaction pooling, with DB_PGBOUNCER=true and
// fewer server connections than the application's pool: every route's
// statements work without named prepared statements or session state,
// the session settings Waybill needs hold as the database's defaults
// (PgBouncer refuses them as startup parameters), an Idempotency-Key still
// yields one shipment under concurrent retries, and the dashboard refresh
// (transaction-scoped advisory lock) works.
func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func TestThroughPgBouncer(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.New(t)
	name := testdb.Name(dsn)
	bouncer := testdb.PgBouncer(t, dsn, 2)
	opts := models.PoolOptions{MaxOpenConns: 8, MaxIdleConns: 8, StatementTimeout: 7 * time.Second, PgBouncer: true}

	// Without DB_PGBOUNCER, the startup parameters are refused.
	plain := openStore(t, bouncer.URL(name), models.PoolOptions{MaxOpenConns: 1, StatementTimeout: 7 * time.Second})
	if err := plain.DB().PingContext(ctx); err == nil || !strings.Contains(err.Error(), "unsupported startup parameter") {
		t.Errorf("through PgBouncer with session parameters: %v, want PgBouncer's refusal", err)
	}

	// waybill migrate pins them as the database's (on MIGRATE_DATABASE_URL,
	// the server itself: connections PgBouncer already holds would keep
	// their settings).
	if err := openStore(t, dsn, opts).PinSettings(ctx, opts); err != nil {
		t.Fatal(err)
	}
	store := openStore(t, bouncer.URL(name), opts)
	for param, want := range map[string]string{"jit": "off", "statement_timeout": "7s", "TimeZone": "UTC"} {
		var got string
		if err := store.DB().QueryRowContext(ctx, "SHOW "+param).Scan(&got); err != nil || got != want {
			t.Errorf("SHOW %s through PgBouncer = %q (%v), want %q", param, got, err, want)
		}
	}

	// /health shows PgBouncer's pools, and the capacity plan counts its
	// server connections (a pool of 2), not the instances' pools (8 each).
	f := fixtureOf(store, func(o *handlers.Options) {
		o.AppInstances = 3
		o.Health = dbhealth.New(store, dbhealth.Options{Instances: 3, BouncerAdminURL: bouncer.AdminURL()})
	})
	_, key := f.key(t, models.ScopeWrite)
	if code, body := f.health(t, key); code != 200 {
		t.Errorf("/health = %d %v", code, body)
	} else {
		db := database(body)
		plan, _ := db["capacity"].(map[string]any)
		if plan["pooled_by"] != "pgbouncer" || plan["planned_app_connections"] != 2.0 || plan["app_instances"] != 3.0 {
			t.Errorf("capacity behind PgBouncer = %v, want pooled_by pgbouncer, 2 planned, 3 instances", plan)
		}
		pgb, _ := db["pgbouncer"].(map[string]any)
		found := false
		for _, p := range asList(pgb["pools"]) {
			pool, _ := p.(map[string]any)
			if pool["database"] == name && pool["pool_mode"] == "transaction" {
				found = true
				for _, k := range []string{"cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used", "maxwait_seconds"} {
					if _, ok := pool[k].(float64); !ok {
						t.Errorf("pool %s: %s = %v", name, k, pool[k])
					}
				}
			}
		}
		if !found || pgb["default_pool_size"] != 2.0 {
			t.Errorf("/health's pgbouncer = %v, want the pool of %s in transaction mode, default_pool_size 2", pgb, name)
		}
	}

	// Writes and reads of every kind, several at once over two server
	// connections.
	var wg sync.WaitGroup
	ids := make([]string, 12)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, sh := f.send(t, http.MethodPost, "/v1/shipments", key, newShipment, "Idempotency-Key", fmt.Sprintf("bouncer-%d", i))
			if rec.Code != http.StatusCreated {
				t.Errorf("create %d: %d %s", i, rec.Code, rec.Body)
				return
			}
			ids[i] = sh["id"].(string)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	path := "/v1/shipments/" + ids[0]
	rec, _ := f.send(t, http.MethodPost, "/v1/shipments", key, newShipment, "Idempotency-Key", "bouncer-0")
	if rec.Code != http.StatusCreated || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Errorf("a retry with the same key: %d, replayed %q", rec.Code, rec.Header().Get("Idempotent-Replayed"))
	}
	get, _ := f.send(t, http.MethodGet, path, key, "")
	patched, body := f.send(t, http.MethodPatch, path, key, `{"status": "in_transit"}`, "If-Match", get.Header().Get("ETag"))
	if patched.Code != 200 || body["status"] != "in_transit" {
		t.Errorf("patch: %d %s", patched.Code, patched.Body)
	}
	if rec, _ := f.send(t, http.MethodPost, path+"/events", key, `{"status": "delivered"}`); rec.Code != http.StatusCreated {
		t.Errorf("event: %d %s", rec.Code, rec.Body)
	}
	for _, p := range []string{path + "/events", "/v1/shipments?page_size=5&status=unknown", "/v1/addresses?page_size=5",
		"/v1/analytics/dashboard?start_date=2026-01-01&end_date=2026-12-31"} {
		if rec, _ := f.send(t, http.MethodGet, p, key, ""); rec.Code != 200 {
			t.Errorf("GET %s: %d %s", p, rec.Code, rec.Body)
		}
	}
	if rec, _ := f.send(t, http.MethodDelete, "/v1/shipments/"+ids[1], key, ""); rec.Code != http.StatusNoContent {
		t.Errorf("delete: %d %s", rec.Code, rec.Body)
	}
	if _, err := store.RefreshDashboard(ctx, nil); err != nil {
		t.Errorf("dashboard refresh: %v", err)
	}

	// Concurrent retries of one key: one shipment.
	before := countShipments(t, f)
	codes := make(chan int, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, _ := f.send(t, http.MethodPost, "/v1/shipments", key, newShipment, "Idempotency-Key", "bouncer-race")
			codes <- rec.Code
		}()
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusCreated && code != http.StatusConflict {
			t.Errorf("a concurrent retry answered %d, want 201 or 409", code)
		}
	}
	if n := countShipments(t, f); n != before+1 {
		t.Errorf("%d shipments from 8 concurrent requests with one Idempotency-Key, want 1", n-before)
	}
}

// TestEveryRouteThroughPgBouncer: 50 concurrent clients each walk every
// kind of /v1 route (writes, reads, lists with cursors, the dashboard,
// rollups, batches, the CSV export, the tracker, the audit trail) through
// a real PgBouncer in transaction pooling with 4 server connections; every
// answer is the expected status and agrees with the document, none is a
// 5xx, and no prepared-statement error shows in Waybill's or PgBouncer's
// log.
func TestEveryRouteThroughPgBouncer(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.New(t)
	bouncer := testdb.PgBouncer(t, dsn, 4)
	opts := models.PoolOptions{MaxOpenConns: 16, MaxIdleConns: 16, StatementTimeout: 10 * time.Second, PgBouncer: true}
	if err := openStore(t, dsn, opts).PinSettings(ctx, opts); err != nil {
		t.Fatal(err)
	}
	f := fixtureOf(openStore(t, bouncer.URL(testdb.Name(dsn)), opts))
	_, key := f.key(t, models.ScopeWrite)
	_, admin := f.key(t, models.ScopeAdmin)

	const clients = 50
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			expect := func(what string, rec *httptest.ResponseRecorder, status int) bool {
				if rec.Code != status {
					t.Errorf("client %d, %s: %d %.300s, want %d", i, what, rec.Code, rec.Body, status)
					return false
				}
				return true
			}
			tracking := fmt.Sprintf("PGB%05d", i)
			body := strings.Replace(newShipment, `"reference": "order-1",`, fmt.Sprintf(`"reference": "pgb-%d", "tracking_code": %q,`, i, tracking), 1)
			rec, sh := f.send(t, http.MethodPost, "/v1/shipments", key, body, "Idempotency-Key", fmt.Sprintf("pgb-%d", i))
			if !expect("create shipment", rec, http.StatusCreated) {
				return
			}
			path := "/v1/shipments/" + sh["id"].(string)
			get, _ := f.send(t, http.MethodGet, path, key, "")
			expect("get shipment", get, http.StatusOK)
			rec, _ = f.send(t, http.MethodPatch, path, key, `{"status": "in_transit"}`, "Content-Type", "application/merge-patch+json", "If-Match", get.Header().Get("ETag"))
			expect("patch shipment", rec, http.StatusOK)
			for _, st := range []string{"in_transit", "out_for_delivery", "delivered"} {
				rec, _ = f.send(t, http.MethodPost, path+"/events", key, fmt.Sprintf(`{"status": %q}`, st))
				expect("add event", rec, http.StatusCreated)
			}
			rec, page := f.send(t, http.MethodGet, path+"/events?page_size=2", key, "")
			if expect("list events", rec, http.StatusOK) && page["next_cursor"] != nil {
				rec, _ = f.send(t, http.MethodGet, path+"/events?page_size=2&cursor="+page["next_cursor"].(string), key, "")
				expect("events by cursor", rec, http.StatusOK)
			}
			rec, _ = f.send(t, http.MethodPut, path+"/metrics", key, `{"base_rate": 10.99, "tracking_updates_count": 3}`)
			expect("put metrics", rec, http.StatusCreated)
			rec, _ = f.send(t, http.MethodGet, path+"/metrics", key, "")
			expect("get metrics", rec, http.StatusOK)
			rec, _ = f.send(t, http.MethodGet, "/v1/trackers/"+tracking, key, "")
			expect("tracker", rec, http.StatusOK)
			rec, list := f.send(t, http.MethodGet, "/v1/shipments?page_size=5&status=delivered,in_transit", key, "")
			if expect("list shipments", rec, http.StatusOK) && list["next_cursor"] != nil {
				rec, _ = f.send(t, http.MethodGet, "/v1/shipments?page_size=5&cursor="+list["next_cursor"].(string), key, "")
				expect("shipments by cursor", rec, http.StatusOK)
			}
			rec, addr := f.send(t, http.MethodPost, "/v1/addresses", key, `{"street1": "1 Main St", "city": "Springfield", "zip": "62701"}`)
			if expect("create address", rec, http.StatusCreated) {
				rec, _ = f.send(t, http.MethodPatch, "/v1/addresses/"+addr["id"].(string), key, `{"city": "Portland"}`, "Content-Type", "application/merge-patch+json")
				expect("patch address", rec, http.StatusOK)
			}
			day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format(models.DateFormat)
			rec, sum := f.send(t, http.MethodPost, "/v1/analytics/summaries", key, fmt.Sprintf(`{"date": %q, "period": "daily"}`, day))
			if expect("create summary", rec, http.StatusCreated) {
				rec, _ = f.send(t, http.MethodDelete, "/v1/analytics/summaries/"+sum["id"].(string), key, "")
				expect("delete summary", rec, http.StatusNoContent)
			}
			rec, _ = f.send(t, http.MethodPost, "/v1/analytics/carrier-performance", key, fmt.Sprintf(`{"date": %q, "carrier": "USPS", "service": "Priority"}`, day))
			expect("create carrier performance", rec, http.StatusCreated)
			rec, _ = f.send(t, http.MethodPost, "/v1/system-metrics", key, `{"active_connections": 3}`)
			expect("create system metric", rec, http.StatusCreated)
			for _, p := range []string{"/v1/addresses?page_size=5", "/v1/analytics/summaries?page_size=5", "/v1/analytics/carrier-performance?page_size=5",
				"/v1/system-metrics?page_size=5", "/v1/analytics/dashboard?start_date=2026-11-01&end_date=2026-12-31", "/v1/me"} {
				rec, _ = f.send(t, http.MethodGet, p, key, "")
				expect("GET "+p, rec, http.StatusOK)
			}
			rec, _ = f.send(t, http.MethodPost, "/v1/analytics/rollups", key, fmt.Sprintf(`{"start_date": %q, "end_date": %q}`, day, day))
			expect("rollup", rec, http.StatusOK)
			rec, batch := f.send(t, http.MethodPost, "/v1/batches", key, `{"shipments": [`+minimalShipment+`, {"from_address_id": "bad"}]}`)
			if expect("batch", rec, http.StatusCreated) {
				rec, _ = f.send(t, http.MethodGet, "/v1/batches/"+batch["id"].(string), key, "")
				expect("get batch", rec, http.StatusOK)
			}
			req := httptest.NewRequest(http.MethodGet, "/v1/shipments.csv?status=delivered", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			csv := httptest.NewRecorder()
			f.e.ServeHTTP(csv, req)
			expect("CSV export", csv, http.StatusOK)
			rec, _ = f.send(t, http.MethodGet, "/v1/activity?page_size=5", admin, "")
			expect("activity", rec, http.StatusOK)
			rec, _ = f.send(t, http.MethodDelete, path, key, "")
			expect("delete shipment", rec, http.StatusNoContent)
		}()
	}
	wg.Wait()

	pgbLog, err := os.ReadFile(filepath.Join(bouncer.Dir, "pgbouncer.log"))
	if err != nil {
		t.Fatal(err)
	}
	for name, log := range map[string]string{"Waybill's": f.logs.String(), "PgBouncer's": string(pgbLog)} {
		if strings.Contains(log, "prepared statement") {
			t.Errorf("%s log mentions a prepared statement:\n%.2000s", name, log)
		}
	}
}
