//go:build linux

package faults

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/waybill/waybill/pgcluster"
)

// Time limits the server is held to.
const (
	requestTimeout = 2 * time.Second                       // every server's REQUEST_TIMEOUT
	answerLimit    = requestTimeout + 100*time.Millisecond // no answer later than this (issue 11)
	healthLimit    = 2 * time.Second                       // /health, whatever the database does (docs/monitoring.md)
	recoveryLimit  = time.Second                           // first 2xx after the database accepts connections (docs/reliability.md)
	clientTimeout  = answerLimit + 3*time.Second           // a request still unanswered then is hung
	goroutineSlack = 4                                     // goroutines above the baseline that are not a leak
	settleLimit    = 5 * time.Second                       // for the pool and goroutines to settle after the load
)

// server is a `waybill serve` process.
type server struct {
	base    string
	key     string      // the cluster's write key
	log     *syncBuffer // its standard output and error
	cmd     *exec.Cmd
	exited  chan struct{} // closed when it has exited; then exitErr is set
	exitErr error
	probe   *http.Client // one connection per request: sees the listener as a new client does
}

// startServer runs the waybill binary's serve against c with
// REQUEST_TIMEOUT requestTimeout and env (VAR=value, overriding the
// defaults), and waits until /readyz answers 200. It is killed when the
// test ends if it still runs.
func startServer(t *testing.T, c *cluster, env ...string) *server {
	t.Helper()
	port, err := pgcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s := &server{
		base:   "http://" + addr,
		key:    c.key,
		log:    &syncBuffer{},
		exited: make(chan struct{}),
		probe:  &http.Client{Timeout: clientTimeout, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	s.cmd = exec.Command(waybill(t), "serve")
	// Only these variables: the developer's own DATABASE_URL must not leak
	// in. Later entries win.
	s.cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"DATABASE_URL=" + c.dsn,
		"HTTP_ADDR=" + addr,
		"REQUEST_TIMEOUT=" + requestTimeout.String(),
		"SHUTDOWN_TIMEOUT=5s",
		"DRAIN_DELAY=0s",
		"LOG_FORMAT=json",
		"LOG_LEVEL=info",
	}, env...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.exitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		if !s.hasExited() {
			s.cmd.Process.Kill()
			<-s.exited
		}
	})

	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if s.hasExited() {
			t.Fatalf("waybill serve exited before it was ready (%v); its log ends:\n%s", s.exitErr, s.log.tail(20))
		}
		if resp, err := s.probe.Get(s.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("waybill serve not ready after 20 s; its log ends:\n%s", s.log.tail(20))
		}
	}
}

