package testdb

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCluster(t *testing.T) {
	var dir string
	// The subtest's cleanups, which stop the cluster, run before it returns.
	t.Run("running", func(t *testing.T) {
		db := Open(t, Cluster(t, "max_connections = 23", "superuser_reserved_connections = 2"))
		var max string
		if err := db.QueryRow("SHOW max_connections").Scan(&max); err != nil {
			t.Fatal(err)
		}
		if max != "23" {
			t.Errorf("max_connections = %s, want 23", max)
		}
		if err := db.QueryRow("SHOW data_directory").Scan(&dir); err != nil {
			t.Fatal(err)
		}
		if pids := postmasters(t, dir); len(pids) != 1 {
			t.Fatalf("processes running postgres -D %s: %v, want one (is the check blind?)", dir, pids)
		}
	})
	if dir == "" {
		t.Fatal("the cluster never answered")
	}
	// pg_ctl stop returns once the pid file is gone; the process ends a
	// moment later (seconds later on a loaded machine: the ceiling is
	// generous, the wait ends as soon as it is gone).
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		pids := postmasters(t, dir)
		if len(pids) == 0 {
			break
		}
		if time.Since(start) > time.Minute {
			t.Errorf("postgres -D %s still runs a minute after the test (pids %v)", dir, pids)
			break
		}
	}
	if _, err := os.Stat(filepath.Dir(dir)); !os.IsNotExist(err) {
		t.Errorf("the cluster's directory %s is still there (stat: %v)", filepath.Dir(dir), err)
	}
}

// postmasters returns the ids of the processes whose command line has
// "-D dir": the server of the cluster in dir. Its child processes rewrite
// their command lines, and a zombie has none.
func postmasters(t *testing.T, dir string) []string {
	t.Helper()
	cmdlines, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("\x00-D\x00" + dir + "\x00")
	var pids []string
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, want) {
			pids = append(pids, filepath.Base(filepath.Dir(f)))
		}
	}
	return pids
}
