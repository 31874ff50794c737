package monitor

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/waybill/waybill/testdb"
)

// TestPgBouncerPools: with PgBouncer's admin console, the report shows its
// pools and plans its server connections; a client waiting for the
// pool's one server connection (held by another client's open
// transaction) is a warning naming the pool.
func TestPgBouncerPools(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.New(t)
	name := testdb.Name(dsn)
	bouncer := testdb.PgBouncer(t, dsn, 1)
	through, err := sql.Open("pgx", bouncer.URL(name)+"&default_query_exec_mode=exec")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { through.Close() })

	// One client holds the pool's only server connection in a transaction;
	// another waits for it.
	tx, err := through.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	if _, err := tx.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := through.ExecContext(ctx, "SELECT 1")
		waited <- err
	}()

	opts := DefaultOptions
	opts.BouncerAdminURL = bouncer.AdminURL()
	opts.AppInstances = 4
	r := collectUntil(t, openOne(t, dsn), opts, func(r Report) bool {
		for _, p := range r.PgBouncer.Pools {
			if p.Database == name && p.ClWaiting == 1 {
				return true
			}
		}
		return false
	})
	if r.Capacity.PooledBy != "pgbouncer" || r.Capacity.PlannedAppConnections != 1 || r.PgBouncer.DefaultPoolSize != 1 {
		t.Errorf("capacity %+v, bouncer settings %+v: want PgBouncer's one server connection planned", r.Capacity, *r.PgBouncer)
	}
	found := false
	for _, is := range r.Issues {
		if is.Section == SectionPgBouncer && is.Severity == Warning && strings.Contains(is.Message, name+"/postgres") &&
			strings.Contains(is.Recommendation, "default_pool_size (now 1)") {
			found = true
		}
	}
	if !found {
		t.Errorf("issues %+v: want a warning about the waiting client of pool %s/postgres", r.Issues, name)
	}
	var text strings.Builder
	if err := RenderText(&text, r, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "PgBouncer pools (default_pool_size 1") || !strings.Contains(text.String(), name) {
		t.Errorf("the text report has no PgBouncer section with the pool:\n%s", text.String())
	}

	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("the waiting client: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the waiting client still waits after the transaction ended")
	}
}
