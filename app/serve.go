package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/waybill/waybill/config"
	"github.com/waybill/waybill/dbhealth"
	"github.com/waybill/waybill/handlers"
	"github.com/waybill/waybill/metrics"
	"github.com/waybill/waybill/models"
)

// dashboardRefreshInterval is how often serve recomputes the dashboard's
// days that changes have marked (docs/analytics.md). Between refreshes
// those days are computed from the shipments: always true, only slower.
const dashboardRefreshInterval = 10 * time.Second

const serveUsage = `Usage: waybill serve

Runs the HTTP API on HTTP_ADDR until SIGINT or SIGTERM. Configuration is
read from the environment (docs/configuration.md). Without DATABASE_URL it
starts degraded; with the database down it starts anyway and connects when
the database comes up.`

func runServe(ctx context.Context, e env, args []string) error {
	if err := parseNoArgs("serve", serveUsage, args, e); err != nil {
		return err
	}
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, e.stderr)
	gc := tuneGC(e.getenv)
	log.WithFields(logrus.Fields{"gogc": gc.GOGC, "gomemlimit_bytes": gc.GOMEMLIMIT}).Debug("garbage collector")
	return serve(ctx, cfg, log, nil)
}

func newLogger(cfg config.Config, w io.Writer) *logrus.Logger {
	log := logrus.New()
	log.SetOutput(w)
	if cfg.LogFormat == "text" {
		log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: time.RFC3339Nano})
	} else {
		log.SetFormatter(&logrus.JSONFormatter{TimestampFormat: time.RFC3339Nano})
	}
	lvl, err := logrus.ParseLevel(cfg.LogLevel)
	if err != nil {
		lvl = logrus.InfoLevel
	}
	log.SetLevel(lvl)
	return log
}

func openStore(dsn string, cfg config.Config) (*models.Store, error) {
	return models.Open(dsn, poolOptions(cfg))
}

// poolOptions are the database settings of cfg.
func poolOptions(cfg config.Config) models.PoolOptions {
	return models.PoolOptions{
		MaxOpenConns:     cfg.DBMaxOpenConns,
		MaxIdleConns:     cfg.DBMaxIdleConns,
		ConnMaxLifetime:  cfg.DBConnMaxLifetime,
		ConnMaxIdleTime:  cfg.DBConnMaxIdleTime,
		ConnectTimeout:   cfg.DBConnectTimeout,
		StatementTimeout: cfg.DBStatementTimeout,
		PgBouncer:        cfg.DBPgBouncer,
	}
}

