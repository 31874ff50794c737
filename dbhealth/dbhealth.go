// Package dbhealth is the process's one view of the database's health. A
// Monitor pings the database on the health connection (never the
// application pool, so it does not queue behind application traffic) and
// reads the server's connection limits for the capacity plan; /readyz,
// /health, the waybill_ready and capacity metrics and the log all come
// from its checks, so they cannot disagree.
//
// Checks run on demand, shared: callers within CacheFor of a check reuse
// it, and concurrent callers wait for one check in flight. Run adds a
// background loop (started by `waybill serve`) that checks every 5 s while
// the database is up and, while it is down, with exponential backoff from
// 100 ms capped at 5 s; it warms the application pool on recovery.
package dbhealth

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sync/singleflight"

	"github.com/waybill/waybill/capacity"
	"github.com/waybill/waybill/metrics"
	"github.com/waybill/waybill/models"
)

// Check timing. A check answers within Budget whatever the database does.
const (
	PingBudget    = 800 * time.Millisecond  // the ping
	Budget        = 1200 * time.Millisecond // the ping and the capacity read
	CacheFor      = time.Second             // concurrent callers share a check this long
	ReadyStaleFor = 3 * time.Second         // readiness may use a check this old while a new one runs
)

// The background loop's schedule.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	upInterval = 5 * time.Second
)

// Check is what one check learned about the database.
type Check struct {
	At time.Time
	// PingMs is the ping's round trip; nil when the database did not
	// answer within PingBudget.
	PingMs *float64
	// Capacity is the connection capacity plan; its Status is
	// capacity.Unknown when the limits could not be read.
	Capacity capacity.Plan
	// Bouncer is what PgBouncer's admin console reported, when
	// Options.BouncerAdminURL is set and it answered; the plan then counts
	// PgBouncer's server connections.
	Bouncer *models.Bouncer
	// Replicas are the read replicas' last measurements (the store's, made
	// every second); empty without replicas.
	Replicas []models.ReplicaStatus
	// ReplicaCapacity is each replica's capacity plan: the instances'
	// replica pools against its own server; nil where it could not be read.
	ReplicaCapacity []*capacity.Plan
}

// Up reports whether the database answered the check's ping.
func (c Check) Up() bool { return c.PingMs != nil }

// Options are a Monitor's collaborators, all optional.
type Options struct {
	// Instances is how many Waybill processes share the database, for the
	// capacity plan (at least 1).
	Instances int
	// Log receives changes of state (database connected, unreachable) and
	// of the capacity plan; nil logs nothing.
	Log *logrus.Logger
	// Metrics receives waybill_ready after every check, and the capacity
	// gauges after every check that read the plan (so during an outage
	// they keep the last plan); nil publishes nothing.
	Metrics *metrics.Metrics
	// Draining reports whether the server is shutting down: readiness
	// fails while it does. nil: never.
	Draining func() bool
	// BouncerAdminURL is PgBouncer's admin console (PGBOUNCER_ADMIN_URL),
	// read at every check; "" when the service does not go through one.
	BouncerAdminURL string
}

// Monitor watches the database's health; see the package comment. The zero
// value is not usable: call New.
type Monitor struct {
	store *models.Store // nil: no database configured
	o     Options

	flight    singleflight.Group
	recovered chan struct{} // told when a check finds the database back up

	mu         sync.Mutex
	last       Check
	known, up  bool   // whether a check has run, and what the last one found
	planStatus string // the status of the last capacity plan logged
	planFailed bool   // the last capacity read failed (logged once)
	bouncerErr bool   // the last read of PgBouncer's console failed (logged once)
	stopped    bool   // Run has returned
}

// New returns a Monitor of store's database; store may be nil (no database
// configured: never ready).
func New(store *models.Store, o Options) *Monitor {
	o.Instances = max(o.Instances, 1)
	if store != nil && store.HasReplicas() && o.Metrics != nil {
		o.Metrics.WatchReplicas(func() []metrics.Replica { return replicaGauges(store.Replicas()) })
	}
	return &Monitor{store: store, o: o, recovered: make(chan struct{}, 1)}
}

