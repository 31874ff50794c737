package app

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waybill/waybill/testdb"
)

// run runs the waybill command line and returns its exit status and
// output.
func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// migrationFiles lists the migrations/NNNNN_*.sql files.
func migrationFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../migrations/[0-9]*_*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	return files
}

// latestMigration is the newest migration's version.
func latestMigration(t *testing.T) string {
	t.Helper()
	files := migrationFiles(t)
	version, _, _ := strings.Cut(filepath.Base(files[len(files)-1]), "_")
	return strings.TrimLeft(version, "0")
}

func TestMigrateCommands(t *testing.T) {
	env := map[string]string{"DATABASE_URL": testdb.Empty(t)}
	latest := latestMigration(t)
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"migrate", "version"}, "0\n"},
		{[]string{"migrate", "up"}, "schema version " + latest + "\n"},
		{[]string{"migrate", "version"}, latest + "\n"},
		{[]string{"migrate", "to", "2"}, "schema version 2\n"},
		{[]string{"migrate", "status"}, "3        pending"},
		{[]string{"migrate", "redo"}, "schema version 2\n"},
		{[]string{"migrate", "down"}, "schema version 1\n"},
		{[]string{"migrate", "to", latest}, "schema version " + latest + "\n"},
	}
	for _, s := range steps {
		code, stdout, stderr := run(t, env, s.args...)
		if code != 0 || !strings.Contains(stdout, s.want) {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q; want %q", s.args, code, stdout, stderr, s.want)
		}
	}
}

