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
	"golang.org/x/sync/singleflight"

	"github.com/waybill/waybill/capacity"
	"github.com/waybill/waybill/metrics"
	"github.com/waybill/waybill/models"
)

// Health check timing. /health answers within 2 s whatever the database
// does: the key lookup and the database check below are each bounded, and
// both use the health connection, never the application pool.
const (
	healthKeyTimeout = 400 * time.Millisecond // looking up the caller's API key
	healthPingBudget = 800 * time.Millisecond // the health ping
	healthBudget     = 1200 * time.Millisecond
	healthCacheFor   = time.Second     // concurrent callers share a check this long
	readyStaleFor    = 3 * time.Second // /readyz may use a check this old while a new one runs
	saturationWindow = time.Minute     // a pool wait this recent means saturated
)

// livez answers 200 while the process runs; it touches nothing.
func livez(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the database answered a ping on the health
// connection and the server is not draining; else 503 with Retry-After.
// It shares /health's check: callers within healthCacheFor of a ping
// reuse it, and concurrent callers wait for one ping, so probes under load
// neither queue on the health connection nor add to the database's work.
func readyz(h *healthChecker, draining func() bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		reason := ""
		switch {
		case draining():
			reason = "draining"
		case h.store == nil:
			reason = "database not configured"
		case h.recentCheck().pingMs == nil:
			reason = "database unreachable"
		}
		if reason != "" {
			c.Response().Header().Set("Retry-After", "2")
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
// (SPEC 5.1). The pool_* names are the predecessor's, kept for its
// clients.
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
	PoolSize               int            `json:"pool_size"` // open connections
	PoolFree               int            `json:"pool_free"` // idle
	PoolUsed               int            `json:"pool_used"` // in use
	PoolMax                int            `json:"pool_max"`  // the configured maximum
	PoolUtilizationPercent float64        `json:"pool_utilization_percent"`
	WaitCount              int64          `json:"wait_count"`
	WaitDurationMs         float64        `json:"wait_duration_ms"`
	MaxIdleClosed          int64          `json:"max_idle_closed"`
	MaxIdleTimeClosed      int64          `json:"max_idle_time_closed"`
	MaxLifetimeClosed      int64          `json:"max_lifetime_closed"`
	Capacity               *capacity.Plan `json:"capacity"`
	Replicas               []any          `json:"replicas"`
}

// dbCheck is what the shared, cached check learns from the database.
type dbCheck struct {
	at       time.Time
	pingMs   *float64
	capacity capacity.Plan
}

// healthChecker serves /health. Callers within healthCacheFor of a check
// share it, and concurrent callers share one check in flight; the pool
// figures are read live on every call (they cost nothing).
type healthChecker struct {
	store     *models.Store // nil: no database configured
	auth      *authGuard    // the API's key caches and failure limit
	instances int
	version   string
	started   time.Time
	onPlan    func(capacity.Plan) // told every new plan (metrics); may be nil

	flight singleflight.Group
	mu     sync.Mutex
	last   dbCheck
	// The pool's wait count when last seen, and when it last grew.
	waitSeen   int64
	waitGrewAt time.Time
}

func (h *healthChecker) serve(c echo.Context) error {
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

// authorized reports whether the request carries a valid API key (any
// scope), looked up on the health connection within healthKeyTimeout. It
// shares the API's guard against bad keys: a key the API or /health found
// unknown is not asked about again for a while, and each lookup takes a
// token from the client address's failure budget, so bogus keys cannot
// keep the health connection busy.
func (h *healthChecker) authorized(r *http.Request) bool {
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
func (h *healthChecker) report() healthReport {
	now := time.Now()
	r := healthReport{
		Status:        healthy,
		Version:       h.version,
		UptimeSeconds: math.Round(now.Sub(h.started).Seconds()*10) / 10,
		Timestamp:     models.Time{Time: now.UTC().Truncate(time.Microsecond)},
		Database:      databaseReport{Replicas: []any{}},
	}
	db := &r.Database
	if h.store == nil {
		r.Status, db.Status, db.Connectivity = degraded, disabled, "not_configured"
		return r
	}
	db.ORMAvailable = true
	saturated := h.poolFigures(db, now)

	check := h.check()
	plan := check.capacity
	db.Capacity = &plan
	db.PingMs = check.pingMs
	switch {
	case check.pingMs == nil:
		db.Status, db.Connectivity = unhealthy, "disconnected"
	case saturated || plan.Status == capacity.Warning || plan.Status == capacity.Critical:
		db.Status, db.Connectivity = degraded, "connected"
	default:
		db.Status, db.Connectivity = healthy, "connected"
	}
	r.Status = db.Status
	return r
}

// poolFigures fills in the live pool's figures and reports whether the
// pool is saturated: its wait count grew within saturationWindow.
func (h *healthChecker) poolFigures(db *databaseReport, now time.Time) bool {
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

// check returns a database check at most healthCacheFor old, running one
// (shared by every caller that arrives meanwhile) if needed.
func (h *healthChecker) check() dbCheck {
	h.mu.Lock()
	last := h.last
	h.mu.Unlock()
	if time.Since(last.at) < healthCacheFor {
		return last
	}
	v, _, _ := h.flight.Do("check", h.newCheck)
	return v.(dbCheck)
}

// newCheck checks the database and makes the result the last check; for
// h.flight, which runs one at a time.
func (h *healthChecker) newCheck() (any, error) {
	c := h.checkDatabase()
	h.mu.Lock()
	h.last = c
	h.mu.Unlock()
	if h.onPlan != nil {
		h.onPlan(c.capacity)
	}
	return c, nil
}

// recentCheck is check for /readyz, which must answer fast under load: a
// check up to readyStaleFor old is used at once while a fresh one runs in
// the background, so a probe waits for the database only when no check is
// that recent (at start, or when checks hang).
func (h *healthChecker) recentCheck() dbCheck {
	h.mu.Lock()
	last := h.last
	h.mu.Unlock()
	age := time.Since(last.at)
	if age < healthCacheFor {
		return last
	}
	if age < readyStaleFor {
		h.flight.DoChan("check", h.newCheck) // in the background; one at a time
		return last
	}
	return h.check()
}

// checkDatabase pings the database and reads its capacity, on the health
// connection, within healthBudget. It does not use the caller's context:
// the result is shared.
func (h *healthChecker) checkDatabase() dbCheck {
	ctx, cancel := context.WithTimeout(context.Background(), healthBudget)
	defer cancel()
	c := dbCheck{at: time.Now(), capacity: capacity.Plan{Status: capacity.Unknown, AppInstances: h.instances}}
	start := time.Now()
	if err := h.store.Ping(ctx, healthPingBudget); err != nil {
		return c
	}
	ms := math.Round(float64(time.Since(start).Microseconds())/10) / 100
	c.pingMs = &ms
	server, err := capacity.Read(ctx, h.store.HealthDB())
	if err == nil {
		c.capacity = capacity.NewPlan(server, h.instances, h.store.Stats().MaxOpenConnections)
	}
	return c
}

// CapacityGauges is the part of a capacity plan that /metrics publishes.
func CapacityGauges(p capacity.Plan) metrics.Capacity {
	return metrics.Capacity{
		ServerMaxConnections:      p.ServerMaxConnections,
		ReservedConnections:       p.ReservedConnections,
		ServerConnections:         p.ServerConnections,
		AppInstances:              p.AppInstances,
		PlannedAppConnections:     p.PlannedAppConnections,
		PlannedUtilizationPercent: p.PlannedUtilizationPercent,
		Status:                    p.Status,
	}
}
