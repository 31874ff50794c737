package testdb

import (
	"context"
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
	c := newCluster(t, "replica")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.BaseBackup(ctx, primaryPort); err != nil {
		t.Fatalf("testdb: base backup of the primary: %v", err)
	}
	return c, startOnFreePort(t, c, "replica")
}
