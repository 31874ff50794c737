package models

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestStatementScanning runs statements through the helpers on a real
// database: rows into structs by column name, one column into a scalar,
// no row, and a column no field names.
func TestStatementScanning(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	type pair struct {
		Name  string  `db:"name"`
		Cost  *Money  `db:"cost"`
		Other *string `db:"other"`
	}
	got, err := query[pair](ctx, s.pool, statement{name: "pairs", sql: `
SELECT other, name, cost FROM (VALUES ('b', -1.50::numeric(12,2), NULL), ('a', NULL, 'x')) AS v (name, cost, other) ORDER BY name`})
	if err != nil {
		t.Fatal(err)
	}
	x, cost := "x", Money(-150)
	want := []pair{{Name: "a", Other: &x}, {Name: "b", Cost: &cost}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}

	n, err := queryRow[int64](ctx, s.pool, statement{name: "count", sql: `SELECT count(*) FROM generate_series(1, $1)`}, 7)
	if err != nil || n != 7 {
		t.Errorf("queryRow[int64] = %d, %v; want 7", n, err)
	}
	if _, err := queryRow[int64](ctx, s.pool, statement{name: "none", sql: `SELECT 1 WHERE false`}); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("queryRow of no row: %v, want sql.ErrNoRows", err)
	}
	_, err = query[pair](ctx, s.pool, statement{name: "stray column", sql: `SELECT 'a' AS name, 1 AS stray`})
	if err == nil || !strings.Contains(err.Error(), `stray column: no field of models.pair for column "stray"`) {
		t.Errorf("a column without a field: %v, want an error naming the statement and the column", err)
	}
	empty, err := query[pair](ctx, s.pool, statement{name: "empty", sql: `SELECT 'a' AS name WHERE false`})
	if err != nil || empty == nil || len(empty) != 0 {
		t.Errorf("query of no rows = %#v, %v; want an empty, non-nil slice", empty, err)
	}
}