// serve runs the HTTP server until ctx ends, then drains: readiness fails
// while every other request is still served for DRAIN_DELAY, the listener
// closes, in-flight requests finish (up to SHUTDOWN_TIMEOUT; those still
// running are cut), the pool closes. It returns an error if it cut
// requests. listening, if not nil, receives the bound address once the
// server accepts connections.
func serve(ctx context.Context, cfg config.Config, log *logrus.Logger, listening func(addr string)) error {
	var store *models.Store
	var keyEvents *models.KeyEvents // API key revocations, from every instance
	if cfg.DatabaseURL == "" {
		log.Warn("DATABASE_URL is not set: starting in degraded mode; /readyz and every data route answer 503 until it is configured")
	} else {
		s, err := openStore(cfg.DatabaseURL, cfg)
		if err != nil {
			return err
		}
		store = s
		defer store.Close()
		if len(cfg.DatabaseReplicaURLs) > 0 {
			if err := store.OpenReplicas(cfg.DatabaseReplicaURLs, poolOptions(cfg), cfg.ReplicaMaxLag); err != nil {
				return fmt.Errorf("DATABASE_REPLICA_URLS: %w", err)
			}
		}
		keyEvents = store.ListenKeyRevocations()
		defer keyEvents.Close()
	}

	pools := map[string]*sql.DB{}
	if store != nil {
		pools["primary"], pools["health"] = store.DB(), store.HealthDB()
		for i, db := range store.ReplicaDBs() {
			pools[fmt.Sprintf("replica%d", i)] = db
		}
	}
	m := metrics.New(version(), pools)

	var draining atomic.Bool
	// The one view of the database's health: /readyz, /health, the
	// readiness and capacity metrics and the log all read it.
	health := dbhealth.New(store, dbhealth.Options{Instances: cfg.AppInstances, Log: log, Metrics: m, Draining: draining.Load,
		BouncerAdminURL: cfg.PgBouncerAdminURL})
	// Imports the batches POST /v1/batches leaves for the background.
	batches := handlers.NewBatchWorker(store, log)
	e := handlers.New(handlers.Options{
		Batches:        batches,
		Metrics:        m,
		Store:          store,
		Log:            log,
		RequestTimeout: cfg.RequestTimeout,
		BodyLimit:      cfg.BodyLimit,
		RateLimitRPS:   cfg.RateLimitRPS,
		AuthCacheTTL:   cfg.AuthCacheTTL,
		KeyEvents:      keyEvents,
		AuthFailureRPS: cfg.AuthFailureRPS,
		CORSOrigins:    cfg.CORSOrigins,
		WebhookSecrets: cfg.WebhookSecrets,
		Health:         health,
		Version:        version(),
	})
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w", err)
	}
	if cfg.PprofAddr != "" {
		stopPprof, err := servePprof(cfg.PprofAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("PPROF_ADDR: %w", err)
		}
		defer stopPprof()
		log.WithField("addr", cfg.PprofAddr).Warn("the Go profiler is listening (PPROF_ADDR); it has no authentication")
	}
	httpLog := log.WriterLevel(logrus.WarnLevel)
	defer httpLog.Close()
	// Requests run on a context of their own, not on ctx: a signal starts
	// the drain, and only the end of SHUTDOWN_TIMEOUT cancels them, with
	// handlers.ErrShutdown as the cause so they are logged as cut.
	requestCtx, cutRequests := context.WithCancelCause(context.Background())
	defer cutRequests(nil)
	var inFlight atomic.Int64
	srv := &http.Server{
		BaseContext:       func(net.Listener) context.Context { return requestCtx },
		Handler:           trackRequests(e, &draining, &inFlight),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       cfg.RequestTimeout + 5*time.Second,
		WriteTimeout:      cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		// net/http's own complaints (TLS handshakes, malformed requests) go
		// to the structured log, not to a bare stderr line.
		ErrorLog: stdlog.New(httpLog, "", 0),
	}

	// The background work ends with ctx, and serve waits for it.
	var background sync.WaitGroup
	defer background.Wait()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if store != nil {
		background.Go(func() { health.Run(watchCtx) })
		background.Go(func() { store.WatchReplicas(watchCtx) })
		background.Go(func() { store.RunDashboardRefresher(watchCtx, dashboardRefreshInterval, logDashboardRefresh(log)) })
		background.Go(func() { purgeIdempotencyKeys(watchCtx, store, log) })
		background.Go(func() { batches.Run(watchCtx) })
		background.Go(func() {
			store.RunActivityRetention(watchCtx, cfg.ActivityRetention, activityRetentionDelay, activityRetentionInterval,
				activityRetentionBatch, logActivityRetention(log))
		})
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.WithFields(logrus.Fields{"addr": ln.Addr().String(), "database": maskedDSN(cfg)}).Info("waybill listening")
	if listening != nil {
		listening(ln.Addr().String())
	}

	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}

	// Drain (docs/monitoring.md, "Shutdown and draining"). Readiness fails first while
	// everything else is still served, so that load balancers stop sending
	// new requests before the listener closes. Any SIGINT or SIGTERM from
	// now on is a second one (the first ended ctx): it ends the delay.
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	draining.Store(true)
	stopWatch()
	background.Wait() // the monitor publishes waybill_ready 0 as it stops
	log.WithField("drain_delay", cfg.DrainDelay.String()).Info("draining: /readyz answers 503, requests are still served until DRAIN_DELAY ends")
	waitDrainDelay(cfg.DrainDelay, again, log)
	log.WithFields(logrus.Fields{"in_flight": inFlight.Load(), "shutdown_timeout": cfg.ShutdownTimeout.String()}).
		Info("drain delay over: closing the listener, finishing in-flight requests")
	if cut := shutdown(srv, cfg.ShutdownTimeout, cutRequests, &inFlight); cut > 0 {
		log.WithField("cut", cut).Warn("SHUTDOWN_TIMEOUT ended: cut the requests still running")
		return fmt.Errorf("shutdown: cut %d requests still running after SHUTDOWN_TIMEOUT (%s)", cut, cfg.ShutdownTimeout)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// The audit trail's retention runs activityRetentionDelay after start
// (not at once: a starting server's pool is left to its requests) and
// then every activityRetentionInterval, deleting activityRetentionBatch
// rows per statement so that no transaction holds many row locks.
const (
	activityRetentionDelay    = time.Minute
	activityRetentionInterval = 10 * time.Minute
	activityRetentionBatch    = 1000
)

// logActivityRetention returns the audit trail retention's report function.
func logActivityRetention(log *logrus.Logger) func(deleted int64, err error) {
	return func(deleted int64, err error) {
		switch {
		case errors.Is(err, models.ErrUnavailable):
			// The health monitor reports the outage.
		case err != nil:
			log.WithError(err).Warn("audit trail rows past ACTIVITY_RETENTION not pruned; the next round tries again")
		case deleted > 0:
			log.WithField("deleted", deleted).Info("pruned audit trail rows past ACTIVITY_RETENTION")
		}
	}
}

// logDashboardRefresh returns the dashboard refresher's report function.
func logDashboardRefresh(log *logrus.Logger) func(days []models.Date, took time.Duration, err error) {
	return func(days []models.Date, took time.Duration, err error) {
		switch {
		case errors.Is(err, models.ErrUnavailable):
			// The health monitor reports the outage.
		case err != nil:
			log.WithError(err).Warn("dashboard refresh failed; its days are computed from the shipments until the next one")
		default:
			log.WithFields(logrus.Fields{"days": len(days), "first": days[0], "last": days[len(days)-1],
				"took_ms": took.Milliseconds()}).Debug("dashboard refreshed")
		}
	}
}

// purgeIdempotencyKeys deletes idempotency records past their 24 hours
// every minute, a batch at a time, until ctx ends.
func purgeIdempotencyKeys(ctx context.Context, store *models.Store, log *logrus.Logger) {
	const batch = 1000
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for {
			n, err := store.PurgeIdempotencyKeys(ctx, batch)
			if err != nil && !errors.Is(err, models.ErrUnavailable) && ctx.Err() == nil {
				log.WithError(err).Warn("expired idempotency records not purged; the next minute tries again")
			}
			if err != nil || n < batch {
				break
			}
		}
	}
}

