package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/pgcluster"
)

// The scale part (-scenarios scale): 1, 2 and 3 instances of `waybill
// serve` behind one PgBouncer in transaction pooling (scaleBouncerPool
// server connections), under the get scenario's load spread evenly over
// the instances, as a load balancer would. It shows what more instances
// buy on this machine and what each topology costs the server in
// connections (docs/scaling.md).

// scaleBouncerPool is PgBouncer's default_pool_size in the scale part: one
// instance's default pool (DB_MAX_OPEN_CONNS), so the topologies share
// the server connections one instance would hold.
const scaleBouncerPool = 16

// scalePoint is one topology's measurement.
type scalePoint struct {
	instances int
	bouncer   bool // through PgBouncer, else straight to PostgreSQL
	load      measured
	// serverConns is the server's client connections to the run database
	// at the end of the window (PgBouncer's, and the instances' health
	// connections through it); planned is the capacity plan's figure.
	serverConns, planned int
}

// scale measures the scale part on a clone of the CRUD dataset.
func (h *harness) scale(ctx context.Context) ([]scalePoint, error) {
	runDB, drop, err := h.cloneRun(ctx, "the scale part")
	if err != nil {
		return nil, err
	}
	defer drop()
	dbURL := h.pg.DatabaseURL(runDB)
	stats, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer stats.Close(context.Background())
	// What waybill migrate pins for PgBouncer (it refuses these as startup
	// parameters), with the server's default statement_timeout.
	store, err := models.Open(dbURL, models.PoolOptions{MaxOpenConns: 1, StatementTimeout: 30 * time.Second, PgBouncer: true})
	if err != nil {
		return nil, err
	}
	err = store.PinSettings(ctx, models.PoolOptions{StatementTimeout: 30 * time.Second})
	store.Close()
	if err != nil {
		return nil, err
	}
	key, err := h.createAPIKey(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	f, err := prepareFixtures(ctx, dbURL, key, true)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		port = 5432
	}
	// A directory of its own: as root PgBouncer runs as an unprivileged
	// user, who cannot reach h.dir (0700).
	dir, err := os.MkdirTemp("", "waybill-bench-pgbouncer-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	bouncer, err := pgcluster.StartBouncer(filepath.Join(dir, "pgbouncer"), port, scaleBouncerPool)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := bouncer.Stop(); err != nil {
			h.logf("stop PgBouncer: %v", err)
		}
	}()

	// One instance straight to PostgreSQL first, for comparison.
	direct, err := h.scalePoint(ctx, stats, f, runDB, nil, 1)
	if err != nil {
		return nil, err
	}
	points := []scalePoint{direct}
	for n := 1; n <= 3; n++ {
		p, err := h.scalePoint(ctx, stats, f, runDB, bouncer, n)
		if err != nil {
			return points, err
		}
		points = append(points, p)
	}
	return points, nil
}

// scalePoint runs n instances through bouncer (nil: straight to the
// database) and measures them.
func (h *harness) scalePoint(ctx context.Context, stats *pgx.Conn, f *fixtures, runDB string, bouncer *pgcluster.Bouncer, n int) (scalePoint, error) {
	bases := make([]string, n)
	for i := range n {
		dbURL, env := h.pg.DatabaseURL(runDB), []string{"APP_INSTANCES=" + strconv.Itoa(n)}
		if bouncer != nil {
			dbURL, env = bouncer.URL(runDB), append(env, "DB_PGBOUNCER=true", "PGBOUNCER_ADMIN_URL="+bouncer.AdminURL())
		}
		srv, err := h.startServerWith(ctx, dbURL, env...)
		if err != nil {
			return scalePoint{}, err
		}
		defer srv.stop()
		bases[i] = srv.base
	}
	h.logf("scale: %d instance(s), through PgBouncer: %v", n, bouncer != nil)
	load := func(ctx context.Context, rng *rand.Rand) *http.Request {
		g := *f
		g.base = bases[rng.IntN(n)]
		return getOne(&g)(ctx, rng)
	}
	client := newClient(h.opts.concurrency)
	defer client.CloseIdleConnections()
	// The capacity plan: PgBouncer's pool, or each instance's pool and its
	// health connection and revocation listener.
	p := scalePoint{instances: n, bouncer: bouncer != nil, planned: scaleBouncerPool}
	if bouncer == nil {
		p.planned = n * (scaleBouncerPool + 2)
	}
	var sampleErr error
	p.load, _ = drive(ctx, client, h.opts.concurrency, h.opts.warmup, h.opts.duration, load, nil, func(end bool) {
		if end {
			sampleErr = stats.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
				runDB).Scan(&p.serverConns)
		}
	})
	return p, sampleErr
}

// scaleMarkdown is the scale part's table.
func scaleMarkdown(points []scalePoint, concurrency int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "GET one shipment, %d concurrent requests spread evenly over the instances; one instance straight to "+
		"PostgreSQL (DB_MAX_OPEN_CONNS %d), then 1, 2 and 3 through one PgBouncer (transaction pooling, default_pool_size %d):\n\n",
		concurrency, scaleBouncerPool, scaleBouncerPool)
	b.WriteString("| instances | to | req/s | p50 | p99 | errors | server connections to the database | capacity plan |\n")
	b.WriteString("|--:|---|--:|--:|--:|--:|--:|--:|\n")
	for _, p := range points {
		to := "PostgreSQL"
		if p.bouncer {
			to = "PgBouncer"
		}
		fmt.Fprintf(&b, "| %d | %s | %.0f | %s | %s | %d | %d | %d |\n", p.instances, to, p.load.rate(), ms(p.load.p(0.50)),
			ms(p.load.p(0.99)), p.load.errors, p.serverConns, p.planned)
	}
	b.WriteString("\n")
	return b.String()
}
