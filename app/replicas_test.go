package app

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/pgcluster"
	"github.com/waybill/waybill/testdb"
)

// TestServeWithReplica runs waybill serve with DATABASE_REPLICA_URLS
// naming a real streaming replica: it measures the replica, sends the API's
// reads to it, and shows it in /health and /metrics (its pool among the
// go_sql_* ones, its gauges labelled by host:port).
func TestServeWithReplica(t *testing.T) {
	_, port := testdb.StartCluster(t)
	dbURL := pgcluster.URL(port)
	env := map[string]string{"DATABASE_URL": dbURL, "DB_MAX_OPEN_CONNS": "4"}
	if code, _, stderr := run(t, env, "migrate", "up"); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	key := apiKeyFor(t, dbURL, models.ScopeRead)
	_, rport := testdb.Replica(t, port)
	env["DATABASE_REPLICA_URLS"] = pgcluster.URL(rport)
	s := startWaybill(t, env)

	label := fmt.Sprintf(`{addr="127.0.0.1:%d",replica="0"}`, rport)
	s.waitMetric(t, "waybill_db_replica_healthy"+label+" 1", 15*time.Second)
	for range 3 {
		if r := s.get(t, "/v1/shipments", key); r.status != 200 {
			t.Fatalf("GET /v1/shipments = %d %v", r.status, r.body)
		}
	}
	samples := strings.Split(s.text(t, "/metrics"), "\n")
	for _, want := range []string{"waybill_db_replica_reads_total" + label + " 3", `go_sql_max_open_connections{db_name="replica0"} 4`} {
		if !slices.Contains(samples, want) {
			t.Errorf("/metrics lacks the sample %s", want)
		}
	}
	r := s.get(t, "/health", key)
	db, _ := r.body["database"].(map[string]any)
	reps, _ := db["replicas"].([]any)
	if r.status != 200 || r.body["status"] != "healthy" || len(reps) != 1 {
		t.Fatalf("/health = %d %v, want healthy with one replica", r.status, r.body)
	}
	if rep := reps[0].(map[string]any); rep["status"] != "healthy" || rep["addr"] != fmt.Sprintf("127.0.0.1:%d", rport) || rep["reads"] != 3.0 {
		t.Errorf("/health's replica = %v, want healthy, its address, 3 reads", rep)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("exit status %d", code)
	}
}
