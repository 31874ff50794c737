package seed_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/seed"
	"github.com/waybill/waybill/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func load(t *testing.T, o seed.Options) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if err := seed.Load(ctx, conn, o); err != nil {
		t.Fatal(err)
	}
	return conn
}

func fingerprint(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var sum string
	err := conn.QueryRow(context.Background(), `SELECT md5(string_agg(r, ',' ORDER BY r)) FROM (
		SELECT row_to_json(x)::text r FROM shipments x UNION ALL SELECT row_to_json(x)::text FROM addresses x
		UNION ALL SELECT row_to_json(x)::text FROM parcels x UNION ALL SELECT row_to_json(x)::text FROM shipment_events x) rows`).Scan(&sum)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestDeterministic loads more than one batch, so that the two connections
// share the work in whatever order they happen to take it.
func TestDeterministic(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	a := fingerprint(t, load(t, seed.Options{Shipments: 10_300, Seed: 7, Now: now}))
	b := fingerprint(t, load(t, seed.Options{Shipments: 10_300, Seed: 7, Now: now}))
	c := fingerprint(t, load(t, seed.Options{Shipments: 10_300, Seed: 8, Now: now}))
	if a != b {
		t.Error("the same seed gave different data")
	}
	if a == c {
		t.Error("different seeds gave the same data")
	}
}

// TestPlausible checks the data makes sense as shipments: counts, a
// lifecycle consistent with the events, nothing in the future, costs.
func TestPlausible(t *testing.T) {
	var reported []int
	conn := load(t, seed.Options{Shipments: 12_345, Seed: 1, Progress: func(n int) { reported = append(reported, n) }})
	// The batches of 10,000 and 2,345 may finish in either order.
	if len(reported) != 2 || reported[0] != 10_000 && reported[0] != 2_345 || reported[1] != 12_345 {
		t.Errorf("progress reported %v, want [10000 12345] or [2345 12345]", reported)
	}
	ctx := context.Background()
	checks := []struct {
		name, query string
		want        int64
	}{
		{"shipments", `SELECT count(*) FROM shipments`, 12_345},
		{"parcels", `SELECT count(*) FROM parcels`, 12_345},
		{"status differs from the newest event", `SELECT count(*) FROM shipments s WHERE status <> coalesce((SELECT e.status FROM shipment_events e
			WHERE e.shipment_id = s.id ORDER BY e.event_datetime DESC, e.status = 'delivered' DESC LIMIT 1), 'unknown')`, 0},
		{"delivered without delivery_date", `SELECT count(*) FROM shipments WHERE (status = 'delivered') <> (delivery_date IS NOT NULL)`, 0},
		{"times in the future", `SELECT count(*) FROM shipment_events WHERE event_datetime > now()`, 0},
		{"out for delivery before departure", `SELECT count(*) FROM shipment_events o JOIN shipment_events d
			ON d.shipment_id = o.shipment_id AND d.status = 'in_transit' WHERE o.status = 'out_for_delivery' AND o.event_datetime <= d.event_datetime`, 0},
		{"events before creation", `SELECT count(*) FROM shipment_events e JOIN shipments s ON s.id = e.shipment_id WHERE e.event_datetime < s.created_at`, 0},
		{"costs out of order", `SELECT count(*) FROM shipments WHERE NOT (base_cost > 0 AND total_cost >= base_cost)`, 0},
		{"same origin and destination", `SELECT count(*) FROM shipments WHERE from_address_id = to_address_id`, 0},
		{"invalid statuses", `SELECT count(*) FROM shipments WHERE status NOT IN ('unknown','pre_transit','in_transit','out_for_delivery',
			'delivered','available_for_pickup','return_to_sender','failure','cancelled','error')`, 0},
		// Ids are version 7, made from the row's time, so they sort as
		// the rows were made and inserts go to the end of the indexes.
		{"ids not version 7 of their row's time", `SELECT count(*) FROM (
			SELECT id, created_at t FROM shipments UNION ALL SELECT id, created_at FROM parcels
			UNION ALL SELECT id, created_at FROM addresses UNION ALL SELECT id, event_datetime FROM shipment_events) r
			WHERE substr(id::text, 15, 1) <> '7' OR substr(id::text, 20, 1) NOT IN ('8', '9', 'a', 'b')
			   OR ('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48)::bigint <> floor(extract(epoch FROM t) * 1000)`, 0},
		{"shipment ids out of created_at order", `SELECT count(*) FROM (
			SELECT created_at, lag(created_at) OVER (ORDER BY id) prev FROM shipments) s WHERE created_at < prev`, 0},
		{"references or tracking codes repeated", `SELECT 2 * count(*) - count(DISTINCT reference) - count(DISTINCT tracking_code) FROM shipments`, 0},
		{"event ids out of time order", `SELECT count(*) FROM (
			SELECT event_datetime t, lag(event_datetime) OVER (ORDER BY id) prev FROM shipment_events) e WHERE t < prev`, 0},
	}
	for _, c := range checks {
		var got int64
		if err := conn.QueryRow(ctx, c.query).Scan(&got); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	// Shipments older than two weeks are mostly delivered, mostly on time.
	var old, delivered, onTime int64
	err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'delivered'),
		count(*) FILTER (WHERE delivery_date <= est_delivery_date) FROM shipments WHERE created_at < now() - interval '14 days'`).
		Scan(&old, &delivered, &onTime)
	if err != nil {
		t.Fatal(err)
	}
	if delivered*100 < old*85 || onTime*100 < delivered*75 || onTime == delivered {
		t.Errorf("of %d old shipments %d delivered, %d on time; want most delivered, most of those on time, some late", old, delivered, onTime)
	}
	// Shipments are made evenly over the 90 days (before the load's now,
	// which is a moment before this now(): least keeps the oldest in the
	// last third).
	var thirds []int64
	rows, err := conn.Query(ctx, `SELECT count(*) FROM shipments
		GROUP BY least(2, floor(extract(epoch FROM now() - created_at) / (30 * 86400))) ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	if thirds, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
		t.Fatal(err)
	}
	if len(thirds) != 3 || thirds[0] < 12_345*30/100 || thirds[2] > 12_345*37/100 {
		t.Errorf("shipments made in each 30 days of 90: %v, want about a third each", thirds)
	}
	var carriers, currencies, countries int64
	if err := conn.QueryRow(ctx, `SELECT count(DISTINCT carrier), count(DISTINCT currency),
		(SELECT count(DISTINCT country) FROM addresses) FROM shipments`).Scan(&carriers, &currencies, &countries); err != nil {
		t.Fatal(err)
	}
	if carriers < 4 || currencies != 2 || countries < 5 {
		t.Errorf("%d carriers, %d currencies, %d countries", carriers, currencies, countries)
	}
}

// TestInterrupted checks that a load that stops part way leaves the
// database as it was: both transactions roll back and the committed
// addresses are deleted again.
func TestInterrupted(t *testing.T) {
	url := testdb.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	err = seed.Load(ctx, conn, seed.Options{Shipments: 50_000, Seed: 1, Progress: func(int) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Load cancelled after a batch: %v, want context.Canceled", err)
	}

	check, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { check.Close(context.Background()) })
	var rows int64
	if err := check.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM addresses) + (SELECT count(*) FROM parcels)
		+ (SELECT count(*) FROM shipments) + (SELECT count(*) FROM shipment_events)`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("%d rows left behind, want none", rows)
	}
}
