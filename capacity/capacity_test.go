package capacity

import (
	"strings"
	"testing"

	"github.com/waybill/waybill/models"
)

func TestNewPlan(t *testing.T) {
	tests := []struct {
		name      string
		server    Server
		instances int
		pool      int
		want      Plan
		recommend []string // substrings of the recommendation
	}{
		{
			name:   "SPEC example",
			server: Server{MaxConnections: 150, SuperuserReserved: 3, Connections: 25}, instances: 2, pool: 32,
			want: Plan{ServerMaxConnections: 150, ReservedConnections: 3, ServerConnections: 25, AppInstances: 2,
				PlannedAppConnections: 68, PlannedUtilizationPercent: 46.26, Status: OK},
		},
		{
			name: "the predecessor's mistake: four workers of 20+2 against 100", server: Server{MaxConnections: 100, SuperuserReserved: 3},
			instances: 4, pool: 20,
			want: Plan{ServerMaxConnections: 100, ReservedConnections: 3, AppInstances: 4, PlannedAppConnections: 88,
				PlannedUtilizationPercent: 90.72, Status: Critical},
			// 60 % of 97 = 58.2 → 14 per instance → pool 12; 88 / 0.6 = 146.7 → 147 + 3.
			recommend: []string{"DB_MAX_OPEN_CONNS to at most 12", "4 instance(s) × 14 = 56", "max_connections to at least 150"},
		},
		{
			name: "warning band", server: Server{MaxConnections: 100, SuperuserReserved: 3, Reserved: 2}, instances: 1, pool: 70,
			want: Plan{ServerMaxConnections: 100, ReservedConnections: 5, AppInstances: 1, PlannedAppConnections: 72,
				PlannedUtilizationPercent: 75.79, Status: Warning},
			recommend: []string{"DB_MAX_OPEN_CONNS to at most 55", "max_connections to at least 125"},
		},
		{
			name: "exactly 60 % is ok", server: Server{MaxConnections: 103, SuperuserReserved: 3}, instances: 3, pool: 18,
			want: Plan{ServerMaxConnections: 103, ReservedConnections: 3, AppInstances: 3, PlannedAppConnections: 60,
				PlannedUtilizationPercent: 60, Status: OK},
		},
		{
			name: "too many instances for any pool", server: Server{MaxConnections: 20, SuperuserReserved: 3}, instances: 10, pool: 4,
			want: Plan{ServerMaxConnections: 20, ReservedConnections: 3, AppInstances: 10, PlannedAppConnections: 60,
				PlannedUtilizationPercent: 352.94, Status: Critical},
			recommend: []string{"10 instances cannot share 17 usable connections", "max_connections to at least 103"},
		},
		{
			name: "nothing usable", server: Server{MaxConnections: 3, SuperuserReserved: 3}, instances: 1, pool: 1,
			want:      Plan{ServerMaxConnections: 3, ReservedConnections: 3, AppInstances: 1, PlannedAppConnections: 3, Status: Critical},
			recommend: []string{"raise max_connections to at least 8"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewPlan(tt.server, tt.instances, tt.pool)
			rec := got.Recommendation
			got.Recommendation = ""
			if got != tt.want {
				t.Errorf("plan = %+v\nwant   %+v", got, tt.want)
			}
			if len(tt.recommend) == 0 && rec != "" {
				t.Errorf("recommendation %q for an ok plan", rec)
			}
			for _, s := range tt.recommend {
				if !strings.Contains(rec, s) {
					t.Errorf("recommendation %q lacks %q", rec, s)
				}
			}
		})
	}
}

// TestRecommendationWorks applies each recommendation and checks the plan
// is then ok, for a range of servers and deployments.
func TestRecommendationWorks(t *testing.T) {
	for _, maxConns := range []int{20, 50, 100, 150, 500} {
		for _, instances := range []int{1, 2, 4, 8} {
			for _, pool := range []int{4, 16, 32, 64} {
				s := Server{MaxConnections: maxConns, SuperuserReserved: 3}
				p := NewPlan(s, instances, pool)
				if p.Status == OK {
					continue
				}
				raised := s
				raised.MaxConnections = minMaxConnections(p.PlannedAppConnections, s.ReservedTotal())
				if q := NewPlan(raised, instances, pool); q.Status != OK {
					t.Errorf("max %d, %d×%d: raising max_connections to %d gives %s (%.2f %%)", maxConns, instances, pool,
						raised.MaxConnections, q.Status, q.PlannedUtilizationPercent)
				}
				if smaller := s.Usable()*okPercent/100/instances - perInstance; smaller >= 1 {
					if q := NewPlan(s, instances, smaller); q.Status != OK {
						t.Errorf("max %d, %d instances: pool %d gives %s", maxConns, instances, smaller, q.Status)
					}
					if q := NewPlan(s, instances, smaller+1); q.Status == OK {
						t.Errorf("max %d, %d instances: pool %d is not the largest ok pool", maxConns, instances, smaller)
					}
				}
			}
		}
	}
}

// TestNewBouncerPlan: behind PgBouncer the plan counts its server
// connections for Waybill's pool (pool + reserve, bounded by
// max_db_connections), whatever the number of instances.
func TestNewBouncerPlan(t *testing.T) {
	s := Server{MaxConnections: 100, SuperuserReserved: 3, Connections: 10}
	for _, tt := range []struct {
		b       models.Bouncer
		planned int
		status  string
	}{
		{models.Bouncer{DefaultPoolSize: 20, ReservePoolSize: 5}, 25, OK},
		{models.Bouncer{DefaultPoolSize: 20, ReservePoolSize: 5, MaxDBConnections: 10}, 10, OK},
		{models.Bouncer{DefaultPoolSize: 60, ReservePoolSize: 10}, 70, Warning},
		{models.Bouncer{DefaultPoolSize: 90}, 90, Critical},
	} {
		for _, instances := range []int{1, 8} {
			p := NewBouncerPlan(s, instances, tt.b)
			if p.PlannedAppConnections != tt.planned || p.Status != tt.status || p.PooledBy != "pgbouncer" || p.AppInstances != instances {
				t.Errorf("%+v, %d instances: planned %d %s (%s), want %d %s", tt.b, instances, p.PlannedAppConnections, p.Status, p.PooledBy, tt.planned, tt.status)
			}
			if (p.Status == OK) != (p.Recommendation == "") || (p.Status != OK && !strings.Contains(p.Recommendation, "default_pool_size")) {
				t.Errorf("%+v: recommendation %q", tt.b, p.Recommendation)
			}
		}
	}
}
