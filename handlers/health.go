package handlers

import (
	"context"
	"crypto/subtle"
	"errors"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/capacity"
	"github.com/waybill/waybill/dbhealth"
	"github.com/waybill/waybill/models"
)

// Health check timing. /health answers within 2 s whatever the database
// does: the key lookup below and the monitor's check (dbhealth.Budget) are
// each bounded, and both use the health connection, never the application
// pool.
const (
	healthKeyTimeout = 400 * time.Millisecond // looking up the caller's API key
	saturationWindow = time.Minute            // a pool wait this recent means saturated
)

// livez answers 200 while the process runs; it touches nothing.
func livez(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the monitor finds the server ready (the
// database answered a recent ping on the health connection and the server
// is not draining); else 503 with Retry-After. It answers from a check up
// to dbhealth.ReadyStaleFor old while a new one runs, so probes under load
// neither queue on the health connection nor add to the database's work.
func readyz(mon *dbhealth.Monitor) echo.HandlerFunc {
	return func(c echo.Context) error {
		if reason := mon.Readiness(); reason != "" {
			setRetryAfter(c.Response().Header(), unavailableRetry)
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": reason})
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	}
}

// Health statuses.
const (
	healthy   = "healthy"
	degraded  = "degraded"
	unhealthy = "unhealthy"
	disabled  = "disabled"
)

// healthReport is the body of GET /health for an authenticated caller
// (docs/monitoring.md, "/health"). The pool_* names are the
// predecessor's, kept for its clients.
type healthReport struct {
	Status        string         `json:"status"`
	Version       string         `json:"version"`
	UptimeSeconds float64        `json:"uptime_seconds"`
	Timestamp     models.Time    `json:"timestamp"`
	Database      databaseReport `json:"database"`
}

type databaseReport struct {
	Status       string   `json:"status"`
	Connectivity string   `json:"connectivity"`
	PingMs       *float64 `json:"ping_ms"`
	ORMAvailable bool     `json:"orm_available"`
	// From sql.DB.Stats() of the live application pool.
	PoolSize               int             `json:"pool_size"` // open connections
	PoolFree               int             `json:"pool_free"` // idle
	PoolUsed               int             `json:"pool_used"` // in use
	PoolMax                int             `json:"pool_max"`  // the configured maximum
	PoolUtilizationPercent float64         `json:"pool_utilization_percent"`
	WaitCount              int64           `json:"wait_count"`
	WaitDurationMs         float64         `json:"wait_duration_ms"`
	MaxIdleClosed          int64           `json:"max_idle_closed"`
	MaxIdleTimeClosed      int64           `json:"max_idle_time_closed"`
	MaxLifetimeClosed      int64           `json:"max_lifetime_closed"`
	Capacity               *capacity.Plan  `json:"capacity"`
	Replicas               []replicaReport `json:"replicas"`
	// PgBouncer is what its admin console reported at the last check,
	// when PGBOUNCER_ADMIN_URL is set and it answered.
	PgBouncer *models.Bouncer `json:"pgbouncer,omitempty"`
}

// replicaReport is a read replica's line of /health: its last
// measurement and the capacity plan of its server (nil when it could not
// be read).
type replicaReport struct {
	models.ReplicaStatus
	Capacity *capacity.Plan `json:"capacity"`
}

// healthReporter serves /health from the monitor's shared check (at most
// dbhealth.CacheFor old; concurrent callers share one) and the live pool's
// figures, read on every call (they cost nothing).
type healthReporter struct {
	store   *models.Store // nil: no database configured
	mon     *dbhealth.Monitor
	auth    *authGuard // the API's key caches and failure limit
	version string
	started time.Time

	mu sync.Mutex
	// The pool's wait count when last seen, and when it last grew.
	waitSeen   int64
	waitGrewAt time.Time
}

// health serves GET /health: the status for anyone, the full report for a
// caller with a valid API key.
func health(store *models.Store, mon *dbhealth.Monitor, auth *authGuard, version string) echo.HandlerFunc {
	h := &healthReporter{store: store, mon: mon, auth: auth, version: version, started: time.Now()}
	return func(c echo.Context) error {
		r := h.report()
		status := http.StatusOK
		if r.Status == unhealthy {
			status = http.StatusServiceUnavailable
		}
		if !h.authorized(c.Request()) {
			return c.JSON(status, map[string]string{"status": r.Status})
		}
		return c.JSON(status, r)
	}
}

// authorized reports whether the request carries a valid API key (any
// scope), looked up on the health connection within healthKeyTimeout. It
// shares the API's guard against bad keys: a key the API or /health found
// unknown is not asked about again for a while, and each lookup takes a
// token from the client address's failure budget, so bogus keys cannot
// keep the health connection busy.
func (h *healthReporter) authorized(r *http.Request) bool {
	token, sent := bearerToken(r)
	if h.store == nil || !sent || !b64token(token) {
		return false
	}
	hash := sha(models.HashKey(token))
	if _, ok := h.auth.keys.get(hash); ok {
		return true
	}
	if h.auth.unknown.has(hash) {
		return false
	}
	budget, wait := h.auth.limit.take(clientAddress(r))
	if wait > 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), healthKeyTimeout)
	defer cancel()
	k, err := h.store.APIKeyOnHealthConn(ctx, hash[:])
	switch {
	case errors.Is(err, models.ErrNotFound), err == nil && (!k.Active() || subtle.ConstantTimeCompare(k.KeyHash, hash[:]) != 1):
		h.auth.unknown.add(hash) // the failure keeps its token
		return false
	}
	budget.giveBack()
	return err == nil
}

// report builds the full report from the shared check and the live pool.
func (h *healthReporter) report() healthReport {
	now := time.Now()
	r := healthReport{
		Status:        healthy,
		Version:       h.version,
		UptimeSeconds: math.Round(now.Sub(h.started).Seconds()*10) / 10,
		Timestamp:     models.Time{Time: now.UTC().Truncate(time.Microsecond)},
		Database:      databaseReport{Replicas: []replicaReport{}},
	}
	db := &r.Database
	if h.store == nil {
		r.Status, db.Status, db.Connectivity = degraded, disabled, "not_configured"
		return r
	}
	db.ORMAvailable = true
	saturated := h.poolFigures(db, now)

	check := h.mon.Check()
	// The replicas' measurements are the store's own, made every second:
	// read live, like the pool's figures, rather than as old as the check.
	check.Replicas = h.store.Replicas()
	plan := check.Capacity
	db.Capacity = &plan
	db.PgBouncer = check.Bouncer
	db.PingMs = check.PingMs
	for i, rs := range check.Replicas {
		rr := replicaReport{ReplicaStatus: rs}
		if i < len(check.ReplicaCapacity) {
			rr.Capacity = check.ReplicaCapacity[i]
		}
		db.Replicas = append(db.Replicas, rr)
	}
	switch {
	case !check.Up():
		db.Status, db.Connectivity = unhealthy, "disconnected"
	case saturated || plan.Status == capacity.Warning || plan.Status == capacity.Critical || check.Degraded():
		db.Status, db.Connectivity = degraded, "connected"
	default:
		db.Status, db.Connectivity = healthy, "connected"
	}
	r.Status = db.Status
	return r
}

// poolFigures fills in the live pool's figures and reports whether the
// pool is saturated: its wait count grew within saturationWindow.
func (h *healthReporter) poolFigures(db *databaseReport, now time.Time) bool {
	st := h.store.Stats()
	db.PoolSize, db.PoolFree, db.PoolUsed, db.PoolMax = st.OpenConnections, st.Idle, st.InUse, st.MaxOpenConnections
	if st.MaxOpenConnections > 0 {
		db.PoolUtilizationPercent = math.Round(float64(st.InUse)/float64(st.MaxOpenConnections)*100*100) / 100
	}
	db.WaitCount, db.WaitDurationMs = st.WaitCount, float64(st.WaitDuration.Microseconds())/1000
	db.MaxIdleClosed, db.MaxIdleTimeClosed, db.MaxLifetimeClosed = st.MaxIdleClosed, st.MaxIdleTimeClosed, st.MaxLifetimeClosed

	h.mu.Lock()
	defer h.mu.Unlock()
	if st.WaitCount > h.waitSeen {
		h.waitSeen, h.waitGrewAt = st.WaitCount, now
	}
	return !h.waitGrewAt.IsZero() && now.Sub(h.waitGrewAt) < saturationWindow
}
