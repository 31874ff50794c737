package seed_test

import (
	"context"
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

func TestDeterministic(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	a := fingerprint(t, load(t, seed.Options{Shipments: 300, Seed: 7, Now: now}))
	b := fingerprint(t, load(t, seed.Options{Shipments: 300, Seed: 7, Now: now}))
	c := fingerprint(t, load(t, seed.Options{Shipments: 300, Seed: 8, Now: now}))
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
	if len(reported) != 2 || reported[1] != 12_345 {
		t.Errorf("progress reported %v, want [10000 12345]", reported)
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
		{"events before creation", `SELECT count(*) FROM shipment_events e JOIN shipments s ON s.id = e.shipment_id WHERE e.event_datetime < s.created_at`, 0},
		{"costs out of order", `SELECT count(*) FROM shipments WHERE NOT (base_cost > 0 AND total_cost >= base_cost)`, 0},
		{"same origin and destination", `SELECT count(*) FROM shipments WHERE from_address_id = to_address_id`, 0},
		{"invalid statuses", `SELECT count(*) FROM shipments WHERE status NOT IN ('unknown','pre_transit','in_transit','out_for_delivery',
			'delivered','available_for_pickup','return_to_sender','failure','cancelled','error')`, 0},
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
	var carriers, currencies, countries int64
	if err := conn.QueryRow(ctx, `SELECT count(DISTINCT carrier), count(DISTINCT currency),
		(SELECT count(DISTINCT country) FROM addresses) FROM shipments`).Scan(&carriers, &currencies, &countries); err != nil {
		t.Fatal(err)
	}
	if carriers < 4 || currencies != 2 || countries < 5 {
		t.Errorf("%d carriers, %d currencies, %d countries", carriers, currencies, countries)
	}
}
