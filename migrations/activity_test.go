package migrations_test

import (
	"context"
	"database/sql"
	"os"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/waybill/waybill/testdb"
)

// activitySchema describes user_activities and api_keys' scope CHECK:
// every column with its type, nullability and default, every index and
// constraint.
func activitySchema(t *testing.T, db *sql.DB) []string {
	t.Helper()
	return lines(t, db, `
		SELECT format('%s %s null=%s default=%s', a.attname, format_type(a.atttypid, a.atttypmod),
			NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
		FROM pg_attribute a
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE a.attrelid = 'user_activities'::regclass AND a.attnum > 0 AND NOT a.attisdropped
		UNION ALL
		SELECT indexdef FROM pg_indexes WHERE tablename = 'user_activities'
		UNION ALL
		SELECT format('%s %s', conname, pg_get_constraintdef(oid)) FROM pg_constraint
		WHERE conrelid IN ('user_activities'::regclass, 'api_keys'::regclass) AND contype = 'c'
		ORDER BY 1`)
}

// TestAdoptUserActivities migrates a predecessor database holding an
// activity row: the row keeps its instant (read as UTC), its JSON and its
// status; the table ends as a fresh database's; and stepping 00011 down
// restores the predecessor's naive time and json.
func TestAdoptUserActivities(t *testing.T) {
	ctx := context.Background()
	ddl, err := os.ReadFile("testdata/predecessor.sql")
	if err != nil {
		t.Fatal(err)
	}
	db := testdb.Open(t, testdb.Empty(t))
	exec(t, db, string(ddl),
		`INSERT INTO user_activities (id, user_id, "timestamp", action, resource, resource_id, method, endpoint, ip_address,
			status_code, extra_metadata)
		 VALUES ('00000000-0000-0000-0000-000000000d01', 'u1', '2025-03-09 06:59:59.5', 'create_shipment', 'shipment', 'shp_1',
			'POST', '/shipments', '10.0.0.1', 201, '{"b": 1, "a": [1, 2]}')`)
	p := provider(t, db)
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("adopting: %v", err)
	}
	var created, ts, meta, status string
	err = db.QueryRow(`SELECT created_at = "timestamp", to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
			extra_metadata->'a'->>1, status_code::text
		FROM user_activities`).Scan(&created, &ts, &meta, &status)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"true", "2025-03-09 06:59:59.500000", "2", "201"}, []string{created, ts, meta, status}); diff != "" {
		t.Errorf("the adopted row (-want +got):\n%s", diff)
	}
	fresh := testdb.Open(t, testdb.New(t))
	if diff := cmp.Diff(activitySchema(t, fresh), activitySchema(t, db)); diff != "" {
		t.Errorf("adopted user_activities differs from a fresh one (-fresh +adopted):\n%s", diff)
	}

	// A row Waybill wrote, then 00011 down: the predecessor's shape.
	exec(t, db, `INSERT INTO user_activities (action, method, endpoint) VALUES ('api_key.revoke', 'CLI', 'waybill apikey revoke')`,
		`INSERT INTO api_keys (name, scope, key_hash) VALUES ('a', 'admin', decode(repeat('ab', 32), 'hex'))`)
	if _, err := p.DownTo(ctx, 10); err != nil {
		t.Fatalf("down to 10: %v", err)
	}
	var typ, metaType, naive, scope string
	var zeroStatus int
	err = db.QueryRow(`SELECT pg_typeof("timestamp")::text, pg_typeof(extra_metadata)::text, "timestamp"::text,
			(SELECT status_code FROM user_activities WHERE action = 'api_key.revoke'), (SELECT scope FROM api_keys)
		FROM user_activities WHERE id = '00000000-0000-0000-0000-000000000d01'`).Scan(&typ, &metaType, &naive, &zeroStatus, &scope)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"timestamp without time zone", "json", "2025-03-09 06:59:59.5", "0", "write"},
		[]string{typ, metaType, naive, strconv.Itoa(zeroStatus), scope}); diff != "" {
		t.Errorf("after down (-want +got):\n%s", diff)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
