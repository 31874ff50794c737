package seed

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/testdb"
)

// TestCopyData copies a value of each kind through the binary format and
// reads it back as text; money of every size, negative too (the encoder
// once wrote -1.50 as 1.50).
func TestCopyData(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, `CREATE TABLE t (n int, id uuid, s varchar(20), x text, j jsonb, f double precision,
		i integer, b boolean, at timestamptz, m numeric(12,2))`); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 28, 12, 30, 15, 123456000, time.UTC)
	c := &copyData{table: "t", columns: []string{"n", "id", "s", "x", "j", "f", "i", "b", "at", "m"}}
	c.row().int(1).uuid(uuid.MustParse("0193f1a2-7b3c-7d4e-8f50-6172839405a6")).text("Zürich").textOrNull("").
		jsonb(`{"city": "Zürich"}`).float(12.5).int(-7).bool(true).time(at).money(1234567)
	c.row().int(2).null().textOrNull("").text("").jsonb(`[]`).float(0).int(0).bool(false).time(at.AddDate(-30, 0, 0)).money(5)
	c.row().int(3).null().null().null().null().null().null().null().null().money(0)
	c.row().int(4).null().null().null().null().null().null().null().null().money(9_999_999_999)
	c.row().int(5).null().null().null().null().null().null().null().null().money(100_000_000)
	c.row().int(6).null().null().null().null().null().null().null().null().money(-150)
	c.row().int(7).null().null().null().null().null().null().null().null().money(-9_999_999_999)
	if err := c.copyTo(ctx, conn.PgConn()); err != nil {
		t.Fatal(err)
	}

	rows, err := conn.Query(ctx, `SELECT json_build_array(id, s, x, j, f, i, b,
		to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), m)::text FROM t ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`["0193f1a2-7b3c-7d4e-8f50-6172839405a6", "Zürich", null, {"city": "Zürich"}, 12.5, -7, true, "2026-11-28 12:30:15.123456", 12345.67]`,
		`[null, null, "", [], 0, 0, false, "1996-11-28 12:30:15.123456", 0.05]`,
		`[null, null, null, null, null, null, null, null, 0.00]`,
		`[null, null, null, null, null, null, null, null, 99999999.99]`,
		`[null, null, null, null, null, null, null, null, 1000000.00]`,
		`[null, null, null, null, null, null, null, null, -1.50]`,
		`[null, null, null, null, null, null, null, null, -99999999.99]`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows read back (-want +got):\n%s", diff)
	}
}