// replicaGauges is what /metrics publishes of the replicas' measurements.
func replicaGauges(rs []models.ReplicaStatus) []metrics.Replica {
	out := make([]metrics.Replica, len(rs))
	for i, r := range rs {
		out[i] = metrics.Replica{Index: r.Index, Addr: r.Addr, Healthy: r.Status == models.ReplicaHealthy, Reads: r.Reads,
			LagSeconds: r.LagSeconds}
		if r.LagBytes != nil {
			b := float64(*r.LagBytes)
			out[i].LagBytes = &b
		}
	}
	return out
}

// Degraded reports whether a read replica is down or lagging (its reads
// go to the primary), or its capacity plan is warning or critical.
func (c Check) Degraded() bool {
	for _, r := range c.Replicas {
		if r.Status == models.ReplicaDown || r.Status == models.ReplicaLagging {
			return true
		}
	}
	for _, p := range c.ReplicaCapacity {
		if p != nil && (p.Status == capacity.Warning || p.Status == capacity.Critical) {
			return true
		}
	}
	return false
}

// Readiness returns why the server is not ready, or "" when it is: it is
// ready when it is not draining and the database answered a recent check
// (see Recent).
func (m *Monitor) Readiness() string {
	switch {
	case m.draining():
		return "draining"
	case m.store == nil:
		return "database not configured"
	case !m.Recent().Up():
		return "database unreachable"
	}
	return ""
}

func (m *Monitor) draining() bool { return m.o.Draining != nil && m.o.Draining() }

// Check returns a check at most CacheFor old, running one (shared by every
// caller that arrives meanwhile) if needed; it takes at most Budget. With
// no database configured it returns a zero Check.
func (m *Monitor) Check() Check { return m.check(false) }

// Recent is Check for readiness probes, which must answer fast under load:
// a check up to ReadyStaleFor old is returned at once while a fresh one
// runs in the background, so a probe waits for the database only when no
// check is that recent (at start, or when checks hang).
func (m *Monitor) Recent() Check { return m.check(true) }

func (m *Monitor) check(staleOK bool) Check {
	if m.store == nil {
		return Check{}
	}
	m.mu.Lock()
	last := m.last
	m.mu.Unlock()
	switch age := time.Since(last.At); {
	case age < CacheFor:
		return last
	case staleOK && age < ReadyStaleFor:
		m.flight.DoChan("check", m.newCheck) // in the background; one at a time
		return last
	}
	v, _, _ := m.flight.Do("check", m.newCheck)
	return v.(Check)
}

// Run checks the database in the background until ctx ends: every
// upInterval while it is up, with backoff while it is down (callers'
// checks count too: a check they ran recently is not repeated). On
// recovery it warms the application pool, so that the first request does
// not pay for the dial; requests never wait for it, since the pool dials on
// demand. Once Run returns (the server drains), waybill_ready stays 0.
func (m *Monitor) Run(ctx context.Context) {
	if m.store == nil {
		return
	}
	defer m.stop()
	backoff := minBackoff
	for {
		c := m.Check()
		if ctx.Err() != nil {
			return
		}
		wait := upInterval
		if c.Up() {
			backoff = minBackoff
		} else {
			wait, backoff = backoff, min(backoff*2, maxBackoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-m.recovered:
			_ = m.store.Warm(ctx)
		case <-time.After(wait):
		}
	}
}

// newCheck checks the database and makes the result the last check; for
// m.flight, which runs one at a time. It does not use a caller's context:
// the result is shared.
func (m *Monitor) newCheck() (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Budget)
	defer cancel()
	c := Check{At: time.Now(), Capacity: capacity.Plan{Status: capacity.Unknown, AppInstances: m.o.Instances},
		Replicas: m.store.Replicas()}
	start := time.Now()
	err := m.store.Ping(ctx, PingBudget)
	var planErr error
	if err == nil {
		ms := math.Round(float64(time.Since(start).Microseconds())/10) / 100
		c.PingMs = &ms
		var server models.ServerConnections
		if server, planErr = m.store.ServerConnections(ctx); planErr == nil {
			c.Capacity = capacity.NewPlan(server, m.o.Instances, m.store.Stats().MaxOpenConnections)
			// Each replica's server carries every instance's pool for it
			// (as large as the primary's) and its health connection.
			for _, rs := range m.store.ReplicaServerConnections(ctx) {
				var plan *capacity.Plan
				if rs != nil {
					p := capacity.NewPlan(*rs, m.o.Instances, m.store.Stats().MaxOpenConnections)
					plan = &p
				}
				c.ReplicaCapacity = append(c.ReplicaCapacity, plan)
			}
			if m.o.BouncerAdminURL != "" {
				b, err := models.ReadBouncer(ctx, m.o.BouncerAdminURL)
				m.noteBouncer(err)
				if err == nil {
					c.Bouncer = &b
					c.Capacity = capacity.NewBouncerPlan(server, m.o.Instances, b)
				}
			}
		}
	}
	m.record(c, err, planErr)
	return c, nil
}