func (s *server) hasExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// metrics scrapes /metrics into a map from series (name and labels, as
// written) to value.
func (s *server) metrics() (map[string]float64, error) {
	resp, err := s.probe.Get(s.base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: status %d", resp.StatusCode)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

// Series read from /metrics.
const (
	goroutinesSeries = `go_goroutines`
	inUseSeries      = `go_sql_in_use_connections{db_name="primary"}`
)

// metric returns one series of /metrics, failing t if it cannot.
func (s *server) metric(t *testing.T, series string) float64 {
	t.Helper()
	m, err := s.metrics()
	if err != nil {
		t.Fatalf("scrape /metrics: %v", err)
	}
	v, ok := m[series]
	if !ok {
		t.Fatalf("/metrics has no series %s", series)
	}
	return v
}

// checkSettled checks that, within settleLimit of the load's end, the
// application pool has no connection in use and the goroutines are back
// within goroutineSlack of baseline; that after the load the cluster has
// no more sessions of the pool than maxConns; and that during the load
// (seen, the most the test observed) it had at most twice that. A
// connection cut by a request's deadline leaves the pool at once, but its
// server session lingers until the server notices (behind a lock, until
// the lock is released), so a replacement can briefly overlap it; a leak
// would grow past any such bound.
func (s *server) checkSettled(t *testing.T, c *cluster, baseline float64, maxConns, seen int) (goroutines float64) {
	t.Helper()
	var inUse float64
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		m, err := s.metrics()
		if err != nil {
			t.Errorf("scrape /metrics after the load: %v", err)
			return 0
		}
		inUse, goroutines = m[inUseSeries], m[goroutinesSeries]
		if inUse == 0 && goroutines <= baseline+goroutineSlack {
			break
		}
		if time.Since(start) > settleLimit {
			if inUse != 0 {
				t.Errorf("connection leak: %s = %v %s after the load, want 0", inUseSeries, inUse, settleLimit)
			}
			if goroutines > baseline+goroutineSlack {
				t.Errorf("goroutine leak: go_goroutines = %v %s after the load, baseline %v (slack %d)",
					goroutines, settleLimit, baseline, goroutineSlack)
			}
			break
		}
	}
	n, err := c.serverConns()
	switch {
	case err != nil:
		t.Errorf("count the server's sessions in pg_stat_activity: %v", err)
	case n > maxConns:
		t.Errorf("connection leak: pg_stat_activity has %d sessions of application_name waybill after the load, DB_MAX_OPEN_CONNS is %d", n, maxConns)
	}
	if seen > 2*maxConns {
		t.Errorf("connection leak: pg_stat_activity had %d sessions of application_name waybill during the load, DB_MAX_OPEN_CONNS is %d", seen, maxConns)
	}
	return goroutines
}

// baseline returns go_goroutines with no client connection open, the
// figure checkSettled compares with.
func (s *server) baseline(t *testing.T) float64 {
	t.Helper()
	time.Sleep(200 * time.Millisecond) // for the probes' connections to close
	return s.metric(t, goroutinesSeries)
}

// checkLog checks that the server's log holds none of the secrets and
// none of what betrays SQL, a stack trace or a panic. It reports the
// first line holding each, masked and cut short.
func (s *server) checkLog(t *testing.T, secrets ...string) {
	t.Helper()
	log := s.log.String()
	type needle struct{ text, name string }
	needles := []needle{{password, "the DSN's password"}, {s.key, "the API key"}}
	for i, k := range secrets {
		needles = append(needles, needle{k, fmt.Sprintf("secret #%d", i+1)})
	}
	for _, w := range []string{"SELECT", "INSERT", "goroutine ", "panic"} {
		needles = append(needles, needle{w, strconv.Quote(w)})
	}
	for _, n := range needles {
		i := strings.Index(log, n.text)
		if i < 0 {
			continue
		}
		start := strings.LastIndexByte(log[:i], '\n') + 1
		end := strings.IndexByte(log[i:], '\n')
		if end < 0 {
			end = len(log) - i
		}
		line := log[start : i+end]
		line = strings.ReplaceAll(line, password, "<password>")
		line = strings.ReplaceAll(line, s.key, "<api key>")
		if len(line) > 300 {
			line = line[:300] + "…"
		}
		t.Errorf("the server's log holds %s (%d times); first line:\n\t%s", n.name, strings.Count(log, n.text), line)
	}
}

// health GETs /health with the API key and returns its status, the
// report's database.pool_used, and how long it took.
func (s *server) health() (status int, poolUsed int, took time.Duration, err error) {
	req, _ := http.NewRequest(http.MethodGet, s.base+"/health", nil)
	req.Header.Set("Authorization", "Bearer "+s.key)
	start := time.Now()
	resp, err := s.probe.Do(req)
	if err != nil {
		return 0, 0, time.Since(start), err
	}
	defer resp.Body.Close()
	var r struct {
		Database struct {
			PoolUsed int `json:"pool_used"`
		} `json:"database"`
	}
	body, _ := io.ReadAll(resp.Body)
	took = time.Since(start)
	_ = json.Unmarshal(body, &r)
	return resp.StatusCode, r.Database.PoolUsed, took, nil
}

// signal sends sig to the server process.
func (s *server) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer collects the server's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tail returns the last n lines, masked, each cut to 300 bytes.
func (s *syncBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(s.String(), "\n"), "\n")
	lines = lines[max(0, len(lines)-n):]
	for i, l := range lines {
		l = strings.ReplaceAll(l, password, "<password>")
		if len(l) > 300 {
			l = l[:300] + "…"
		}
		lines[i] = "\t" + l
	}
	return strings.Join(lines, "\n")
}
