// Package capacity plans PostgreSQL connection capacity: how many
// connections all of Waybill's processes will hold, against what the
// server allows. The predecessor counted one process's pool against
// max_connections and forgot that every worker process had its own;
// a Plan counts every instance, and the two connections each keeps besides
// its pool: the health connection and the API key revocation listener.
package capacity

import (
	"fmt"
	"math"

	"github.com/waybill/waybill/models"
)

// Plan statuses, with the predecessor's thresholds: ok up to 60 % of the
// usable connections, warning up to 80 %, critical above.
const (
	OK       = "ok"
	Warning  = "warning"
	Critical = "critical"
	Unknown  = "unknown"

	okPercent      = 60
	warningPercent = 80
)

// Server is what a PostgreSQL server allows and how many connections it
// holds now: models.Store.ServerConnections reads it.
type Server = models.ServerConnections

// Plan is the capacity plan, shaped as /health reports it
// (docs/monitoring.md).
type Plan struct {
	ServerMaxConnections      int     `json:"server_max_connections"`
	ReservedConnections       int     `json:"reserved_connections"`
	ServerConnections         int     `json:"server_connections"`
	AppInstances              int     `json:"app_instances"`
	PlannedAppConnections     int     `json:"planned_app_connections"`
	PlannedUtilizationPercent float64 `json:"planned_utilization_percent"`
	Status                    string  `json:"status"`
	Recommendation            string  `json:"recommendation"`
	// PooledBy is "pgbouncer" when the plan counts PgBouncer's server
	// connections (NewBouncerPlan) rather than the instances' pools.
	PooledBy string `json:"pooled_by,omitempty"`
}

// perInstance is how many connections each process keeps outside its
// pool: the health connection and the API key revocation listener.
const perInstance = 2

// NewPlan plans instances processes, each with a pool of poolMax
// connections plus the perInstance connections it keeps, against s.
func NewPlan(s Server, instances, poolMax int) Plan {
	p := Plan{
		ServerMaxConnections:  s.MaxConnections,
		ReservedConnections:   s.ReservedTotal(),
		ServerConnections:     s.Connections,
		AppInstances:          instances,
		PlannedAppConnections: instances * (poolMax + perInstance),
	}
	p.grade(s, func() string { return recommend(s, instances, p.PlannedAppConnections) })
	return p
}

// NewBouncerPlan plans the server connections of one PgBouncer in front of
// every instance, as its admin console reports them in b: at most
// b.ServerConnectionsPerPool() for Waybill's database and user, however
// many instances and whatever their pools (their clients wait in
// PgBouncer instead). The instances' health connections go through
// PgBouncer too; behind it there is no revocation listener.
func NewBouncerPlan(s Server, instances int, b models.Bouncer) Plan {
	p := Plan{
		ServerMaxConnections:  s.MaxConnections,
		ReservedConnections:   s.ReservedTotal(),
		ServerConnections:     s.Connections,
		AppInstances:          instances,
		PlannedAppConnections: b.ServerConnectionsPerPool(),
		PooledBy:              "pgbouncer",
	}
	p.grade(s, func() string {
		return fmt.Sprintf("PgBouncer may open %d of %d usable connections (default_pool_size %d + reserve_pool_size %d): "+
			"lower them to %d in all, or raise max_connections to at least %d",
			p.PlannedAppConnections, s.Usable(), b.DefaultPoolSize, b.ReservePoolSize, max(1, s.Usable()*okPercent/100),
			minMaxConnections(p.PlannedAppConnections, s.ReservedTotal()))
	})
	return p
}

// grade sets the plan's utilization and status against s, and, unless it
// is ok, its recommendation (recommend's, or raising max_connections when
// the server leaves ordinary roles nothing).
func (p *Plan) grade(s Server, recommend func() string) {
	usable := s.Usable()
	if usable <= 0 {
		p.Status = Critical
		p.Recommendation = fmt.Sprintf("the server leaves no connections to ordinary roles (max_connections %d, %d reserved): raise max_connections to at least %d",
			s.MaxConnections, s.ReservedTotal(), minMaxConnections(p.PlannedAppConnections, s.ReservedTotal()))
		return
	}
	p.PlannedUtilizationPercent = math.Round(float64(p.PlannedAppConnections)/float64(usable)*100*100) / 100
	switch {
	case p.PlannedUtilizationPercent <= okPercent:
		p.Status = OK
		return
	case p.PlannedUtilizationPercent <= warningPercent:
		p.Status = Warning
	default:
		p.Status = Critical
	}
	p.Recommendation = recommend()
}

// recommend names the pool size, or the max_connections, that brings the
// plan back under 60 %.
func recommend(s Server, instances, planned int) string {
	raise := fmt.Sprintf("raise max_connections to at least %d", minMaxConnections(planned, s.ReservedTotal()))
	// The largest pool with instances × (pool + perInstance) ≤ 60 % of
	// usable.
	pool := s.Usable()*okPercent/100/instances - perInstance
	if pool < 1 {
		return fmt.Sprintf("%d instances cannot share %d usable connections under %d %% even with one pooled connection each: %s or run fewer instances",
			instances, s.Usable(), okPercent, raise)
	}
	return fmt.Sprintf("planned %d of %d usable connections: set DB_MAX_OPEN_CONNS to at most %d (%d instance(s) × %d = %d connections), or %s",
		planned, s.Usable(), pool, instances, pool+perInstance, instances*(pool+perInstance), raise)
}

// minMaxConnections is the smallest max_connections under which planned
// connections are at most 60 % of the usable ones.
func minMaxConnections(planned, reserved int) int {
	return (planned*100+okPercent-1)/okPercent + reserved
}
