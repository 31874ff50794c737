package models

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// daysOf lists the days from start to end, both included.
func daysOf(start, end Date) []Date {
	var out []Date
	for d := start.Time; !d.After(end.Time); d = d.AddDate(0, 0, 1) {
		out = append(out, Date{d})
	}
	return out
}

func dashboard(t *testing.T, s *Store, start, end Date) Dashboard {
	t.Helper()
	d, err := s.Dashboard(context.Background(), start, end)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// refresh runs RefreshDashboard and returns the days it wrote.
func refresh(t *testing.T, s *Store, more ...Date) []Date {
	t.Helper()
	days, err := s.RefreshDashboard(context.Background(), more)
	if err != nil {
		t.Fatal(err)
	}
	return days
}

// forgetMaterialized makes every day live again, for an answer computed
// from the shipments alone.
func forgetMaterialized(t *testing.T, s *Store) {
	t.Helper()
	if _, err := s.DB().Exec(`DELETE FROM dashboard_days`); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.DB().QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// sameDashboard fails unless a and b say the same, figure for figure.
func sameDashboard(t *testing.T, what string, want, got Dashboard) {
	t.Helper()
	if diff := cmp.Diff(jsonOf(t, want), jsonOf(t, got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

// TestDashboardMaterializedEqualsLive computes the hand-checked fixture's
// dashboard from the shipments, then from the per-day tables, and checks
// the two agree; the refresh writes each day of the range once and, run
// again, writes nothing.
func TestDashboardMaterializedEqualsLive(t *testing.T) {
	s := newStore(t)
	fixture(t, s)
	start, end := day("2026-02-27"), day("2026-03-05")
	live := dashboard(t, s, start, end)

	// 02-27 comes before the first shipment (02-28): computing it live
	// costs nothing, so it is not stored.
	if got := refresh(t, s, daysOf(start, end)...); !cmp.Equal(got, daysOf(day("2026-02-28"), end)) {
		t.Fatalf("refresh wrote %v, want the 6 days of the range from the first shipment's", got)
	}
	if n := count(t, s, `SELECT count(*) FROM dashboard_days`); n != 6 {
		t.Fatalf("%d materialized days, want 6", n)
	}
	materialized := dashboard(t, s, start, end)
	sameDashboard(t, "materialized", live, materialized)
	// The figures added for the console, by hand (as in TestDashboard):
	// 1 of the 2 judged deliveries on time; 03-01 has the three delivered
	// and the failure, 03-03 the two in transit, 02-28 and 03-04 one
	// delivered each, and the 23:30 UTC−5 one falls on 03-04 as a failure.
	if r := materialized.Summary.OnTimeRate; r == nil || *r != 50 {
		t.Errorf("materialized on_time_rate %v, want 50.00", r)
	}
	wantDays := map[string][5]int{ // shipments, delivered, in transit, failed, other
		"2026-02-27": {}, "2026-02-28": {1, 1, 0, 0, 0}, "2026-03-01": {4, 3, 0, 1, 0}, "2026-03-02": {},
		"2026-03-03": {2, 0, 2, 0, 0}, "2026-03-04": {2, 1, 0, 1, 0}, "2026-03-05": {},
	}
	for _, f := range materialized.ByDate {
		got := [5]int{f.Shipments, f.Delivered, f.InTransit, f.Failed, f.Other}
		if want := wantDays[f.Date.Format(DateFormat)]; got != want {
			t.Errorf("materialized %s: %v, want %v", f.Date.Format(DateFormat), got, want)
		}
	}
	if got := refresh(t, s); len(got) != 0 {
		t.Errorf("a second refresh wrote %v, want nothing", got)
	}
	// The materialized rows are what it reads: a figure changed behind
	// its back shows.
	if _, err := s.DB().Exec(`UPDATE dashboard_daily SET shipments = shipments + 100 WHERE day = '2026-03-03'`); err != nil {
		t.Fatal(err)
	}
	if got := dashboard(t, s, start, end).Summary.TotalShipments; got != live.Summary.TotalShipments+100 {
		t.Errorf("with 100 more in 03-03's row the dashboard says %d shipments, want %d",
			got, live.Summary.TotalShipments+100)
	}
	refresh(t, s, day("2026-03-03"))
	// A narrower range reads a subset of the same rows.
	forgetMaterialized(t, s)
	liveInner := dashboard(t, s, day("2026-03-01"), day("2026-03-03"))
	refresh(t, s, daysOf(start, end)...)
	sameDashboard(t, "materialized, inner range", liveInner, dashboard(t, s, day("2026-03-01"), day("2026-03-03")))
}

// TestDashboardWeeks spreads shipments over five weeks and checks that
// ranges with and without whole weeks give the live answer once
// materialized, and that whole weeks have their own route counts.
func TestDashboardWeeks(t *testing.T) {
	s := newStore(t)
	insertAddresses(t, s)
	addrs := []string{addrNY, addrBoston, addrParis}
	rng := rand.New(rand.NewPCG(7, 7))
	first := day("2026-06-01") // a Monday
	var rows []testShipment
	for i := range 300 {
		from := rng.IntN(3)
		created := first.Add(time.Duration(rng.Int64N(int64(35 * 24 * time.Hour))))
		rows = append(rows, testShipment{created: created.Format(time.RFC3339Nano), carrier: []string{"UPS", "USPS", ""}[i%3],
			status: []string{"delivered", "in_transit", "failure", "cancelled"}[rng.IntN(4)], cost: fmt.Sprintf("%d.%02d", rng.IntN(50), rng.IntN(100)),
			delivered: created.Add(time.Duration(1+rng.IntN(5)) * 24 * time.Hour).Format(time.RFC3339Nano),
			est:       created.Add(3 * 24 * time.Hour).Format(time.RFC3339Nano),
			currency:  []string{"USD", "USD", "EUR"}[rng.IntN(3)], from: addrs[from], to: addrs[(from+1+rng.IntN(2))%3]})
	}
	insertShipments(t, s, rows...)
	ranges := [][2]Date{
		{day("2026-06-01"), day("2026-07-05")}, // five whole weeks
		{day("2026-06-03"), day("2026-07-02")}, // 30 days, three whole weeks
		{day("2026-06-02"), day("2026-06-07")}, // inside one week
		{day("2026-05-30"), day("2026-06-14")}, // before the data, two whole weeks
	}
	var live []Dashboard
	for _, r := range ranges {
		live = append(live, dashboard(t, s, r[0], r[1]))
	}
	refresh(t, s, daysOf(day("2026-05-30"), day("2026-07-05"))...)
	if n := count(t, s, `SELECT count(DISTINCT week) FROM dashboard_weekly_routes`); n != 5 {
		t.Errorf("%d weeks have route counts, want 5", n)
	}
	for i, r := range ranges {
		sameDashboard(t, fmt.Sprintf("materialized %s to %s", r[0], r[1]), live[i], dashboard(t, s, r[0], r[1]))
	}
	// A week with a marked day is read day by day, and is recomputed.
	insertShipments(t, s, testShipment{created: "2026-06-10T10:00:00Z", carrier: "UPS", status: "delivered", cost: "1.00",
		from: addrParis, to: addrBoston})
	after := dashboard(t, s, ranges[0][0], ranges[0][1])
	if after.Summary.TotalShipments != live[0].Summary.TotalShipments+1 {
		t.Errorf("after one more shipment: %d shipments, want %d", after.Summary.TotalShipments, live[0].Summary.TotalShipments+1)
	}
	if got := refresh(t, s); len(got) != 1 || got[0] != day("2026-06-10") {
		t.Errorf("refresh wrote %v, want 2026-06-10", got)
	}
	sameDashboard(t, "refreshed week", after, dashboard(t, s, ranges[0][0], ranges[0][1]))
}

// TestDashboardStaysTrue changes materialized days in every way a client
// can and checks that the next dashboard shows each change at once, before
// any refresh, and the same after one.
func TestDashboardStaysTrue(t *testing.T) {
	s := newStore(t)
	fixture(t, s)
	start, end := day("2026-03-01"), day("2026-03-03")
	changes := []struct {
		name  string
		sql   string
		check func(before, after Dashboard) bool
	}{
		{"insert into a past day", `INSERT INTO shipments (created_at, carrier, status, total_cost, from_address_id, to_address_id)
			VALUES ('2026-03-02T12:00:00Z', 'UPS', 'delivered', 1.25, '` + addrParis + `', '` + addrBoston + `')`,
			func(b, a Dashboard) bool { return a.Summary.TotalShipments == b.Summary.TotalShipments+1 }},
		{"status change", `UPDATE shipments SET status = 'delivered' WHERE id = '00000000-0000-0000-0000-000000000003'`,
			func(b, a Dashboard) bool { return a.Summary.Delivered == b.Summary.Delivered+1 }},
		{"cost change", `UPDATE shipments SET total_cost = 0.20 WHERE id = '00000000-0000-0000-0000-000000000003'`,
			func(b, a Dashboard) bool { return a.ByDate[2].TotalCost.ByCurrency["USD"].String() == "0.20" }},
		{"address moved", `UPDATE addresses SET city = 'Lyon' WHERE id = '` + addrParis + `'`,
			func(b, a Dashboard) bool { return a.TopRoutes[0].Destination.City == "Lyon" }},
		{"delete", `DELETE FROM shipments WHERE id = '00000000-0000-0000-0000-000000000001'`,
			func(b, a Dashboard) bool { return a.Summary.TotalShipments == b.Summary.TotalShipments-1 }},
		{"unrelated update", `UPDATE shipments SET reference = 'x'`,
			func(b, a Dashboard) bool { return true }},
	}
	refresh(t, s, daysOf(start, end)...)
	for _, c := range changes {
		before := dashboard(t, s, start, end)
		if _, err := s.DB().Exec(c.sql); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		after := dashboard(t, s, start, end)
		if !c.check(before, after) {
			t.Errorf("%s: the dashboard did not show it: %+v", c.name, after.Summary)
		}
		refreshed := refresh(t, s)
		if c.name == "unrelated update" && len(refreshed) != 0 {
			t.Errorf("an update of no dashboard column refreshed %v", refreshed)
		}
		sameDashboard(t, c.name+", refreshed", after, dashboard(t, s, start, end))
	}
	if n := count(t, s, `SELECT count(*) FROM dashboard_stale`); n != 0 {
		t.Errorf("%d marks left after the refresh", n)
	}
	materialized := dashboard(t, s, start, end)
	forgetMaterialized(t, s)
	sameDashboard(t, "after all changes, against the shipments", dashboard(t, s, start, end), materialized)
}

// TestDashboardRefreshLosesNoChange runs writers against materialized days
// while refreshes run back to back, then, without a last refresh, checks
// the dashboard against the shipments alone: a mark deleted for a change
// the refresh did not see would show as a difference.
func TestDashboardRefreshLosesNoChange(t *testing.T) {
	s := newStore(t)
	fixture(t, s)
	start, end := day("2026-02-27"), day("2026-03-05")
	refresh(t, s, daysOf(start, end)...)

	ctx, stop := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer stop()
	var wg sync.WaitGroup
	statuses := []string{"delivered", "in_transit", "failure", "pre_transit"}
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for ctx.Err() == nil {
				// A transaction that lingers after its update, so that
				// refreshes take snapshots while it is open. It does not
				// use ctx: a COMMIT cut off by ctx's end could still land
				// after the writers are done, and the comparison below
				// needs every change settled.
				tx, err := s.DB().BeginTx(context.Background(), nil)
				if err != nil {
					t.Error(err)
					return
				}
				_, err = tx.Exec(`UPDATE shipments SET status = $1, total_cost = total_cost + 0.01
					WHERE id = (SELECT id FROM shipments ORDER BY random() LIMIT 1)`, statuses[rng.IntN(len(statuses))])
				if err == nil {
					time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
					err = tx.Commit()
				}
				if err != nil {
					_ = tx.Rollback()
					t.Error(err)
					return
				}
			}
		}()
	}
	refreshes := 0
	for ctx.Err() == nil {
		if _, err := s.RefreshDashboard(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		refreshes++
	}
	wg.Wait()
	mixed := dashboard(t, s, start, end)
	forgetMaterialized(t, s)
	sameDashboard(t, fmt.Sprintf("after %d refreshes under writes", refreshes), dashboard(t, s, start, end), mixed)
}

// TestDashboardQueuesUnmaterializedDays checks that a dashboard over days
// not yet materialized queues them, and that the refresher materializes
// them.
func TestDashboardQueuesUnmaterializedDays(t *testing.T) {
	s := newStore(t)
	fixture(t, s)
	start, end := day("2026-03-01"), day("2026-03-03")
	live := dashboard(t, s, start, end)
	if got := s.dashQueue.take(); !cmp.Equal(got, daysOf(start, end)) {
		t.Fatalf("queued %v, want the range's days", got)
	}
	// Neither a day after today nor one before the first shipment is
	// queued.
	tomorrow := Date{time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)}
	dashboard(t, s, tomorrow, tomorrow)
	dashboard(t, s, day("2026-02-01"), day("2026-02-27"))
	if got := s.dashQueue.take(); len(got) != 0 {
		t.Errorf("queued %v for tomorrow and the days before the first shipment", got)
	}

	dashboard(t, s, start, end)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	reported := make(chan []Date, 1)
	go func() {
		defer close(done)
		s.RunDashboardRefresher(ctx, time.Hour, func(days []Date, _ time.Duration, err error) {
			if err == nil {
				reported <- days
			}
		})
	}()
	select {
	case days := <-reported:
		if !cmp.Equal(days, daysOf(start, end)) {
			t.Errorf("refresher wrote %v", days)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the refresher did not materialize the queued days")
	}
	cancel()
	<-done
	sameDashboard(t, "materialized by the refresher", live, dashboard(t, s, start, end))
}