// noteBouncer logs when reading PgBouncer's admin console starts or stops
// failing; while it fails, the plan counts the instances' pools.
func (m *Monitor) noteBouncer(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	failed := err != nil
	if failed != m.bouncerErr && m.o.Log != nil {
		if failed {
			m.o.Log.WithField("error", err.Error()).Warn("could not read PgBouncer's admin console (PGBOUNCER_ADMIN_URL): the capacity plan counts the instances' pools")
		} else {
			m.o.Log.Info("reading PgBouncer's admin console")
		}
	}
	m.bouncerErr = failed
}

// record makes c the last check, and logs and publishes what changed.
func (m *Monitor) record(c Check, pingErr, planErr error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = c
	wasUp, known := m.up, m.known
	m.up, m.known = c.Up(), true
	m.setReadyLocked()
	switch {
	case c.Up() && !wasUp:
		m.logInfo("database connected")
		select { // Run warms the pool
		case m.recovered <- struct{}{}:
		default:
		}
	case !c.Up() && (wasUp || !known):
		if m.o.Log != nil {
			m.o.Log.WithField("error", pingErr.Error()).Warn("database unreachable; retrying in the background")
		}
	}
	if !c.Up() {
		return
	}
	if planErr != nil {
		if !m.planFailed && m.o.Log != nil {
			m.o.Log.WithField("error", planErr.Error()).Warn("could not read the server's connection limits for the capacity plan")
		}
		m.planFailed = true
		return
	}
	m.planFailed = false
	if m.o.Metrics != nil {
		m.o.Metrics.SetCapacity(gauges(c.Capacity))
	}
	if c.Capacity.Status != m.planStatus {
		m.logPlan(c.Capacity)
		m.planStatus = c.Capacity.Status
	}
}

// stop publishes waybill_ready 0 for good: Run ends when the server starts
// to drain (its context may end just before Draining turns true).
func (m *Monitor) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopped = true
	m.setReadyLocked()
}

// setReadyLocked publishes waybill_ready from the last check and the
// drain, as Readiness answers (and 0 once Run has returned); m.mu is held.
func (m *Monitor) setReadyLocked() {
	if m.o.Metrics != nil {
		m.o.Metrics.SetReady(m.up && !m.stopped && !m.draining())
	}
}

func (m *Monitor) logInfo(msg string) {
	if m.o.Log != nil {
		m.o.Log.Info(msg)
	}
}

// logPlan logs a capacity plan: a warning, with what to change, unless it
// is ok.
func (m *Monitor) logPlan(p capacity.Plan) {
	if m.o.Log == nil {
		return
	}
	entry := m.o.Log.WithFields(logrus.Fields{
		"status": p.Status, "planned_app_connections": p.PlannedAppConnections, "app_instances": p.AppInstances,
		"server_max_connections": p.ServerMaxConnections, "reserved_connections": p.ReservedConnections,
		"planned_utilization_percent": p.PlannedUtilizationPercent,
	})
	if p.Status == capacity.OK {
		entry.Info("connection capacity plan")
		return
	}
	entry.WithField("recommendation", p.Recommendation).Warn("connection capacity plan is " + p.Status + ": " + p.Recommendation)
}

// gauges is the part of a capacity plan that /metrics publishes.
func gauges(p capacity.Plan) metrics.Capacity {
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
