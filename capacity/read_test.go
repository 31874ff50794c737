package capacity_test

import (
	"context"
	"database/sql"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/waybill/waybill/capacity"
	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

// TestReadRealServers reads servers configured differently (with
// models.ReadServerConnections) and plans against each.
func TestReadRealServers(t *testing.T) {
	tests := []struct {
		name     string
		settings []string
		want     capacity.Server // Connections is checked separately
		plan     capacity.Plan   // for 4 instances of pool 4
	}{
		{
			name:     "small server",
			settings: []string{"max_connections = 23", "superuser_reserved_connections = 2"},
			want:     capacity.Server{MaxConnections: 23, SuperuserReserved: 2},
			plan:     capacity.Plan{PlannedAppConnections: 24, PlannedUtilizationPercent: 114.29, Status: capacity.Critical},
		},
		{
			name:     "large server",
			settings: []string{"max_connections = 150", "superuser_reserved_connections = 5"},
			want:     capacity.Server{MaxConnections: 150, SuperuserReserved: 5},
			plan:     capacity.Plan{PlannedAppConnections: 24, PlannedUtilizationPercent: 16.55, Status: capacity.OK},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sql.Open("pgx", testdb.Cluster(t, tt.settings...))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// Two more client connections than this one.
			ctx := context.Background()
			for range 2 {
				c, err := db.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			}
			got, err := models.ReadServerConnections(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if got.Connections != 3 {
				t.Errorf("Connections = %d, want 3 (this test's)", got.Connections)
			}
			got.Connections = 0
			if got != tt.want {
				t.Errorf("Read = %+v, want %+v", got, tt.want)
			}
			p := capacity.NewPlan(got, 4, 4)
			if p.PlannedAppConnections != tt.plan.PlannedAppConnections || p.PlannedUtilizationPercent != tt.plan.PlannedUtilizationPercent ||
				p.Status != tt.plan.Status {
				t.Errorf("plan = %+v, want %+v", p, tt.plan)
			}
		})
	}
}
