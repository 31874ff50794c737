// Command bench is Waybill's benchmark harness (`task bench`); the
// targets it checks and how to read its table are in docs/benchmarks.md.
//
// It builds the server, gives it a freshly cloned, seeded database, starts
// `waybill serve` as a process of its own, and drives it from this process
// over loopback with a fixed number of concurrent workers, each of which
// sends its next request as soon as the last one is answered (a closed
// loop). Every scenario warms up, then measures. In the same run it
// measures pgbench, from the machine's PostgreSQL, running the SQL the
// server sends for the same request (bench/pgbench/*.sql) at the same
// concurrency: the ceiling each scenario is compared with. It prints one
// markdown table and writes it, with the machine and the command, into
// docs/benchmarks.md.
//
// Seeded databases are cached as template databases, one per number of
// shipments and version of the data (see cacheKey), so only the first run
// pays for seeding; each run clones the template and drops the clone when
// it ends, also on Ctrl-C or an error.
//
// Usage:
//
//	go run ./bench [-duration 10s] [-warmup 3s] [-concurrency 16] [-scenarios get,list,create,dashboard,readyz,bulk]
//	               [-out docs/benchmarks.md] [-keep] [-clean] [-db URL] [-pprof DIR]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "bench: interrupted; the server is stopped and the run databases are dropped")
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	duration, warmup   time.Duration
	concurrency        int
	scenarios          []scenario
	out                string
	clean, keep        bool
	adminURL           string
	shipments          int // for the CRUD scenarios
	dashboardShipments int // for the dashboard
	pgbench            string
	pprofDir           string   // CPU profiles of the server, one per scenario
	serverEnv          []string // more of the server's environment (-server-env)
	bulk               bool     // time a batch import and an export (bulk.go)
	scale              bool     // 1, 2 and 3 instances behind PgBouncer (scale.go)
	args               []string // as given, for the report
}

