package pgcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"testing"
	"time"
)

func TestProcessExists(t *testing.T) {
	if !ProcessExists(os.Getpid()) {
		t.Error("ProcessExists(own pid) = false, want true")
	}
	// Another user's process exists too (EPERM is not absence).
	if !ProcessExists(1) {
		t.Error("ProcessExists(1) = false, want true")
	}
	if pid := deadPID(t); ProcessExists(pid) {
		t.Errorf("ProcessExists(%d), a child already reaped, = true, want false", pid)
	}
	if ProcessExists(0) || ProcessExists(-1) {
		t.Error("ProcessExists of a pid <= 0 = true, want false")
	}
}

func TestProcessEnded(t *testing.T) {
	if ProcessEnded(os.Getpid()) {
		t.Error("ProcessEnded(own pid) = true, want false")
	}
	if pid := deadPID(t); !ProcessEnded(pid) {
		t.Errorf("ProcessEnded(%d), a child already reaped, = false, want true", pid)
	}
	// A child that exited and is not yet waited for is a zombie: ended,
	// though it still exists.
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	pid := cmd.Process.Pid
	for start := time.Now(); !ProcessEnded(pid); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > time.Minute {
			t.Fatalf("ProcessEnded(%d), a child that exited a minute ago, = false", pid)
		}
	}
	if !ProcessExists(pid) {
		t.Errorf("ProcessExists(%d), a zombie, = false, want true", pid)
	}
}

// TestServerDatabases creates, clones, renames and drops databases on the
// test server, and drops the orphans of a process that is gone.
func TestServerDatabases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := connect(t)
	prefix := fmt.Sprintf("waybill_pgc_%d_", os.Getpid())
	name := func(n string) string { return prefix + n }
	t.Cleanup(func() {
		names, _ := s.Names(ctx, prefix)
		for _, n := range names {
			if err := s.Drop(n); err != nil {
				t.Error(err)
			}
		}
	})

	if err := s.Create(ctx, name("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Conn().Exec(ctx, "ALTER DATABASE "+name("a")+" WITH IS_TEMPLATE true"); err != nil {
		t.Fatal(err)
	}
	if err := s.Clone(ctx, name("b"), name("a"), CopyWAL); err != nil {
		t.Fatal(err)
	}
	if err := s.Clone(ctx, name("c"), name("a"), CopyFiles); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename(ctx, name("c"), name("d")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Names(ctx, prefix); err != nil || !slices.Equal(got, []string{name("a"), name("b"), name("d")}) {
		t.Errorf("Names = %v, %v; want a, b, d", got, err)
	}
	for _, n := range []string{name("a"), name("b"), name("d")} {
		if ok, err := s.Exists(ctx, n); err != nil || !ok {
			t.Errorf("Exists(%s) = %v, %v; want true", n, ok, err)
		}
	}
	if got, want := s.DatabaseURL(name("b")), "/"+name("b"); !regexp.MustCompile(regexp.QuoteMeta(want) + `(\?|$)`).MatchString(got) {
		t.Errorf("DatabaseURL = %s, want its path %s", got, want)
	}

	// A template is dropped too, and dropping what is gone is no error.
	for _, n := range []string{name("a"), name("a")} {
		if err := s.Drop(n); err != nil {
			t.Errorf("Drop(%s): %v", n, err)
		}
	}
	if ok, _ := s.Exists(ctx, name("a")); ok {
		t.Errorf("%s exists after Drop", name("a"))
	}

	// A database a DROP left half done is invalid (what PostgreSQL 15.4
	// and later write for it): ALTER DATABASE on it would be FATAL and end
	// the connection. Drop finishes it, and the connection goes on.
	if _, err := s.Conn().Exec(ctx, "UPDATE pg_database SET datconnlimit = -2 WHERE datname = $1", name("b")); err != nil {
		t.Fatal(err)
	}
	if err := s.Drop(name("b")); err != nil {
		t.Errorf("Drop(invalid %s): %v", name("b"), err)
	}
	if ok, err := s.Exists(ctx, name("b")); err != nil || ok {
		t.Errorf("after dropping an invalid database: Exists = %v, %v; want false on a live connection", ok, err)
	}

	dead, alive := fmt.Sprintf("%sorphan_%d_x", prefix, deadPID(t)), fmt.Sprintf("%sorphan_%d_x", prefix, os.Getpid())
	for _, n := range []string{dead, alive} {
		if err := s.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	var dropped []string
	s.DropOrphans(ctx, prefix+"orphan_", regexp.MustCompile(`^`+prefix+`orphan_(\d+)_`), func(n string) { dropped = append(dropped, n) })
	if !slices.Equal(dropped, []string{dead}) {
		t.Errorf("DropOrphans dropped %v, want [%s]", dropped, dead)
	}
	if got, _ := s.Names(ctx, prefix+"orphan_"); !slices.Equal(got, []string{alive}) {
		t.Errorf("after DropOrphans: %v, want [%s]", got, alive)
	}
}

// connect connects to the test server (WAYBILL_TEST_DATABASE_URL, as
// testdb reads it, which this package cannot import) and closes the
// connection when t ends.
func connect(t *testing.T) *Server {
	t.Helper()
	url := os.Getenv("WAYBILL_TEST_DATABASE_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	s, err := Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// deadPID returns the id of a process that has ended and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}