// cutGrace is how long the requests cut at the end of SHUTDOWN_TIMEOUT
// have to answer (503, logged as cut) before their connections close.
const cutGrace = 500 * time.Millisecond

// trackRequests counts in inFlight the requests h is handling. While the
// server drains, each answer closes its connection, so that a client with
// a kept-alive connection reconnects through its load balancer, which no
// longer picks this instance. (Idle connections are left to the end of the
// drain: closing one as a client sends on it would fail that request.)
func trackRequests(h http.Handler, draining *atomic.Bool, inFlight *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		if draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// waitDrainDelay waits for DRAIN_DELAY, or until a signal arrives on
// again: operators press Ctrl-C twice to hurry.
func waitDrainDelay(delay time.Duration, again <-chan os.Signal, log *logrus.Logger) {
	if delay <= 0 {
		return
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
	case sig := <-again:
		log.WithField("signal", sig.String()).Info("second signal: ending the drain delay early")
	}
}

// shutdown closes srv's listener and waits up to timeout for the requests
// in flight. It then cuts those still running: their context ends with
// handlers.ErrShutdown as its cause, they get cutGrace to answer, and
// their connections close. It returns how many requests it cut.
func shutdown(srv *http.Server, timeout time.Duration, cutRequests context.CancelCauseFunc, inFlight *atomic.Int64) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if srv.Shutdown(ctx) == nil {
		return 0
	}
	// Connections that never sent a request also hold Shutdown up; only
	// requests count as cut.
	cut := inFlight.Load()
	cutRequests(handlers.ErrShutdown)
	ctx, cancel = context.WithTimeout(context.Background(), cutGrace)
	defer cancel()
	_ = srv.Shutdown(ctx) // returns once the cut requests have answered
	srv.Close()
	return cut
}

func maskedDSN(cfg config.Config) string {
	if cfg.DatabaseURL == "" {
		return "(none)"
	}
	return config.MaskURL(cfg.DatabaseURL)
}

// version is the build's version: the module version when built from a
// tagged module, else the VCS revision, else "devel".
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return "devel"
}

// servePprof serves Go's profiler on a listener of its own at addr, and
// returns the function that stops it.
func servePprof(addr string) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	return func() { srv.Close() }, nil
}
