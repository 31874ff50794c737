package testdb

import (
	"context"
	"testing"
	"time"

	"github.com/waybill/waybill/pgcluster"
)

func TestReplica(t *testing.T) {
	ctx := context.Background()
	var dir string
	t.Run("streaming", func(t *testing.T) {
		_, port := StartCluster(t)
		primary := Open(t, pgcluster.URL(port))
		if _, err := primary.Exec("CREATE TABLE t (n int); INSERT INTO t VALUES (1)"); err != nil {
			t.Fatal(err)
		}
		rc, rport := Replica(t, port)
		dir = rc.Dir
		replica := Open(t, pgcluster.URL(rport))
		var standby bool
		if err := replica.QueryRow("SELECT pg_is_in_recovery()").Scan(&standby); err != nil || !standby {
			t.Fatalf("pg_is_in_recovery() on the replica = %v (%v), want true", standby, err)
		}
		count := func() int {
			t.Helper()
			var n int
			if err := replica.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		waitFor := func(want int) {
			t.Helper()
			for start := time.Now(); count() != want; time.Sleep(20 * time.Millisecond) {
				if time.Since(start) > 30*time.Second {
					t.Fatalf("the replica has %d rows 30 s later, want %d", count(), want)
				}
			}
		}
		waitFor(1)
		if err := pgcluster.PauseReplay(ctx, pgcluster.URL(rport)); err != nil {
			t.Fatal(err)
		}
		if _, err := primary.Exec("INSERT INTO t VALUES (2)"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if n := count(); n != 1 {
			t.Errorf("with replay paused, the replica has %d rows, want 1", n)
		}
		if err := pgcluster.ResumeReplay(ctx, pgcluster.URL(rport)); err != nil {
			t.Fatal(err)
		}
		waitFor(2)
	})
	if dir == "" {
		t.Fatal("the replica never started")
	}
	if pids := postmasters(t, dir); len(pids) != 0 {
		t.Errorf("the replica still runs after the test (pids %v)", pids)
	}
}
