package testdb

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/waybill/waybill/pgcluster"
)

// Replica starts a streaming replica of the cluster that listens on
// primaryPort of 127.0.0.1 (one of StartCluster's): a pg_basebackup -R of
// it, started on a port of its own as a hot standby. It returns the
// replica, to stop and start it again, and its port (pgcluster.URL). The
// replica is stopped and its directory removed when t ends.
func Replica(t testing.TB, primaryPort int) (*pgcluster.Cluster, int) {
	t.Helper()
	bin, ok := pgcluster.Find()
	if !ok {
		t.Fatal("testdb: no PostgreSQL server programs (initdb and pg_ctl) on PATH or in /usr/lib/postgresql/*/bin")
	}
	// Not t.TempDir: as root, the replica runs as an unprivileged user who
	// must reach it.
	dir, err := os.MkdirTemp("", "waybill-replica-")
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("testdb: %v", err)
		}
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	c, err := pgcluster.New(bin, filepath.Join(dir, "data"), filepath.Join(dir, "postgres.log"))
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("testdb: stop the replica in %s: %v", c.Dir, err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.BaseBackup(ctx, primaryPort); err != nil {
		t.Fatalf("testdb: base backup of the primary: %v", err)
	}
	for attempt := 1; ; attempt++ {
		port, err := pgcluster.FreePort()
		if err == nil {
			err = c.Start(port)
		}
		if err == nil {
			return c, port
		}
		if attempt == 3 {
			t.Fatalf("testdb: start the replica: %v", err)
		}
		if err := c.Stop(); err != nil {
			t.Fatalf("testdb: stop the replica after a failed start: %v", err)
		}
	}
}
