package pgcluster

import (
	"context"
	"database/sql"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

func TestFind(t *testing.T) {
	bin := find(t)
	for _, program := range []string{"initdb", "pg_ctl", "postgres"} {
		if !executable(filepath.Join(bin, program)) {
			t.Errorf("%s is not in %s, the directory Find returned", program, bin)
		}
	}
}

func TestLifecycle(t *testing.T) {
	c := newCluster(t)
	if c.Exists() {
		t.Fatalf("Exists before Init: got true, want false")
	}
	if err := c.Init(context.Background(), "max_connections = 23"); err != nil {
		t.Fatal(err)
	}
	if !c.Exists() {
		t.Fatalf("Exists after Init: got false, want true")
	}
	if c.Running() {
		t.Fatalf("Running before Start: got true, want false")
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(port); err != nil {
		t.Fatal(err)
	}
	if !c.Running() {
		t.Fatalf("Running after Start: got false, want true")
	}

	db, err := sql.Open("pgx", URL(port))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for setting, want := range map[string]string{
		"max_connections":         "23",
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": ".",
		"server_encoding":         "UTF8",
		"lc_collate":              "C",
	} {
		var got string
		if err := db.QueryRow("SHOW " + setting).Scan(&got); err != nil {
			t.Fatalf("SHOW %s: %v", setting, err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}
	db.Close()

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if c.Running() {
		t.Errorf("Running after Stop: got true, want false")
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("postmaster.pid is still there after Stop (stat: %v)", err)
	}
}

// TestRestartAndSignal: Restart brings up a new postmaster on the same
// port, in both modes; Signal reaches the postmaster that PID names.
func TestRestartAndSignal(t *testing.T) {
	c := newCluster(t)
	if _, err := c.PID(); err == nil {
		t.Errorf("PID with no cluster: got no error")
	}
	if err := c.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(port); err != nil {
		t.Fatal(err)
	}
	before, err := c.PID()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"fast", "immediate"} {
		if err := c.Restart(mode); err != nil {
			t.Fatalf("restart -m %s: %v", mode, err)
		}
		after, err := c.PID()
		if err != nil {
			t.Fatal(err)
		}
		if after == before {
			t.Errorf("restart -m %s: the postmaster is still PID %d", mode, after)
		}
		before = after
		db, err := sql.Open("pgx", URL(port))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Ping(); err != nil {
			t.Errorf("after restart -m %s, port %d: %v", mode, port, err)
		}
		db.Close()
	}

	// SIGTERM is a smart shutdown: with no sessions, the server stops.
	if err := c.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); c.Running(); time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatal("the server still runs 30 s after SIGTERM to its postmaster")
		}
	}
}

func TestInitFailureRemovesDir(t *testing.T) {
	c := newCluster(t)
	// The server programs are not where c looks for them.
	c.Bin = t.TempDir()
	if err := c.Init(context.Background()); err == nil {
		t.Fatal("Init without initdb: got no error")
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("%s is still there after a failed Init (stat: %v)", c.Dir, err)
	}
}

func TestStartPortInUse(t *testing.T) {
	c := newCluster(t)
	if err := c.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	err = c.Start(ln.Addr().(*net.TCPAddr).Port)
	if err == nil {
		t.Fatal("Start on a port in use: got no error")
	}
	for _, want := range []string{"pg_ctl: ", "last lines of " + c.LogFile, "Address already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not contain %q:\n%v", want, err)
		}
	}
	if c.Running() {
		t.Errorf("Running after a failed Start: got true, want false")
	}
}

func TestStopNotRunning(t *testing.T) {
	c := newCluster(t)
	if err := c.Stop(); err != nil {
		t.Errorf("Stop with no cluster: %v", err)
	}
	if err := c.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("Stop with a cluster that never started: %v", err)
	}
}

func TestURL(t *testing.T) {
	if got, want := URL(5433), "postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable"; got != want {
		t.Errorf("URL(5433) = %q, want %q", got, want)
	}
}

func TestBrief(t *testing.T) {
	tests := []struct {
		program string
		out     string
		want    string
	}{
		{"initdb", "The files belonging to this database system...\ninitdb: error: directory \"x\" exists but is not empty\ninitdb: hint: remove it\n",
			`error: directory "x" exists but is not empty; hint: remove it`},
		{"pg_ctl", "waiting for server to start.... stopped waiting\npg_ctl: could not start server\n", "could not start server"},
		{"pg_ctl", "runuser: user pg does not exist\n", "runuser: user pg does not exist"},
		{"initdb", "", ""},
	}
	for _, tt := range tests {
		if got := brief(tt.program, []byte(tt.out)); got != tt.want {
			t.Errorf("brief(%s, %q) = %q, want %q", tt.program, tt.out, got, tt.want)
		}
	}
}

func TestShellJoin(t *testing.T) {
	argv := []string{"printf", "%s|", "a b", "it's", `$HOME "x"`, ""}
	out, err := exec.Command("sh", "-c", shellJoin(argv)).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), `a b|it's|$HOME "x"||`; got != want {
		t.Errorf("sh -c %s printed %q, want %q", shellJoin(argv), got, want)
	}
}

// find returns the directory of the server programs, failing t if there
// is none.
func find(t *testing.T) string {
	t.Helper()
	bin, ok := Find()
	if !ok {
		t.Fatal("no PostgreSQL server programs (initdb and pg_ctl) on PATH or in /usr/lib/postgresql/*/bin: " +
			"install them (e.g. apt install postgresql)")
	}
	return bin
}

// newCluster returns a cluster in a fresh directory that the user New
// picks can reach, stopped and removed when t ends.
func newCluster(t *testing.T) *Cluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := New(find(t), filepath.Join(dir, "data"), filepath.Join(dir, "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return c
}
