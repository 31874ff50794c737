package migrations_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/waybill/waybill/testdb"
)

// batchSchema describes batch_operations and batch_items: every column
// with its type, nullability and default, every index, constraint and
// trigger.
func batchSchema(t *testing.T, db *sql.DB) []string {
	t.Helper()
	return lines(t, db, `
		SELECT format('%s.%s %s null=%s default=%s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
			NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
		FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE c.relname IN ('batch_operations', 'batch_items') AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
		UNION ALL
		SELECT indexdef FROM pg_indexes WHERE tablename IN ('batch_operations', 'batch_items')
		UNION ALL
		SELECT format('%s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) FROM pg_constraint
		WHERE conrelid::regclass::text IN ('batch_operations', 'batch_items')
		UNION ALL
		SELECT format('trigger %s on %s', tgname, tgrelid::regclass) FROM pg_trigger
		WHERE NOT tgisinternal AND tgrelid::regclass::text IN ('batch_operations', 'batch_items')
		ORDER BY 1`)
}

// TestAdoptBatchOperations migrates a predecessor database holding batch
// operations: their instants read as UTC, their JSON kept, a status
// Waybill does not know kept (its CHECK left NOT VALID); the table ends as
// a fresh database's; and stepping 00010 down restores the predecessor's
// naive times and json, with Waybill's completed_with_errors as completed.
func TestAdoptBatchOperations(t *testing.T) {
	ctx := context.Background()
	ddl, err := os.ReadFile("testdata/predecessor.sql")
	if err != nil {
		t.Fatal(err)
	}
	db := testdb.Open(t, testdb.Empty(t))
	exec(t, db, string(ddl),
		`INSERT INTO batch_operations (id, batch_id, operation_type, created_at, started_at, completed_at, status, total_items,
			processed_items, successful_items, failed_items, errors, user_id, source, parameters)
		 VALUES ('00000000-0000-0000-0000-0000000000b1', 'batch_old', 'bulk_create', '2025-03-09 06:59:59.5',
			'2025-03-09 07:00:00', '2025-03-09 07:00:01.25', 'done', 2, 2, 1, 1,
			'[{"row": 2, "error": "bad zip"}]', 'u1', 'web', '{"b": 1, "a": [1, 2]}')`)
	p := provider(t, db)
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("adopting: %v", err)
	}
	var created, updated, errs, params, status string
	err = db.QueryRow(`SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
			to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), errors->0->>'error', parameters->'a'->>1, status
		FROM batch_operations`).Scan(&created, &updated, &errs, &params, &status)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2025-03-09 06:59:59.500000", "2025-03-09 07:00:01.250000", "bad zip", "2", "done"}
	if diff := cmp.Diff(want, []string{created, updated, errs, params, status}); diff != "" {
		t.Errorf("the adopted row (-want +got):\n%s", diff)
	}
	var validated bool
	if err := db.QueryRow(`SELECT convalidated FROM pg_constraint WHERE conname = 'batch_operations_status_check'`).Scan(&validated); err != nil {
		t.Fatal(err)
	}
	if validated {
		t.Error("batch_operations_status_check validated although a row holds 'done'; want NOT VALID")
	}
	fresh := testdb.Open(t, testdb.New(t))
	var adopted []string
	for _, x := range batchSchema(t, db) {
		adopted = append(adopted, trimNotValid(x))
	}
	if diff := cmp.Diff(batchSchema(t, fresh), adopted); diff != "" {
		t.Errorf("adopted batch tables differ from fresh ones (-fresh +adopted):\n%s", diff)
	}

	// A batch Waybill wrote, with its defaults; then 00010 down.
	exec(t, db, `INSERT INTO batch_operations (status, failed_items) VALUES ('completed_with_errors', 1)`)
	if _, err := p.DownTo(ctx, 9); err != nil {
		t.Fatalf("down to 9: %v", err)
	}
	var typ, errType, naive, mine string
	err = db.QueryRow(`SELECT pg_typeof(created_at)::text, pg_typeof(errors)::text, completed_at::text,
			(SELECT status FROM batch_operations WHERE batch_id <> 'batch_old')
		FROM batch_operations WHERE batch_id = 'batch_old'`).Scan(&typ, &errType, &naive, &mine)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"timestamp without time zone", "json", "2025-03-09 07:00:01.25", "completed"},
		[]string{typ, errType, naive, mine}); diff != "" {
		t.Errorf("after down (-want +got):\n%s", diff)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
}

// trimNotValid drops the " NOT VALID" a constraint left unvalidated for
// old rows shows.
func trimNotValid(s string) string {
	const suffix = " NOT VALID"
	if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)]
	}
	return s
}
