package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/pgcluster"
)

// harness runs the phases of one benchmark.
type harness struct {
	opts        options
	pg          *pgcluster.Server
	key         string // cacheKey
	bin         string // the built waybill
	dir         string // scratch files
	pgbenchPath string
	stderr      io.Writer
	logf        func(string, ...any)
	servers     int // servers started, for their log files' names
}

// result is one scenario's line.
type result struct {
	scenario  scenario
	shipments int
	http      measured  // the load (for readyz: the get-one load behind it)
	probe     *measured // readyz
	// probeServer is the probe's latency as the server timed it over the
	// measured window; nil if not measured.
	probeServer *serverLatency
	// memory is the server's Go runtime over the measured window; nil if
	// not measured.
	memory *memory
	// pgbench is the ceiling of the server's statements (the scenario's
	// script), simplest that of the simplest SQL; the errors are why
	// pgbench could not measure, "" when it did or there is no script.
	pgbench, simplest       pgbenchResult
	pgbenchErr, simplestErr string
	// serverWork and scriptWork are the SQL a request cost, as PostgreSQL
	// counted it; nil if not measured.
	serverWork, scriptWork *work
}

// work compares the SQL a request cost the server and the script; false
// if either was not measured.
func (r result) work() (comparison, bool) {
	if r.serverWork == nil || r.scriptWork == nil {
		return comparison{}, false
	}
	return compareWork(*r.serverWork, *r.scriptWork, r.scenario.lookups, r.scenario.coalesced), true
}

// stale reports whether the scenario's script no longer does what the
// server does.
func (r result) stale() bool {
	c, ok := r.work()
	return ok && !c.same()
}

// shown is what the line reports: the probe for readyz, else the load.
func (r result) shown() measured {
	if r.probe != nil {
		return *r.probe
	}
	return r.http
}

func (r result) errors() int {
	n := r.http.errors
	if r.probe != nil {
		n += r.probe.errors
	}
	return n
}

// failed reports whether the scenario failed: an answer other than 2xx,
// no answer at all within the window, or a pgbench error.
func (r result) failed() bool {
	return r.errors() > 0 || len(r.shown().latencies) == 0 || r.pgbenchErr != "" || r.simplestErr != ""
}

// peak is a server's peak RSS on one dataset.
type peak struct {
	shipments int
	bytes     int64
}

// phase clones the template of ph's dataset into a run database, starts a
// server on it, runs each scenario against the server and then pgbench,
// and reads the server's peak RSS. The server is stopped and the run
// database dropped when it returns, whatever happened.
func (h *harness) phase(ctx context.Context, ph phase) ([]result, []peak, error) {
	template, err := h.ensureTemplate(ctx, ph.shipments)
	if err != nil {
		return nil, nil, err
	}
	runDB := fmt.Sprintf("%srun_%d_%d", namePrefix, os.Getpid(), ph.shipments)
	h.logf("cloning %s into %s", template, runDB)
	if err := h.pg.Clone(ctx, runDB, template, pgcluster.CopyFiles); err != nil {
		return nil, nil, err
	}
	defer func() {
		if h.opts.keep {
			// Renamed out of the sweep's way; -clean drops it.
			kept := fmt.Sprintf("%skept_%d_%d", namePrefix, os.Getpid(), ph.shipments)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := h.pg.Rename(ctx, runDB, kept); err != nil {
				h.logf("keep %s: %v", runDB, err)
				return
			}
			h.logf("kept the database %s (-keep; -clean drops it)", kept)
			return
		}
		if err := h.pg.Drop(runDB); err != nil {
			h.logf("%v", err)
		}
	}()
	dbURL := h.pg.DatabaseURL(runDB)
	stats, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, nil, err
	}
	defer stats.Close(context.Background())
	key, err := h.createAPIKey(ctx, dbURL)
	if err != nil {
		return nil, nil, err
	}
	needIDs := false
	for _, s := range ph.scenarios {
		needIDs = needIDs || !s.dashboard
	}
	f, err := prepareFixtures(ctx, dbURL, key, needIDs)
	if err != nil {
		return nil, nil, err
	}
	srv, err := h.startServer(ctx, dbURL)
	if err != nil {
		return nil, nil, err
	}
	defer srv.stop()
	f.base = srv.base
	client := newClient(h.opts.concurrency)
	defer client.CloseIdleConnections()

	var results []result
	for _, s := range ph.scenarios {
		r, err := h.scenario(ctx, client, stats, s, f, dbURL, srv)
		if err != nil {
			return results, nil, err
		}
		r.shipments = ph.shipments
		results = append(results, r)
		if !srv.running() {
			return results, nil, fmt.Errorf("waybill serve exited during %s:\n%s", s.name, srv.logTail())
		}
	}
	rss, err := srv.peakRSS()
	if err != nil {
		return results, nil, fmt.Errorf("peak RSS: %w", err)
	}
	return results, []peak{{ph.shipments, rss}}, nil
}

