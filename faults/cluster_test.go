//go:build linux

package faults

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/pgcluster"
	"github.com/waybill/waybill/testdb"
)

// password is in every DSN the server gets. The clusters trust local
// connections and ignore it, so it is there only to be looked for in the
// server's logs.
const password = "s3cretpw"

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER (linux/prctl.h).
const prSetChildSubreaper = 36

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	// The postmasters pg_ctl starts outlive pg_ctl and are adopted by the
	// nearest subreaper, else by PID 1, which in some containers reaps
	// nothing. A killed postmaster left a zombie keeps a new one from
	// starting on its data directory (its PID still answers kill -0), so
	// this process adopts them and reaps those it stops or kills.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		fmt.Fprintf(os.Stderr, "faults: prctl(PR_SET_CHILD_SUBREAPER): %v\n", errno)
		os.Exit(1)
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// waybill returns the path of the waybill binary, built once per run of
// the package from the working tree.
func waybill(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "waybill-faults-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "waybill")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/waybill/waybill").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// cluster is a throwaway PostgreSQL cluster with Waybill's schema and a
// write API key, stopped and removed when the test ends.
type cluster struct {
	*pgcluster.Cluster
	port int
	dsn  string // what the server gets, with password
	key  string // an API key with write scope
}

// startCluster starts a cluster of its own (testdb.StartCluster: stopped
// and removed when the test ends), migrates it with `waybill migrate up`
// and creates an API key with `waybill apikey create`.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	pc, port := testdb.StartCluster(t, "max_connections = 60")
	c := &cluster{Cluster: pc, port: port}
	c.dsn = fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", password, c.port)

	env := []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + c.dsn, "LOG_LEVEL=warn"}
	if out, err := runWaybill(t, env, "migrate", "up"); err != nil {
		t.Fatalf("waybill migrate up: %v\n%s", err, out)
	}
	out, err := runWaybill(t, env, "apikey", "create", "--name", "faults", "--scope", "write")
	if err != nil {
		t.Fatalf("waybill apikey create: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	c.key = strings.TrimSpace(lines[len(lines)-1])
	return c
}

// runWaybill runs the waybill binary with args and env, and returns its
// standard output.
func runWaybill(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(waybill(t), args...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return string(out), nil
}

// restart restarts the server with pg_ctl restart -m mode and reaps the
// old postmaster.
func (c *cluster) restart(t *testing.T, mode string) {
	t.Helper()
	old, err := c.PID()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(mode); err != nil {
		t.Fatal(err)
	}
	if err := waitGone([]int{old}, 30*time.Second); err != nil {
		t.Fatalf("after pg_ctl restart -m %s: %v", mode, err)
	}
}

// connect opens a connection of the test's own (application_name faults,
// not counted as the server's) within limit.
func (c *cluster) connect(limit time.Duration) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	return pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&application_name=faults&connect_timeout=%d",
		c.port, max(1, int(limit.Seconds()))))
}

// accepting reports whether the cluster accepts a connection now: what
// pg_isready calls "accepting connections", done with a real session.
func (c *cluster) accepting() bool {
	conn, err := c.connect(500 * time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close(context.Background())
	return true
}

// recovered returns a channel that receives, once, the first moment the
// cluster accepts connections after it has been seen refusing them. It
// polls every 5 ms until ctx ends.
func (c *cluster) recovered(ctx context.Context) <-chan time.Time {
	ch := make(chan time.Time, 1)
	go func() {
		down := false
		for ctx.Err() == nil {
			switch ok := c.accepting(); {
			case !ok:
				down = true
			case down:
				ch <- time.Now()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return ch
}

// serverConns returns how many sessions of the server's application pool
// (application_name waybill) the cluster has.
func (c *cluster) serverConns() (int, error) {
	conn, err := c.connect(2 * time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'waybill'`).Scan(&n)
	return n, err
}

// kill SIGKILLs the postmaster and waits until it, every process it had
// started and its shared memory are gone, so that the cluster can start
// again: PostgreSQL refuses to while an old backend holds the segment.
func (c *cluster) kill(t *testing.T) {
	t.Helper()
	pm, err := c.PID()
	if err != nil {
		t.Fatal(err)
	}
	key, shmid := c.shmem()
	// Stopped, the postmaster forks nothing between the listing and the
	// kill.
	if err := c.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	kids := childrenOf(pm)
	if err := c.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := waitGone(append(kids, pm), 30*time.Second); err != nil {
		t.Fatalf("after SIGKILL to the postmaster: %v", err)
	}
	for start := time.Now(); shmAttached(shmid) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("shared memory segment %d (key %d) still attached 30 s after the postmaster was killed", shmid, key)
		}
	}
}

// shmem returns the System V shared memory key and id that the running
// postmaster recorded on the last line of postmaster.pid (0, -1 if none).
func (c *cluster) shmem() (key, id int) {
	b, err := os.ReadFile(filepath.Join(c.Dir, "postmaster.pid"))
	if err != nil {
		return 0, -1
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 7 {
		return 0, -1
	}
	f := strings.Fields(lines[6])
	if len(f) != 2 {
		return 0, -1
	}
	key, _ = strconv.Atoi(f[0])
	id, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, -1
	}
	return key, id
}

// shmAttached returns how many processes have System V shared memory
// segment id attached, from /proc/sysvipc/shm; 0 if there is no such
// segment.
func shmAttached(id int) int {
	if id < 0 {
		return 0
	}
	f, err := os.Open("/proc/sysvipc/shm")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// key shmid perms size cpid lpid nattch ...
		fields := strings.Fields(sc.Text())
		if len(fields) > 6 && fields[1] == strconv.Itoa(id) {
			n, _ := strconv.Atoi(fields[6])
			return n
		}
	}
	return 0
}

// freeze stops the postmaster and every process it started with SIGSTOP:
// the database hangs, its sockets stay open. The returned function, also
// run when the test ends however it ends, resumes them all.
func (c *cluster) freeze(t *testing.T) (thaw func()) {
	t.Helper()
	var mu sync.Mutex
	var frozen []int
	thaw = func() {
		mu.Lock()
		defer mu.Unlock()
		for _, pid := range frozen {
			syscall.Kill(pid, syscall.SIGCONT)
		}
		frozen = nil
	}
	t.Cleanup(thaw)
	pm, err := c.PID()
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// The postmaster first: stopped, it forks no new child.
	if err := syscall.Kill(pm, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen = append(frozen, pm)
	for _, kid := range childrenOf(pm) {
		if syscall.Kill(kid, syscall.SIGSTOP) == nil {
			frozen = append(frozen, kid)
		}
	}
	return thaw
}

// childrenOf returns the processes whose parent is pid, from /proc.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var kids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := procStat(p); ok && ppid == pid {
			kids = append(kids, p)
		}
	}
	return kids
}

// procStat returns the state letter and parent of process pid from
// /proc/pid/stat; ok is false if there is no such process.
func procStat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid, true
}

// waitGone waits until each of pids has exited, reaping those that are
// this process's children (adopted, see TestMain). A zombie that is not
// its child counts as gone, except that it would still hold its PID.
func waitGone(pids []int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var left []int
		for _, pid := range pids {
			var ws syscall.WaitStatus
			wpid, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
			if wpid == pid {
				continue // reaped
			}
			state, _, exists := procStat(pid)
			if !exists || (state == 'Z' && errors.Is(err, syscall.ECHILD)) {
				continue
			}
			left = append(left, pid)
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still exist after %s", left, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
