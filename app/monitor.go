package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/term"

	"github.com/waybill/waybill/config"
	"github.com/waybill/waybill/monitor"
)

// Exit statuses of waybill monitor, the Nagios convention.
const (
	monitorOK       = 0
	monitorWarning  = 1
	monitorCritical = 2
	monitorUnknown  = 3 // cannot connect, or no report
)

const monitorUsage = `Usage: waybill monitor [flags]

The database monitoring report: connections, the capacity plan, long-running
queries, sessions idle in transaction, sizes, unused indexes, cache hit
ratio, and a health summary with recommendations. It opens one connection of
its own (application_name waybill-monitor), never the application pool.

Exit status: 0 ok, 1 warning, 2 critical, 3 cannot connect; 2 also for a
mistake in the command line. See docs/monitoring.md.

Flags:`

// exitError ends the program with its code; Run prints msg, if any, as the
// command's one line on stderr.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func runMonitor(ctx context.Context, e env, args []string) error {
	// Only the variables the monitor uses: a bad LOG_LEVEL must not stop it.
	cfg, err := config.Load(func(k string) string {
		switch k {
		case "APP_INSTANCES", "DB_MAX_OPEN_CONNS":
			return e.getenv(k)
		}
		return ""
	})
	if err != nil {
		return usageError{err.Error()}
	}

	fs := newFlagSet("monitor")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), monitorUsage)
		fs.PrintDefaults()
	}
	dbURL := fs.String("database-url", "", "the database to monitor (default $DATABASE_URL)")
	server := fs.String("server", "", "a running Waybill's base URL, e.g. http://127.0.0.1:8080, to include its /health pool view")
	apiKey := fs.String("api-key", "", "API key for --server's /health (default $WAYBILL_API_KEY)")
	longQuery := fs.Duration("long-query", monitor.DefaultOptions.LongQuery, "report queries running longer than this")
	idleTx := fs.Duration("idle-tx", monitor.DefaultOptions.IdleTx, "report sessions idle in transaction longer than this")
	unusedMin := fs.String("unused-index-min", "1MB", "report never-scanned indexes larger than this (e.g. 100kB, 1MB)")
	appInstances := fs.Int("app-instances", cfg.AppInstances, "Waybill processes sharing the database, for the capacity plan (from APP_INSTANCES)")
	poolMax := fs.Int("pool-max", cfg.DBMaxOpenConns, "each process's pool size, for the capacity plan (from DB_MAX_OPEN_CONNS)")
	bouncerAdmin := fs.String("pgbouncer-admin-url", cfg.PgBouncerAdminURL, "PgBouncer's admin console, to show its pools and plan its server connections (from PGBOUNCER_ADMIN_URL)")
	replicaURLs := fs.String("replica-urls", strings.Join(cfg.DatabaseReplicaURLs, ","), "read replicas to measure against the database, comma-separated (from DATABASE_REPLICA_URLS)")
	replicaMaxLag := fs.Duration("replica-max-lag", cfg.ReplicaMaxLag, "a replica further behind lags (from REPLICA_MAX_LAG; 0: no bound)")
	format := fs.String("format", "text", "text or json")
	noColor := fs.Bool("no-color", false, "no colours (also when NO_COLOR is set or stdout is not a terminal)")
	watch := fs.Duration("watch", 0, "repeat every DURATION until interrupted; the exit status is the last report's")
	connectTimeout := fs.Duration("connect-timeout", 5*time.Second, "give up connecting after this long")
	if err := parseFlags(fs, args, e.stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	min, err := monitor.ParseSize(*unusedMin)
	if err != nil {
		return usagef("--unused-index-min: %v", err)
	}
	switch {
	case *format != "text" && *format != "json":
		return usagef("--format: %q is not text or json", *format)
	case *longQuery <= 0 || *idleTx <= 0 || *connectTimeout <= 0:
		return usagef("--long-query, --idle-tx and --connect-timeout must be positive")
	case *watch < 0:
		return usagef("--watch: %s is negative", *watch)
	case *appInstances < 1 || *poolMax < 1:
		return usagef("--app-instances and --pool-max must be at least 1")
	}
	if *dbURL == "" {
		*dbURL = strings.TrimSpace(e.getenv("DATABASE_URL"))
	}
	if *dbURL == "" {
		return usagef("no database: pass --database-url or set DATABASE_URL")
	}
	if err := config.CheckDatabaseURL(*dbURL); err != nil {
		return usagef("--database-url: %v (%s)", err, config.MaskURL(*dbURL))
	}
	if *bouncerAdmin != "" {
		if err := config.CheckDatabaseURL(*bouncerAdmin); err != nil {
			return usagef("--pgbouncer-admin-url: %v (%s)", err, config.MaskURL(*bouncerAdmin))
		}
	}
	var replicas []string
	for _, u := range strings.Split(*replicaURLs, ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		if err := config.CheckDatabaseURL(u); err != nil {
			return usagef("--replica-urls: %v (%s)", err, config.MaskURL(u))
		}
		replicas = append(replicas, u)
	}
	if *apiKey == "" {
		*apiKey = e.getenv("WAYBILL_API_KEY")
	}
	opts := monitor.Options{LongQuery: *longQuery, IdleTx: *idleTx, UnusedIndexMin: min, AppInstances: *appInstances, PoolMax: *poolMax,
		BouncerAdminURL: *bouncerAdmin, ReplicaURLs: replicas, ReplicaMaxLag: *replicaMaxLag}
	color := !*noColor && e.getenv("NO_COLOR") == "" && isTerminal(e.stdout)

	db, err := openMonitorDB(*dbURL, *connectTimeout)
	if err != nil {
		return usagef("--database-url: %v", err)
	}
	defer db.Close()

	client := &http.Client{}
	last := -1 // the exit status of the last report
	for {
		if last >= 0 {
			fmt.Fprintln(e.stdout) // reports are separated by a blank line
		}
		code, msg := monitorOnce(ctx, db, *dbURL, *connectTimeout, opts, *server, *apiKey, client, *format, color, e.stdout)
		if ctx.Err() != nil && last >= 0 {
			// Interrupted while watching: the last whole report counts.
			return monitorExit(last)
		}
		if msg != "" {
			fmt.Fprintf(e.stderr, "waybill monitor: %s\n", msg)
		}
		last = code
		if *watch == 0 {
			return monitorExit(last)
		}
		t := time.NewTimer(*watch)
		select {
		case <-ctx.Done():
			t.Stop()
			return monitorExit(last)
		case <-t.C:
		}
	}
}

