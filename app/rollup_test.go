package app

import (
	"strings"
	"testing"

	"github.com/waybill/waybill/testdb"
)

func TestRollupCommand(t *testing.T) {
	dbURL := testdb.New(t)
	db := testdb.Open(t, dbURL)
	// Two USD shipments on 2026-03-01 (USPS and UPS), one EUR on 03-02.
	_, err := db.Exec(`
		INSERT INTO addresses (id, street1, city, zip) VALUES
			('00000000-0000-0000-0000-00000000000a', '1 Broadway', 'New York', '10004');
		INSERT INTO shipments (created_at, carrier, service, status, total_cost, currency, from_address_id, to_address_id) VALUES
			('2026-03-01T10:00:00Z', 'USPS', 'Priority', 'delivered', 10.00, 'USD',
			 '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-00000000000a'),
			('2026-03-01T11:00:00Z', 'UPS', 'Ground', 'in_transit', 0.10, 'USD',
			 '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-00000000000a'),
			('2026-03-02T11:00:00Z', 'UPS', 'Ground', 'failure', 4.50, 'EUR',
			 '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-00000000000a')`)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": dbURL}
	code, stdout, stderr := run(t, env, "rollup", "--from", "2026-03-01", "--to", "2026-03-03")
	want := "rolled up 2026-03-01 to 2026-03-03 (3 days): 2 summaries, 3 carrier performance rows\n"
	if code != 0 || stdout != want {
		t.Fatalf("rollup: exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, want)
	}
	var total string
	if err := db.QueryRow(`SELECT total_cost::text FROM analytics_summaries
		WHERE date = '2026-03-01' AND period = 'daily' AND currency = 'USD'`).Scan(&total); err != nil || total != "10.10" {
		t.Errorf("03-01 USD total_cost = %q (%v), want 10.10", total, err)
	}

	for _, args := range [][]string{
		{"rollup"},
		{"rollup", "--from", "2026-03-01"},
		{"rollup", "--from", "2026-03-01", "--to", "03/03/2026"},
		{"rollup", "--from", "2026-03-02", "--to", "2026-03-01"},
		{"rollup", "--from", "2025-01-01", "--to", "2026-01-02"},
		{"rollup", "--from", "2026-03-01", "--to", "2026-03-01", "extra"},
		{"rollup", "--days", "3"},
	} {
		code, _, stderr := run(t, env, args...)
		if code != exitUsage || !strings.HasPrefix(stderr, "waybill rollup: ") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d with a one-line message", args, code, stderr, exitUsage)
		}
	}
	if code, stdout, _ := run(t, env, "rollup", "-h"); code != 0 || !strings.Contains(stdout, "--from DATE --to DATE") {
		t.Errorf("rollup -h: exit %d, %q", code, stdout)
	}
}
