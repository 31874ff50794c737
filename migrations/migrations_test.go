package migrations_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"

	"github.com/waybill/waybill/migrations"
	"github.com/waybill/waybill/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func provider(t *testing.T, db *sql.DB) *goose.Provider {
	t.Helper()
	p, err := migrations.NewProvider(db, false)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("exec %.60q: %v", s, err)
		}
	}
}

func head(t *testing.T, p *goose.Provider) int64 {
	t.Helper()
	srcs := p.ListSources()
	return srcs[len(srcs)-1].Version
}

// lines runs query, whose rows are one text column each, and returns them.
func lines(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// schema describes the nine adopted tables and Waybill's own: every column
// with its type, nullability and default, every index and every constraint.
func schema(t *testing.T, db *sql.DB) []string {
	t.Helper()
	return lines(t, db, `
		SELECT format('%s.%s %s null=%s default=%s', c.relname, a.attname,
			format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
		FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
		  AND c.relname NOT IN ('goose_db_version', 'alembic_version', 'user_activities', 'batch_operations')
		UNION ALL
		SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'
		  AND tablename NOT IN ('goose_db_version', 'alembic_version', 'user_activities', 'batch_operations')
		UNION ALL
		SELECT format('%s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) FROM pg_constraint
		WHERE connamespace = 'public'::regnamespace
		  AND conrelid::regclass::text NOT IN ('goose_db_version', 'alembic_version', 'user_activities', 'batch_operations')
		UNION ALL
		SELECT format('trigger %s on %s', tgname, tgrelid::regclass) FROM pg_trigger WHERE NOT tgisinternal
		ORDER BY 1`)
}

func TestUpDownUp(t *testing.T) {
	ctx := context.Background()
	db := testdb.Open(t, testdb.Empty(t))
	p := provider(t, db)
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	first := schema(t, db)
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down to 0: %v", err)
	}
	if got := schema(t, db); len(got) != 0 {
		t.Fatalf("after down to 0, schema objects remain: %v", got)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if diff := cmp.Diff(first, schema(t, db)); diff != "" {
		t.Errorf("schema after up/down/up differs from the first up (-first +second):\n%s", diff)
	}
	// Every migration also steps down and up on its own.
	for v := head(t, p); v > 0; v-- {
		if _, err := p.Down(ctx); err != nil {
			t.Fatalf("down from %d: %v", v, err)
		}
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up after stepping down: %v", err)
	}
}

// predecessorRows inserts rows as the predecessor wrote them: naive UTC
// wall-clock times with microseconds, float money, json text.
const predecessorRows = `
INSERT INTO addresses (id, created_at, updated_at, street1, city, zip, country, verifications)
VALUES ('00000000-0000-0000-0000-00000000000a', '2025-03-09 06:59:59.123456', '2025-11-02 05:30:00.000001',
        '1 Main St', 'Springfield', '12345', 'US', '{"zip4": {"success": true}}'),
       ('00000000-0000-0000-0000-00000000000b', '2024-12-31 23:59:59.999999', '2024-12-31 23:59:59.999999',
        '2 Side St', 'Portland', '97201', 'US', NULL);
INSERT INTO parcels (id, created_at, updated_at, weight, mass_unit, distance_unit)
VALUES ('00000000-0000-0000-0000-0000000000c0', '2025-06-30 12:00:00.5', '2025-06-30 12:00:00.5', 16.5, 'oz', 'in');
INSERT INTO customs_infos (id, created_at, updated_at, contents_type, customs_certify, non_delivery_option, restriction_type, customs_items)
VALUES ('00000000-0000-0000-0000-0000000000d0', '2025-01-01 00:00:00', '2025-01-02 00:00:00', 'gift', true, 'return', 'none',
        '[{"value": "12.10", "quantity": 1}]');
INSERT INTO shipments (id, easypost_id, status, created_at, updated_at, mode, from_address_id, to_address_id, parcel_id,
        customs_info_id, rates_data, base_cost, total_cost, currency, delivery_date, est_delivery_date)
VALUES ('00000000-0000-0000-0000-000000000001', 'shp_1', 'delivered', '2025-03-09 07:00:00.000001', '2025-03-10 08:00:00',
        'test', '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-00000000000b',
        '00000000-0000-0000-0000-0000000000c0', '00000000-0000-0000-0000-0000000000d0',
        '[{"id": "rate_1", "rate": "12.10", "carrier": "USPS"}]', 12.1, 0.1, 'USD',
        '2025-03-12 18:45:01.654321', '2025-03-12 00:00:00'),
       ('00000000-0000-0000-0000-000000000002', 'shp_2', 'in_transit', '2025-10-26 01:30:00', '2025-10-26 01:30:00',
        'test', '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-00000000000b',
        NULL, NULL, NULL, 7.355, 2.675, 'USD', NULL, NULL);
INSERT INTO shipment_events (id, shipment_id, created_at, status, event_datetime, tracking_location)
VALUES ('00000000-0000-0000-0000-0000000000e0', '00000000-0000-0000-0000-000000000001',
        '2025-03-12 18:45:02', 'delivered', '2025-03-12 18:45:01.654321', '{"city": "Portland"}');
INSERT INTO shipment_metrics (id, shipment_id, created_at, currency, tracking_updates_count, exception_events_count,
        delivery_attempts, base_rate, total_cost)
VALUES ('00000000-0000-0000-0000-0000000000f0', '00000000-0000-0000-0000-000000000001', '2025-03-12 19:00:00',
        'USD', 3, 0, 1, 10.99, 12.1);
INSERT INTO analytics_summaries (id, date, period, created_at, total_shipments, successful_shipments, failed_shipments,
        total_cost, currency)
VALUES ('00000000-0000-0000-0000-000000000a01', '2025-03-09', 'daily', '2025-03-10 00:05:00', 1, 1, 0, 12.1, 'USD');
INSERT INTO carrier_performance (id, carrier, service, date, created_at, total_shipments, on_time_deliveries,
        delayed_deliveries, failed_deliveries, total_cost, currency)
VALUES ('00000000-0000-0000-0000-000000000b01', 'USPS', 'Priority', '2025-03-09', '2025-03-10 00:05:00', 1, 1, 0, 0, 12.1, 'USD');
INSERT INTO system_metrics (id, "timestamp", active_connections, total_requests, db_connections_active,
        db_connections_idle, db_query_count, db_slow_queries, easypost_requests, easypost_errors)
VALUES ('00000000-0000-0000-0000-000000000c01', '2025-03-09 06:59:59.999999', 1, 2, 3, 4, 5, 6, 7, 8);
`

// timestamps lists every predecessor timestamp value inserted above, as
// (table, column, id, naive UTC text).
var timestamps = []struct{ table, column, id, naive string }{
	{"addresses", "created_at", "00000000-0000-0000-0000-00000000000a", "2025-03-09 06:59:59.123456"},
	{"addresses", "updated_at", "00000000-0000-0000-0000-00000000000a", "2025-11-02 05:30:00.000001"},
	{"addresses", "created_at", "00000000-0000-0000-0000-00000000000b", "2024-12-31 23:59:59.999999"},
	{"parcels", "created_at", "00000000-0000-0000-0000-0000000000c0", "2025-06-30 12:00:00.5"},
	{"parcels", "updated_at", "00000000-0000-0000-0000-0000000000c0", "2025-06-30 12:00:00.5"},
	{"customs_infos", "created_at", "00000000-0000-0000-0000-0000000000d0", "2025-01-01 00:00:00"},
	{"customs_infos", "updated_at", "00000000-0000-0000-0000-0000000000d0", "2025-01-02 00:00:00"},
	{"shipments", "created_at", "00000000-0000-0000-0000-000000000001", "2025-03-09 07:00:00.000001"},
	{"shipments", "updated_at", "00000000-0000-0000-0000-000000000001", "2025-03-10 08:00:00"},
	{"shipments", "delivery_date", "00000000-0000-0000-0000-000000000001", "2025-03-12 18:45:01.654321"},
	{"shipments", "est_delivery_date", "00000000-0000-0000-0000-000000000001", "2025-03-12 00:00:00"},
	{"shipments", "created_at", "00000000-0000-0000-0000-000000000002", "2025-10-26 01:30:00"},
	{"shipment_events", "created_at", "00000000-0000-0000-0000-0000000000e0", "2025-03-12 18:45:02"},
	{"shipment_events", "event_datetime", "00000000-0000-0000-0000-0000000000e0", "2025-03-12 18:45:01.654321"},
	{"shipment_metrics", "created_at", "00000000-0000-0000-0000-0000000000f0", "2025-03-12 19:00:00"},
	{"analytics_summaries", "created_at", "00000000-0000-0000-0000-000000000a01", "2025-03-10 00:05:00"},
	{"carrier_performance", "created_at", "00000000-0000-0000-0000-000000000b01", "2025-03-10 00:05:00"},
	{"system_metrics", `"timestamp"`, "00000000-0000-0000-0000-000000000c01", "2025-03-09 06:59:59.999999"},
}

// TestTimestampConversion migrates a version-1 database holding predecessor
// rows, in a non-UTC TimeZone, and checks every converted instant, the
// database-owned defaults and triggers, and that down restores the naive
// values exactly.
func TestTimestampConversion(t *testing.T) {
	ctx := context.Background()
	url := testdb.Empty(t)
	setup := testdb.Open(t, url)
	if _, err := provider(t, setup).UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	exec(t, setup, predecessorRows)
	// A zone with DST and a non-hour offset: a conversion that used the
	// session zone would shift values, and differently around 2025-03-09
	// and 2025-10-26.
	exec(t, setup, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone = %L', current_database(), 'America/St_Johns'); END $$`)
	setup.Close()

	db := testdb.Open(t, url) // new sessions pick up the database's zone
	var zone string
	if err := db.QueryRow("SHOW timezone").Scan(&zone); err != nil || zone != "America/St_Johns" {
		t.Fatalf("session zone = %q, %v; want America/St_Johns", zone, err)
	}
	p := provider(t, db)
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}

	for _, ts := range timestamps {
		want, err := time.Parse("2006-01-02 15:04:05.999999", ts.naive)
		if err != nil {
			t.Fatal(err)
		}
		var got time.Time
		var typ string
		q := "SELECT " + ts.column + ", pg_typeof(" + ts.column + ")::text FROM " + ts.table + " WHERE id = $1"
		if err := db.QueryRow(q, ts.id).Scan(&got, &typ); err != nil {
			t.Fatalf("%s.%s: %v", ts.table, ts.column, err)
		}
		if typ != "timestamp with time zone" {
			t.Errorf("%s.%s type = %s, want timestamp with time zone", ts.table, ts.column, typ)
		}
		if !got.Equal(want) {
			t.Errorf("%s.%s = %s, want %s (the naive value read as UTC)", ts.table, ts.column, got.UTC().Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
		}
	}

	// New rows get the database's now(); updated_at follows any UPDATE.
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var created, updated, now time.Time
	err = tx.QueryRow(`INSERT INTO addresses (street1, city, zip) VALUES ('3 New St', 'Boston', '02101')
		RETURNING created_at, updated_at, now()`).Scan(&created, &updated, &now)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if !created.Equal(now) || !updated.Equal(now) {
		t.Errorf("new row created_at %s updated_at %s, want the transaction's now() %s", created, updated, now)
	}
	var before, after time.Time
	if err := db.QueryRow(`SELECT updated_at FROM shipments WHERE id = '00000000-0000-0000-0000-000000000001'`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	// A client that tries to set updated_at itself is overruled too.
	err = db.QueryRow(`UPDATE shipments SET reference = 'r1', updated_at = '2000-01-01'
		WHERE id = '00000000-0000-0000-0000-000000000001' RETURNING updated_at, now()`).Scan(&after, &now)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Equal(now) || !after.After(before) {
		t.Errorf("updated_at after UPDATE = %s (before %s), want now() = %s", after, before, now)
	}

	// Down to 1 restores the naive columns with the same wall-clock values.
	if _, err := p.DownTo(ctx, 1); err != nil {
		t.Fatalf("down to 1: %v", err)
	}
	for _, ts := range timestamps {
		if ts.table == "shipments" && ts.column == "updated_at" && ts.id == "00000000-0000-0000-0000-000000000001" {
			continue // changed by the UPDATE above
		}
		var got, typ string
		q := "SELECT " + ts.column + "::text, pg_typeof(" + ts.column + ")::text FROM " + ts.table + " WHERE id = $1"
		if err := db.QueryRow(q, ts.id).Scan(&got, &typ); err != nil {
			t.Fatalf("%s.%s: %v", ts.table, ts.column, err)
		}
		if typ != "timestamp without time zone" || got != ts.naive {
			t.Errorf("after down %s.%s = %s (%s), want %s (timestamp without time zone)", ts.table, ts.column, got, typ, ts.naive)
		}
	}
}

// TestAdoptPredecessorDatabase runs migrate up against a database built as
// the predecessor's Alembic chain left it (testdata/predecessor.sql), with
// rows Waybill's rules would reject, and checks that every row and value is
// kept and the schema matches a fresh Waybill database.
func TestAdoptPredecessorDatabase(t *testing.T) {
	ctx := context.Background()
	ddl, err := os.ReadFile("testdata/predecessor.sql")
	if err != nil {
		t.Fatal(err)
	}
	db := testdb.Open(t, testdb.Empty(t))
	exec(t, db, string(ddl), predecessorRows,
		// Values the predecessor allowed and Waybill would not.
		`INSERT INTO shipments (id, easypost_id, status, created_at, updated_at, mode, from_address_id, to_address_id, currency)
		 VALUES ('00000000-0000-0000-0000-000000000003', 'shp_3', 'returned', '2025-04-01 00:00:00', '2025-04-01 00:00:00',
		         'test', '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-00000000000b', 'USD')`,
		`INSERT INTO analytics_summaries (id, date, period, created_at, total_shipments, successful_shipments, failed_shipments, total_cost, currency)
		 VALUES ('00000000-0000-0000-0000-000000000a02', '2025-03-09', 'daily', '2025-03-09 23:00:00', 5, 5, 0, 1.5, 'USD')`,
		`INSERT INTO user_activities (id, "timestamp", action, method, endpoint, status_code)
		 VALUES ('00000000-0000-0000-0000-000000000d01', '2025-03-09 06:59:59', 'view', 'GET', '/x', 200)`,
		`REFRESH MATERIALIZED VIEW mv_daily_shipment_analytics`)

	p := provider(t, db)
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("adopting: %v", err)
	}

	counts := map[string]int{}
	for _, tbl := range []string{"addresses", "parcels", "customs_infos", "shipments", "shipment_events", "shipment_metrics",
		"analytics_summaries", "carrier_performance", "system_metrics", "user_activities", "legacy_duplicate_analytics_summaries"} {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM " + tbl).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", tbl, err)
		}
		counts[tbl] = n
	}
	wantCounts := map[string]int{"addresses": 2, "parcels": 1, "customs_infos": 1, "shipments": 3, "shipment_events": 1,
		"shipment_metrics": 1, "analytics_summaries": 1, "carrier_performance": 1, "system_metrics": 1, "user_activities": 1,
		"legacy_duplicate_analytics_summaries": 1}
	if diff := cmp.Diff(wantCounts, counts); diff != "" {
		t.Errorf("row counts after adoption (-want +got):\n%s", diff)
	}

	var status, rate, base, total, base2, total2, naive string
	err = db.QueryRow(`SELECT s3.status, s1.rates_data->0->>'rate', s1.base_cost::text, s1.total_cost::text,
			s2.base_cost::text, s2.total_cost::text,
			(SELECT ("timestamp" AT TIME ZONE 'UTC')::text FROM user_activities)
		FROM shipments s1, shipments s2, shipments s3
		WHERE s1.id = '00000000-0000-0000-0000-000000000001' AND s2.id = '00000000-0000-0000-0000-000000000002'
		  AND s3.id = '00000000-0000-0000-0000-000000000003'`).Scan(&status, &rate, &base, &total, &base2, &total2, &naive)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{status, rate, base, total, base2, total2, naive}
	want := []string{"returned", "12.10", "12.10", "0.10", "7.36", "2.68", "2025-03-09 06:59:59"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("adopted values (-want +got):\n%s", diff)
	}

	var views int
	if err := db.QueryRow(`SELECT count(*) FROM pg_matviews WHERE schemaname = 'public'`).Scan(&views); err != nil || views != 0 {
		t.Errorf("materialized views left: %d (%v)", views, err)
	}
	var validated bool
	if err := db.QueryRow(`SELECT convalidated FROM pg_constraint WHERE conname = 'shipments_status_check'`).Scan(&validated); err != nil {
		t.Fatal(err)
	}
	if validated {
		t.Error("shipments_status_check validated although a row holds 'returned'; want NOT VALID")
	}
	if _, err := db.Exec(`UPDATE shipments SET status = 'bogus' WHERE id = '00000000-0000-0000-0000-000000000001'`); err == nil {
		t.Error("the status CHECK does not stop a new invalid value")
	}

	// The schema is the one a fresh database gets, apart from the CHECK
	// left NOT VALID for the old rows and the table of moved duplicates.
	var adopted []string
	for _, x := range schema(t, db) {
		if !strings.HasPrefix(x, "legacy_duplicate_") {
			adopted = append(adopted, strings.TrimSuffix(x, " NOT VALID"))
		}
	}
	fresh := schema(t, testdb.Open(t, testdb.New(t)))
	if diff := cmp.Diff(fresh, adopted); diff != "" {
		t.Errorf("adopted schema differs from a fresh one (-fresh +adopted):\n%s", diff)
	}
}

// TestConcurrentUp starts two migrators at once; each migration must be
// applied exactly once.
func TestConcurrentUp(t *testing.T) {
	ctx := context.Background()
	url := testdb.Empty(t)
	var wg sync.WaitGroup
	applied := make([]int, 2)
	errs := make([]error, 2)
	for i := range 2 {
		db := testdb.Open(t, url)
		p := provider(t, db)
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := p.Up(ctx)
			applied[i], errs[i] = len(res), err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrator %d: %v", i, err)
		}
	}
	db := testdb.Open(t, url)
	want := int(head(t, provider(t, db)))
	if applied[0]+applied[1] != want {
		t.Errorf("migrations applied: %d + %d, want %d in total", applied[0], applied[1], want)
	}
	var rows, versions int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&rows, &versions); err != nil {
		t.Fatal(err)
	}
	if rows != want || versions != want {
		t.Errorf("goose_db_version has %d rows for %d versions, want %d each", rows, versions, want)
	}
}