// scenario measures one scenario over HTTP, then with pgbench.
// With a script, it also measures what SQL a request cost the server and
// a transaction of the script (see work).
func (h *harness) scenario(ctx context.Context, client *http.Client, stats *pgx.Conn, s scenario, f *fixtures, dbURL string, srv *server) (result, error) {
	r := result{scenario: s}
	// One request first, to see the route answer and let the one-off work
	// it starts end; a create's answer sizes the response pgbench stores.
	body, err := exchange(client, s.load(f)(ctx, rand.New(rand.NewPCG(0, 0))))
	if err != nil {
		h.logf("%s: the first request failed: %v", s.name, err)
	}
	if s.name == "create" {
		f.createResponse = body
	}
	if err := settle(ctx, stats); err != nil {
		return r, err
	}
	h.logf("%s: HTTP, %d workers, %s warm-up + %s", s.name, h.opts.concurrency, h.opts.warmup, h.opts.duration)
	var probe requestFunc
	if s.probe != nil {
		probe = s.probe(f)
	}
	var probed measured
	// The server's /metrics, scraped as the measured window starts and
	// ends: the probe's route as the server timed it, and what the Go
	// runtime allocated.
	metricsClient := newClient(1)
	defer metricsClient.CloseIdleConnections()
	scraper := &windowScraper{ctx: ctx, client: metricsClient, base: srv.base}
	run := func() (int, error) {
		profiled := make(chan error, 1)
		if srv.pprof != "" {
			path := filepath.Join(h.opts.pprofDir, s.name+".pprof")
			go func() { profiled <- srv.profile(ctx, h.opts.warmup, h.opts.duration, path) }()
		} else {
			profiled <- nil
		}
		r.http, probed = drive(ctx, client, h.opts.concurrency, h.opts.warmup, h.opts.duration, s.load(f), probe, scraper.edge)
		if err := <-profiled; err != nil {
			h.logf("%s: no CPU profile: %v", s.name, err)
		}
		return r.http.sent, ctx.Err()
	}
	var serverWork *work
	if s.script == "" {
		_, err = run()
	} else {
		serverWork, err = measureWork(ctx, stats, idleFlush, run)
	}
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	if err != nil {
		h.logf("%s: counting the server's SQL: %v", s.name, err)
	}
	if probe != nil {
		r.probe = &probed
	}
	shown := r.shown()
	h.logf("%s: %.0f req/s, p50 %s, p99 %s, %d errors", s.name, shown.rate(), ms(shown.p(50)), ms(shown.p(99)), r.errors())
	if s.probeRoute != "" {
		if r.probeServer, err = scraper.latency(s.probeRoute); err != nil {
			h.logf("%s: no server-side latency of %s: %v", s.name, s.probeRoute, err)
		} else {
			h.logf("%s: %s %s", s.name, s.probeRoute, r.probeServer)
		}
	}
	if r.memory, err = scraper.memory(len(r.http.latencies)+len(probed.latencies), r.http.window); err != nil {
		h.logf("%s: no runtime counters: %v", s.name, err)
	} else {
		h.logf("%s: %s", s.name, r.memory)
	}
	if r.errors() > 0 {
		h.logf("%s: first error: %s", s.name, firstNonEmpty(r.http.firstErr, probed.firstErr))
	}
	if s.script == "" {
		return r, nil
	}
	h.logf("%s: pgbench %s, %d clients", s.name, s.script, h.opts.concurrency)
	start := time.Now()
	scriptWork, err := measureWork(ctx, stats, exitedFlush, func() (int, error) {
		var n int
		var err error
		r.pgbench, n, err = h.runPgbench(ctx, dbURL, s.script, s, f)
		if err != nil && ctx.Err() == nil {
			r.pgbenchErr = err.Error()
			err = nil
		}
		return n, err
	})
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	if r.pgbenchErr != "" {
		h.logf("%s: %s", s.name, r.pgbenchErr)
		return r, nil
	}
	h.logf("%s: pgbench %.0f tps (%s)", s.name, r.pgbench.tps, time.Since(start).Round(time.Second))
	if err != nil {
		h.logf("%s: counting the script's SQL: %v", s.name, err)
	}
	r.serverWork, r.scriptWork = serverWork, scriptWork
	if c, ok := r.work(); ok {
		h.logf("%s: per request, the server: %s; the script: %s", s.name, serverWork, scriptWork)
		if s.coalesced {
			h.logf("%s: server : script, %s", s.name, c)
		}
	}
	if r.stale() {
		h.logf("%s: WARNING: bench/pgbench/%s no longer sends what the server sends", s.name, s.script)
	}
	if s.simplest == "" {
		return r, nil
	}
	h.logf("%s: pgbench %s, %d clients", s.name, s.simplest, h.opts.concurrency)
	if r.simplest, _, err = h.runPgbench(ctx, dbURL, s.simplest, s, f); err != nil {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		r.simplestErr = err.Error()
		h.logf("%s: %s", s.name, r.simplestErr)
		return r, nil
	}
	h.logf("%s: pgbench, simplest SQL, %.0f tps", s.name, r.simplest.tps)
	return r, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