// monitorExit is the command's result for an exit status; its reason, if
// any, is printed already.
func monitorExit(code int) error {
	if code == monitorOK {
		return nil
	}
	return exitError{code: code}
}

// monitorOnce collects and prints one report and returns its exit status,
// or monitorUnknown and why there is no report.
func monitorOnce(ctx context.Context, db *sql.DB, dbURL string, connectTimeout time.Duration, opts monitor.Options,
	server, apiKey string, client *http.Client, format string, color bool, w io.Writer) (int, string) {
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	err := db.PingContext(pctx)
	cancel()
	if err != nil {
		return monitorUnknown, "cannot connect: " + maskSecret(err, dbURL)
	}
	r, err := monitor.Collect(ctx, db, opts)
	if err != nil {
		return monitorUnknown, "no report: " + maskSecret(err, dbURL)
	}
	if server != "" {
		r.AddServer(monitor.FetchServer(ctx, client, server, apiKey))
	}
	if format == "json" {
		err = monitor.RenderJSON(w, r)
	} else {
		err = monitor.RenderText(w, r, color)
	}
	if err != nil {
		return monitorUnknown, "write the report: " + err.Error()
	}
	switch r.Status {
	case monitor.OK:
		return monitorOK, ""
	case monitor.Warning:
		return monitorWarning, ""
	default:
		return monitorCritical, ""
	}
}

// openMonitorDB prepares the monitor's one connection; it connects on
// first use.
func openMonitorDB(dbURL string, connectTimeout time.Duration) (*sql.DB, error) {
	pc, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return nil, errors.New("not a valid PostgreSQL connection string")
	}
	pc.ConnectTimeout = connectTimeout
	pc.RuntimeParams["application_name"] = "waybill-monitor"
	db := stdlib.OpenDB(*pc)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	return db, nil
}

// maskSecret returns err's text on one line and without the URL's
// password, should the driver ever repeat it.
func maskSecret(err error, dbURL string) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if pc, perr := pgx.ParseConfig(dbURL); perr == nil && pc.Password != "" {
		msg = strings.ReplaceAll(msg, pc.Password, "xxxxx")
	}
	return msg
}

// isTerminal reports whether w is a terminal, so colours are wanted.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
