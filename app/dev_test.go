package app

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/waybill/waybill/pgcluster"
)

// TestDevLocalCluster runs `waybill dev` with no DATABASE_URL, so that it
// creates and starts its own cluster in ./.data/postgres, and checks that
// the printed key works on the demo data and that Ctrl-C (the context
// ending) stops the server and then the cluster.
func TestDevLocalCluster(t *testing.T) {
	bin, ok := pgcluster.Find()
	if !ok {
		t.Skip("no PostgreSQL server binaries (initdb and pg_ctl) on PATH or in /usr/lib/postgresql/*/bin")
	}
	session := firstSession(t) // read before the test leaves the package's directory
	dir := t.TempDir()
	// As root, the cluster runs as the postgres user, which must reach dir.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	// Should dev fail to stop its cluster, stop it here, before the
	// directory is removed under it.
	c, err := newCluster(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the cluster dev left running: %v", err)
		}
	})

	s := startWaybill(t, nil, "dev")
	s.waitStatus(t, "/readyz", "", http.StatusOK, time.Minute)
	key := printed(t, s, `API key\s+(wb_\S+)`)
	example := printed(t, s, `/v1/shipments/([0-9a-f-]{36})`)
	pidFile := filepath.Join(dir, ".data", "postgres", "postmaster.pid")
	pid := postmasterPID(t, pidFile)

	if r := s.get(t, "/v1/shipments/"+example, key); r.status != http.StatusOK || r.body["id"] != example {
		t.Errorf("GET the example shipment: got %d %v, want 200 with id %s", r.status, r.body, example)
	}
	wantProblem(t, s.get(t, "/v1/shipments/00000000-0000-0000-0000-000000000000", key), http.StatusNotFound, "not_found")
	wantProblem(t, s.get(t, "/v1/shipments/"+example, ""), http.StatusUnauthorized, "unauthorized")

	// dev serves on HTTP_ADDR, as startWaybill set it, and says so.
	if url := printed(t, s, `URL\s+(\S+)`); url != s.base {
		t.Errorf("dev printed the URL %s, want %s (HTTP_ADDR)", url, s.base)
	}
	// The console's URL is printed without the key (the user pastes it).
	console := printed(t, s, `Console\s+(\S+)`)
	if console != s.base+"/console/" || strings.Contains(console, key) {
		t.Errorf("dev printed the console URL %s, want %s/console/", console, s.base)
	}
	if resp, err := http.Get(console); err != nil {
		t.Errorf("GET %s: %v", console, err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", console, resp.StatusCode)
		}
	}
	// The printed DATABASE_URL lets another command reach dev's cluster
	// while dev runs: a key it creates works on dev's server.
	dbURL := printed(t, s, `DATABASE_URL='([^']+)' go run \. apikey create`)
	code, out, stderr := run(t, map[string]string{"DATABASE_URL": dbURL}, "apikey", "create", "--name", "other", "--scope", "read")
	if code != exitOK {
		t.Fatalf("apikey create with the printed DATABASE_URL exited %d:\n%s", code, stderr)
	}
	other := regexp.MustCompile(`wb_\S+`).FindString(out)
	if r := s.get(t, "/v1/shipments/"+example, other); r.status != http.StatusOK {
		t.Errorf("GET with the key apikey create made (%q) = %d, want 200", other, r.status)
	}
	paste(t, session, s.base, key)

	if code := s.stop(t); code != exitOK {
		t.Fatalf("dev exited %d, want %d:\n%s", code, exitOK, s.stderr)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("%s still exists after dev returned (stat: %v): the cluster was not stopped", pidFile, err)
	}
	// pg_ctl stop returns once the postmaster removed its pid file; the
	// process itself ends a moment later (seconds later on a loaded
	// machine: the ceiling is generous, the wait ends when it is gone).
	for start := time.Now(); !pgcluster.ProcessEnded(pid); time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > time.Minute {
			t.Errorf("the cluster's postmaster (pid %d) still runs a minute after dev returned", pid)
			break
		}
	}
}

// firstSession returns the shell session of docs/api.md's "A first
// session".
func firstSession(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## A first session\n.*?```sh\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/api.md has no sh block under \"## A first session\"")
	}
	return string(m[1])
}

// paste runs session with bash as a newcomer pastes it, with KEY set to
// the key dev printed and B to dev's URL, and checks that it worked: the
// PATCH, which needs the id and the ETag the session captures, took, and
// the mistake it makes on purpose is a 422. Without bash or curl it says
// so and checks nothing.
func paste(t *testing.T, session, base, key string) {
	t.Helper()
	for _, tool := range []string{"bash", "curl", "awk", "sed", "tr"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Logf("docs/api.md's session not run: no %s on PATH", tool)
			return
		}
	}
	cmd := exec.Command("bash", "-e", "-c", session)
	cmd.Env = append(os.Environ(), "B="+base, "KEY="+key)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docs/api.md's session failed: %v\n%s", err, out)
	}
	for _, want := range []string{`"tracking_code":"9400100000000000000000"`, `"status":"in_transit"`, `"status":422`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("docs/api.md's session printed no %s:\n%s", want, out)
		}
	}
}

// printed returns the first submatch of pattern in what s printed to
// stdout.
func printed(t *testing.T, s *server, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("stdout has no match for %s:\n%s", pattern, s.stdout)
	}
	return m[1]
}

// postmasterPID reads the server's process id from its postmaster.pid.
func postmasterPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the cluster is not running: %v", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		t.Fatalf("%s: bad pid line %q", path, first)
	}
	return pid
}
