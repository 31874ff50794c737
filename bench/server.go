package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// moduleRoot returns the repository root: the nearest directory at or
// above the working directory whose go.mod is Waybill's.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/waybill/waybill\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the Waybill repository")
		}
		dir = parent
	}
}

// build compiles the server into dir and returns the binary's path.
func build(ctx context.Context, root, dir string, stderr io.Writer) (string, error) {
	bin := filepath.Join(dir, "waybill")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	return bin, nil
}

// serverConfig lists the variables of docs/configuration.md. The server
// and its subcommands get none of them from the caller's environment, so
// that a benchmark measures the documented defaults, except those set in
// serverEnv.
var serverConfig = []string{
	"DATABASE_URL", "DATABASE_REPLICA_URLS", "DB_MAX_OPEN_CONNS", "DB_MAX_IDLE_CONNS", "DB_CONN_MAX_LIFETIME",
	"DB_CONN_MAX_IDLE_TIME", "DB_CONNECT_TIMEOUT", "DB_STATEMENT_TIMEOUT", "DB_PGBOUNCER", "APP_INSTANCES",
	"HTTP_ADDR", "PPROF_ADDR", "REQUEST_TIMEOUT", "DRAIN_DELAY", "SHUTDOWN_TIMEOUT", "BODY_LIMIT", "RATE_LIMIT_RPS", "AUTH_CACHE_TTL", "AUTH_FAILURE_RPS",
	"LOG_LEVEL", "LOG_FORMAT", "WEBHOOK_SECRET", "GOGC", "GOMEMLIMIT",
}

// serverEnv returns the environment of a waybill process: the caller's
// minus Waybill's configuration, plus these settings: the database, the
// address, no rate limit (it is per API key and all load uses one key),
// and warnings only in the log, since an access-log line per request
// would measure the log rather than the API.
func serverEnv(dbURL, addr string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(serverConfig, name) {
			env = append(env, kv)
		}
	}
	env = append(env, "DATABASE_URL="+dbURL, "RATE_LIMIT_RPS=0", "LOG_LEVEL=warn", "LOG_FORMAT=json")
	if addr != "" {
		env = append(env, "HTTP_ADDR="+addr)
	}
	return env
}

// tool runs a waybill subcommand against dbURL and returns its standard
// output; its standard error (the seed's progress bar on a terminal) is
// the harness's.
func (h *harness) tool(ctx context.Context, dbURL string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Env = serverEnv(dbURL, "")
	cmd.Stdout, cmd.Stderr = &out, h.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("waybill %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), nil
}

// createAPIKey makes a write-scoped key with `waybill apikey create`,
// which prints the key alone on its last line.
func (h *harness) createAPIKey(ctx context.Context, dbURL string) (string, error) {
	out, err := h.tool(ctx, dbURL, "apikey", "create", "--name", "bench", "--scope", "write")
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	key := strings.TrimSpace(lines[len(lines)-1])
	if !strings.HasPrefix(key, "wb_") {
		return "", fmt.Errorf("waybill apikey create: no key on the last line of %q", out)
	}
	return key, nil
}

// server is a running `waybill serve`.
type server struct {
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:port
	pprof   string // the profiler's host:port, "" without -pprof
	logPath string
	exited  chan struct{}
	waitErr error
}

// startServer starts `waybill serve` on a free loopback port and waits
// until /readyz answers 200. The server runs in its own process group, so
// a Ctrl-C in the terminal reaches only the harness, which then stops it
// in order; and it gets SIGTERM should the harness die first.
func (h *harness) startServer(ctx context.Context, dbURL string) (*server, error) {
	return h.startServerWith(ctx, dbURL, h.opts.serverEnv...)
}

// startServerWith is startServer with more of the server's environment
// (NAME=value), each server logging to a file of its own.
func (h *harness) startServerWith(ctx context.Context, dbURL string, env ...string) (*server, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	h.servers++
	logPath := filepath.Join(h.dir, fmt.Sprintf("server-%d.log", h.servers))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(h.bin, "serve")
	cmd.Env = append(serverEnv(dbURL, addr), env...)
	var pprofAddr string
	if h.opts.pprofDir != "" {
		if pprofAddr, err = freePort(); err != nil {
			return nil, err
		}
		cmd.Env = append(cmd.Env, "PPROF_ADDR="+pprofAddr)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start waybill serve: %w", err)
	}
	s := &server{cmd: cmd, base: "http://" + addr, pprof: pprofAddr, logPath: logPath, exited: make(chan struct{})}
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()

	deadline := time.After(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("waybill serve exited (%v):\n%s", s.waitErr, s.logTail())
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-deadline:
			s.stop()
			return nil, fmt.Errorf("waybill serve was not ready within 30s:\n%s", s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freePort returns a loopback address with a port that was free a moment
// ago.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// peakRSS returns the server's peak resident set size (VmHWM) in bytes.
func (s *server) peakRSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// stop sends SIGTERM, lets the server drain, and kills it if it has not
// exited after 25 s (its DRAIN_DELAY is 5 s, its SHUTDOWN_TIMEOUT 15 s).
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(25 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// running reports whether the server is still up.
func (s *server) running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// logTail returns the last lines of the server's log.
func (s *server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// profile saves a CPU profile of the server, taken from after warmup for
// duration, into path; it runs beside a scenario's load.
func (s *server) profile(ctx context.Context, warmup, duration time.Duration, path string) error {
	select {
	case <-time.After(warmup):
	case <-ctx.Done():
		return ctx.Err()
	}
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.pprof, int(duration.Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