// defaultAdminURL is the server the harness creates its databases on, the
// test suite's default.
const defaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func parseOptions(args []string, stderr io.Writer) (options, error) {
	o := options{args: args}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each scenario (and each pgbench run) is measured")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Second, "how long each scenario (and each pgbench run) runs unmeasured first")
	fs.IntVar(&o.concurrency, "concurrency", 16, "concurrent requests (HTTP workers, pgbench clients)")
	names := fs.String("scenarios", strings.Join(append(scenarioNames(), "bulk", "scale"), ","),
		"comma-separated scenarios to run (bulk: the batch import and the CSV export; scale: 1, 2 and 3 instances behind PgBouncer)")
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "write the results into this file (relative to the repository); empty: do not write")
	fs.BoolVar(&o.clean, "clean", false, "drop every cached template and leftover database of the harness, then exit")
	fs.StringVar(&o.pprofDir, "pprof", "", "save a CPU profile of the server for each scenario's measured window into this directory (go tool pprof DIR/get.pprof)")
	fs.BoolVar(&o.keep, "keep", false, "keep the run databases (their names are printed) instead of dropping them")
	fs.StringVar(&o.adminURL, "db", envOr("WAYBILL_BENCH_DATABASE_URL", defaultAdminURL),
		"URL of a database on the PostgreSQL server to use; the harness creates its own databases there (env WAYBILL_BENCH_DATABASE_URL)")
	fs.IntVar(&o.shipments, "shipments", 100_000, "shipments seeded for get, list, create and readyz")
	fs.IntVar(&o.dashboardShipments, "dashboard-shipments", 1_000_000, "shipments seeded for the dashboard")
	fs.Func("server-env", "NAME=value in the server's environment, e.g. GOGC=400 (repeatable); the server gets no other variable of docs/configuration.md from the caller's", func(v string) error {
		if name, _, ok := strings.Cut(v, "="); !ok || name == "" {
			return fmt.Errorf("want NAME=value, got %q", v)
		}
		o.serverEnv = append(o.serverEnv, v)
		return nil
	})
	fs.StringVar(&o.pgbench, "pgbench", "", "the pgbench binary (default: on PATH, else the newest under /usr/lib/postgresql)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: go run ./bench [flags]\n\nBenchmarks the API against pgbench running the same SQL (docs/benchmarks.md).\nScenarios: "+strings.Join(scenarioNames(), ", ")+"\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.pprofDir != "" {
		if err := os.MkdirAll(o.pprofDir, 0o755); err != nil {
			return o, fmt.Errorf("-pprof: %w", err)
		}
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.duration < time.Second:
		return o, errors.New("-duration must be at least 1s (pgbench counts whole seconds)")
	case o.warmup < 0:
		return o, errors.New("-warmup must not be negative")
	case o.concurrency < 1:
		return o, errors.New("-concurrency must be at least 1")
	case o.shipments < 1 || o.dashboardShipments < 1:
		return o, errors.New("-shipments and -dashboard-shipments must be positive")
	}
	var rest []string
	for _, n := range strings.Split(*names, ",") {
		switch strings.TrimSpace(n) {
		case "bulk":
			o.bulk = true
		case "scale":
			o.scale = true
		default:
			rest = append(rest, n)
		}
	}
	if (o.bulk || o.scale) && strings.TrimSpace(strings.Join(rest, "")) == "" {
		return o, nil
	}
	var err error
	o.scenarios, err = pickScenarios(strings.Join(rest, ","))
	return o, err
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// run is the whole command; every process and database it starts is gone
// when it returns, whatever happened (unless -keep asks to keep the
// databases).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", a...) }

	root, err := moduleRoot()
	if err != nil {
		return err
	}
	pg, err := connectAdmin(ctx, opts.adminURL)
	if err != nil {
		return err
	}
	defer pg.Close()

	if opts.clean {
		return dropAll(ctx, pg, logf)
	}
	sweep(ctx, pg, logf)
	key, err := cacheKey(os.DirFS(root))
	if err != nil {
		return err
	}
	if err := dropStale(ctx, pg, key, logf); err != nil {
		return err
	}
	pgbenchPath := ""
	if slices.ContainsFunc(opts.scenarios, func(s scenario) bool { return s.script != "" }) {
		if pgbenchPath, err = findPgbench(opts.pgbench); err != nil {
			return err
		}
	}

	tmp, err := os.MkdirTemp("", "waybill-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	logf("building the server")
	bin, err := build(ctx, root, tmp, stderr)
	if err != nil {
		return err
	}
	machine := describeMachine(ctx, pg, pgbenchPath)

	h := &harness{opts: opts, pg: pg, key: key, bin: bin, dir: tmp, pgbenchPath: pgbenchPath, stderr: stderr, logf: logf}
	rep := report{machine: machine, opts: opts, started: time.Now().UTC()}
	for _, ph := range phases(opts) {
		res, rss, err := h.phase(ctx, ph)
		rep.results = append(rep.results, res...)
		rep.rss = append(rep.rss, rss...)
		if err != nil {
			return err
		}
	}
	if opts.bulk {
		if rep.bulk, err = h.bulk(ctx); err != nil {
			return err
		}
	}
	if opts.scale {
		if rep.scale, err = h.scale(ctx); err != nil {
			return err
		}
	}
	rep.sort()

	table := rep.markdown()
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, table)
	if opts.out != "" {
		path := opts.out
		if !filepath.IsAbs(path) {
			path = filepath.Join(root, path)
		}
		if err := rep.write(path); err != nil {
			return err
		}
		logf("wrote %s", path)
	}
	if failed := rep.failed(); len(failed) > 0 {
		return fmt.Errorf("failed scenarios (see the notes under the table): %s", strings.Join(failed, ", "))
	}
	return nil
}

// phase is the scenarios that share one dataset, and so one database and
// one server process.
type phase struct {
	shipments int
	scenarios []scenario
}

// phases groups the chosen scenarios by the number of shipments they run
// on, CRUD first.
func phases(o options) []phase {
	var crud, dash phase
	crud.shipments, dash.shipments = o.shipments, o.dashboardShipments
	for _, s := range o.scenarios {
		if s.dashboard {
			dash.scenarios = append(dash.scenarios, s)
		} else {
			crud.scenarios = append(crud.scenarios, s)
		}
	}
	if crud.shipments == dash.shipments {
		crud.scenarios = append(crud.scenarios, dash.scenarios...)
		dash.scenarios = nil
	}
	var out []phase
	for _, p := range []phase{crud, dash} {
		if len(p.scenarios) > 0 {
			out = append(out, p)
		}
	}
	return out
}