// TestMigrateThroughPgBouncer: with DB_PGBOUNCER=true, waybill migrate
// works on MIGRATE_DATABASE_URL (the server itself) and pins the session
// settings PgBouncer refuses as startup parameters, which connections
// through a real PgBouncer then have; without MIGRATE_DATABASE_URL it
// works through PgBouncer's transaction pooling too (a lock table, not a
// session's advisory lock).
func TestMigrateThroughPgBouncer(t *testing.T) {
	dsn := testdb.Empty(t)
	bouncer := testdb.PgBouncer(t, dsn, 2)
	through := bouncer.URL(testdb.Name(dsn))
	latest := latestMigration(t)
	env := map[string]string{"DATABASE_URL": through, "MIGRATE_DATABASE_URL": dsn, "DB_PGBOUNCER": "true", "DB_STATEMENT_TIMEOUT": "9s"}
	code, stdout, stderr := run(t, env, "migrate", "up")
	if code != 0 || !strings.Contains(stdout, "schema version "+latest+"\n") || !strings.Contains(stdout, "pinned the session settings") {
		t.Fatalf("migrate up: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	db, err := sql.Open("pgx", through+"&default_query_exec_mode=exec")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for param, want := range map[string]string{"jit": "off", "statement_timeout": "9s"} {
		var got string
		if err := db.QueryRow("SHOW " + param).Scan(&got); err != nil || got != want {
			t.Errorf("SHOW %s through PgBouncer after migrate = %q (%v), want %q", param, got, err, want)
		}
	}

	delete(env, "MIGRATE_DATABASE_URL")
	code, stdout, stderr = run(t, env, "migrate", "redo")
	if code != 0 || !strings.Contains(stdout, "schema version "+latest+"\n") {
		t.Errorf("migrate redo through PgBouncer: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestAPIKeyCommands(t *testing.T) {
	dbURL := testdb.New(t)
	env := map[string]string{"DATABASE_URL": dbURL}
	code, stdout, stderr := run(t, env, "apikey", "create", "--name", "ops", "--scope", "write")
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	key := lines[len(lines)-1]
	if !strings.HasPrefix(key, "wb_") || strings.Contains(key, " ") {
		t.Fatalf("the last line of stdout is %q, want the key alone", key)
	}
	id := strings.Fields(lines[0])[3]

	code, stdout, _ = run(t, env, "apikey", "list")
	if code != 0 || !strings.Contains(stdout, id) || !strings.Contains(stdout, "ops") || strings.Contains(stdout, key) {
		t.Errorf("list: exit %d, %q; want the key's id and name, never the key", code, stdout)
	}

	// The key works until it is revoked, and a running server refuses it
	// within a second, however long it may cache keys: the revocation is
	// notified to the server's listener connection.
	env["AUTH_CACHE_TTL"] = "1m"
	s := startWaybill(t, env)
	path := "/v1/shipments/00000000-0000-0000-0000-000000000001"
	if r := s.get(t, path, key); r.status != http.StatusNotFound {
		t.Errorf("with the new key: %d, want 404", r.status)
	}
	var listeners int
	if err := testdb.Open(t, dbURL).QueryRow(`SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'waybill-listen' AND datname = current_database()`).Scan(&listeners); err != nil || listeners != 1 {
		t.Errorf("%d waybill-listen connections (%v), want 1", listeners, err)
	}
	if code, _, stderr := run(t, env, "apikey", "revoke", id); code != 0 {
		t.Fatalf("revoke: exit %d: %s", code, stderr)
	}
	revoked := time.Now()
	for s.get(t, path, key).status != http.StatusUnauthorized {
		if time.Since(revoked) > time.Second {
			t.Fatal("the revoked key still works 1 s after its revocation")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Requests are counted by route template, never by raw path.
	samples := s.text(t, "/metrics")
	if !strings.Contains(samples, `waybill_http_requests_total{method="GET",route="/v1/shipments/:id",status="404"} `) ||
		strings.Contains(samples, "00000000-0000-0000-0000-000000000001") {
		t.Error("/metrics does not count requests by route template")
	}
	if code, _, _ := run(t, env, "apikey", "revoke", id); code != 1 {
		t.Errorf("revoking twice: exit %d, want 1", code)
	}
	// The revocation is in the audit trail, once, made by the CLI.
	var n int
	if err := testdb.Open(t, dbURL).QueryRow(`SELECT count(*) FROM user_activities WHERE action = 'api_key.revoke'
		AND resource_id = $1 AND method = 'CLI' AND api_key_id IS NULL AND status_code IS NULL`, id).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d api_key.revoke audit rows for the key (%v), want 1", n, err)
	}
	if code, stdout, stderr := run(t, env, "apikey", "create", "--name", "auditor", "--scope", "admin"); code != 0 || !strings.Contains(stdout, "scope admin") {
		t.Errorf("create an admin key: exit %d: %s%s", code, stdout, stderr)
	}
}

func TestSeedCommand(t *testing.T) {
	env := map[string]string{"DATABASE_URL": testdb.New(t)}
	code, stdout, stderr := run(t, env, "seed", "--shipments", "2500", "--seed", "3")
	if code != 0 || !strings.HasPrefix(stdout, "loaded 2500 shipments in ") || stderr != "" {
		t.Fatalf("seed: exit %d, stdout %q, stderr %q (no progress bar when not a terminal)", code, stdout, stderr)
	}
	// The planner has statistics and the dashboard its per-day figures:
	// every day from the first shipment's to today.
	db, err := sql.Open("pgx", env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var analyzed bool
	var days, want int
	if err := db.QueryRow(`SELECT (SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'shipments'),
		(SELECT count(*) FROM dashboard_days),
		(SELECT (now() AT TIME ZONE 'UTC')::date - (min(created_at) AT TIME ZONE 'UTC')::date + 1 FROM shipments)`).
		Scan(&analyzed, &days, &want); err != nil {
		t.Fatal(err)
	}
	if !analyzed || days != want || want < 90 || !strings.Contains(stdout, fmt.Sprintf("materialized the dashboard for %d days", want)) {
		t.Errorf("after seed: analyzed %v, %d materialized days (want %d, about 90); stdout %q", analyzed, days, want, stdout)
	}
	if code, _, _ := run(t, env, "seed"); code != 2 {
		t.Errorf("seed without --shipments: exit %d, want 2", code)
	}
}
