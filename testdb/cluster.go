package testdb

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/waybill/waybill/pgcluster"
)

// Cluster starts a throwaway PostgreSQL cluster of its own, with each of
// settings as a line of its postgresql.conf (e.g. "max_connections = 23"),
// and returns the URL of its postgres database as the superuser postgres.
// The cluster is stopped and its directory removed when t ends. It fails
// t if the machine has no initdb and pg_ctl.
func Cluster(t testing.TB, settings ...string) string {
	t.Helper()
	_, port := StartCluster(t, settings...)
	return pgcluster.URL(port)
}

// StartCluster is Cluster for tests that act on the server itself
// (restart it, signal it): it returns the cluster and the port it listens
// on.
func StartCluster(t testing.TB, settings ...string) (*pgcluster.Cluster, int) {
	t.Helper()
	c := newCluster(t, "cluster")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Init(ctx, settings...); err != nil {
		t.Fatalf("testdb: create a cluster: %v", err)
	}
	return c, startOnFreePort(t, c, "cluster")
}

// newCluster returns a cluster, not yet created, in a directory of its
// own; what ("cluster", "replica") names it in errors. The server is
// stopped and the directory removed when t ends. It fails t if the
// machine has no initdb and pg_ctl.
func newCluster(t testing.TB, what string) *pgcluster.Cluster {
	t.Helper()
	bin, ok := pgcluster.Find()
	if !ok {
		t.Fatal("testdb: no PostgreSQL server programs (initdb and pg_ctl) on PATH or in /usr/lib/postgresql/*/bin: " +
			"install them (e.g. apt install postgresql) or put their directory on PATH")
	}
	dir := serverDir(t, "waybill-"+what+"-")
	c, err := pgcluster.New(bin, filepath.Join(dir, "data"), filepath.Join(dir, "postgres.log"))
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	// Registered before the server starts: a pg_ctl that gives up may
	// still leave one running.
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("testdb: stop the %s in %s: %v", what, c.Dir, err)
		}
	})
	return c
}

// serverDir makes a directory for a server's files, removed when t ends.
// Not t.TempDir: its directories are 0700, and as root the servers run as
// an unprivileged user who must reach it.
func serverDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
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
	return dir
}

// startOnFreePort starts c on a free port and returns it. Another process
// may take the free port before the server does: it tries a few.
func startOnFreePort(t testing.TB, c *pgcluster.Cluster, what string) int {
	t.Helper()
	for attempt := 1; ; attempt++ {
		port, err := pgcluster.FreePort()
		if err == nil {
			err = c.Start(port)
		}
		if err == nil {
			return port
		}
		if attempt == 3 {
			t.Fatalf("testdb: start the %s: %v", what, err)
		}
		if err := c.Stop(); err != nil {
			t.Fatalf("testdb: stop the %s after a failed start: %v", what, err)
		}
	}
}

// PgBouncer starts a PgBouncer in transaction pooling in front of the
// server of serverURL (a URL of 127.0.0.1, such as AdminURL's or
// Cluster's), with poolSize server connections per database and user; it
// is stopped when t ends. Bouncer.URL(name) reaches database name through
// it. It fails t if the machine has no pgbouncer.
func PgBouncer(t testing.TB, serverURL string, poolSize int) *pgcluster.Bouncer {
	t.Helper()
	u, err := url.Parse(serverURL)
	if err != nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("testdb: PgBouncer needs a server on 127.0.0.1, not %q", serverURL)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		port = 5432
	}
	dir := serverDir(t, "waybill-pgbouncer-")
	b, err := pgcluster.StartBouncer(filepath.Join(dir, "pgbouncer"), port, poolSize)
	if err != nil {
		t.Fatalf("testdb: start PgBouncer: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Stop(); err != nil {
			t.Errorf("testdb: stop PgBouncer: %v", err)
		}
	})
	return b
}
