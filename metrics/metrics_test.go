package metrics

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// scrape returns what m's handler answers to a scraper that asks for the
// Prometheus text format.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d, want 200:\n%s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain (the Prometheus text format)", ct)
	}
	return string(body)
}

// checkLines fails t for every line of want that is not a whole line of got.
func checkLines(t *testing.T, got string, want ...string) {
	t.Helper()
	lines := make(map[string]bool)
	for l := range strings.SplitSeq(got, "\n") {
		lines[l] = true
	}
	missing := false
	for _, w := range want {
		if !lines[w] {
			t.Errorf("scrape has no line %q", w)
			missing = true
		}
	}
	if missing {
		t.Logf("scrape:\n%s", got)
	}
}

func TestNew(t *testing.T) {
	got := scrape(t, New("1.2.3", nil))
	checkLines(t, got,
		`# TYPE waybill_build_info gauge`,
		`waybill_build_info{goversion="`+runtime.Version()+`",version="1.2.3"} 1`,
		// Not ready and no plan until the application says otherwise.
		`# TYPE waybill_ready gauge`,
		`waybill_ready 0`,
		`waybill_db_capacity_status{status="ok"} 0`,
		`waybill_db_capacity_status{status="warning"} 0`,
		`waybill_db_capacity_status{status="critical"} 0`,
		`waybill_db_capacity_status{status="unknown"} 1`,
		`waybill_db_capacity_server_max_connections 0`,
		// The Go, process and promhttp collectors.
		`# TYPE go_goroutines gauge`,
		`# TYPE go_memstats_heap_alloc_bytes gauge`,
		`# TYPE process_resident_memory_bytes gauge`,
		`# TYPE promhttp_metric_handler_requests_total counter`,
	)
	// No pool, no pool metrics.
	if strings.Contains(got, "go_sql_") {
		t.Errorf("scrape without pools has go_sql_ metrics:\n%s", got)
	}
}

func TestObserveRequest(t *testing.T) {
	m := New("dev", nil)
	m.ObserveRequest(http.MethodGet, "/v1/shipments/:id", http.StatusOK, 3*time.Millisecond)
	m.ObserveRequest(http.MethodGet, "/v1/shipments/:id", http.StatusOK, 20*time.Millisecond)
	m.ObserveRequest(http.MethodGet, "/v1/shipments/:id", http.StatusServiceUnavailable, 2*time.Second)
	m.ObserveRequest(http.MethodPost, "/v1/shipments", http.StatusCreated, 400*time.Microsecond)
	m.ObserveRequest(http.MethodGet, "unmatched", http.StatusNotFound, 100*time.Microsecond)

	checkLines(t, scrape(t, m),
		`# TYPE waybill_http_requests_total counter`,
		`waybill_http_requests_total{method="GET",route="/v1/shipments/:id",status="200"} 2`,
		`waybill_http_requests_total{method="GET",route="/v1/shipments/:id",status="503"} 1`,
		`waybill_http_requests_total{method="POST",route="/v1/shipments",status="201"} 1`,
		`waybill_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		// 3 ms, 20 ms and 2 s: cumulative buckets.
		`# TYPE waybill_http_request_duration_seconds histogram`,
		`waybill_http_request_duration_seconds_bucket{method="GET",route="/v1/shipments/:id",le="0.0025"} 0`,
		`waybill_http_request_duration_seconds_bucket{method="GET",route="/v1/shipments/:id",le="0.005"} 1`,
		`waybill_http_request_duration_seconds_bucket{method="GET",route="/v1/shipments/:id",le="0.025"} 2`,
		`waybill_http_request_duration_seconds_bucket{method="GET",route="/v1/shipments/:id",le="1"} 2`,
		`waybill_http_request_duration_seconds_bucket{method="GET",route="/v1/shipments/:id",le="2.5"} 3`,
		`waybill_http_request_duration_seconds_bucket{method="GET",route="/v1/shipments/:id",le="10"} 3`,
		`waybill_http_request_duration_seconds_bucket{method="GET",route="/v1/shipments/:id",le="+Inf"} 3`,
		`waybill_http_request_duration_seconds_sum{method="GET",route="/v1/shipments/:id"} 2.023`,
		`waybill_http_request_duration_seconds_count{method="GET",route="/v1/shipments/:id"} 3`,
		// The smallest bucket, 0.5 ms.
		`waybill_http_request_duration_seconds_bucket{method="POST",route="/v1/shipments",le="0.0005"} 1`,
		`waybill_http_request_duration_seconds_count{method="GET",route="unmatched"} 1`,
	)
}

// TestObserveRequestLabels checks that the labels stay bounded: the seven
// common methods keep their names, any other method is "other", and an
// empty route is "unmatched".
func TestObserveRequestLabels(t *testing.T) {
	m := New("dev", nil)
	for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		m.ObserveRequest(method, "/livez", http.StatusOK, time.Millisecond)
	}
	for _, method := range []string{"BREW", "get", "CONNECT", "TRACE", "PROPFIND", strings.Repeat("X", 1000)} {
		m.ObserveRequest(method, "", http.StatusNotFound, time.Millisecond)
	}
	got := scrape(t, m)
	checkLines(t, got,
		`waybill_http_requests_total{method="GET",route="/livez",status="200"} 1`,
		`waybill_http_requests_total{method="HEAD",route="/livez",status="200"} 1`,
		`waybill_http_requests_total{method="OPTIONS",route="/livez",status="200"} 1`,
		`waybill_http_requests_total{method="other",route="unmatched",status="404"} 6`,
		`waybill_http_request_duration_seconds_count{method="other",route="unmatched"} 6`,
	)
	if n := strings.Count(got, "waybill_http_requests_total{"); n != 8 {
		t.Errorf("%d series of waybill_http_requests_total, want 8 (7 methods + other)", n)
	}
}

func TestSetCapacity(t *testing.T) {
	m := New("dev", nil)
	m.SetCapacity(Capacity{
		ServerMaxConnections:      150,
		ReservedConnections:       3,
		ServerConnections:         25,
		AppInstances:              2,
		PlannedAppConnections:     66,
		PlannedUtilizationPercent: 44.9,
		Status:                    "ok",
	})
	checkLines(t, scrape(t, m),
		`# TYPE waybill_db_capacity_server_max_connections gauge`,
		`waybill_db_capacity_server_max_connections 150`,
		`waybill_db_capacity_reserved_connections 3`,
		`waybill_db_capacity_server_connections 25`,
		`waybill_db_capacity_app_instances 2`,
		`waybill_db_capacity_planned_app_connections 66`,
		`waybill_db_capacity_planned_utilization_percent 44.9`,
		`# TYPE waybill_db_capacity_status gauge`,
		`waybill_db_capacity_status{status="ok"} 1`,
		`waybill_db_capacity_status{status="warning"} 0`,
		`waybill_db_capacity_status{status="critical"} 0`,
		`waybill_db_capacity_status{status="unknown"} 0`,
	)

	// A new plan replaces the old one, status included.
	m.SetCapacity(Capacity{ServerMaxConnections: 100, ReservedConnections: 3, ServerConnections: 90,
		AppInstances: 4, PlannedAppConnections: 132, PlannedUtilizationPercent: 136.08, Status: "critical"})
	checkLines(t, scrape(t, m),
		`waybill_db_capacity_server_max_connections 100`,
		`waybill_db_capacity_server_connections 90`,
		`waybill_db_capacity_app_instances 4`,
		`waybill_db_capacity_planned_app_connections 132`,
		`waybill_db_capacity_planned_utilization_percent 136.08`,
		`waybill_db_capacity_status{status="ok"} 0`,
		`waybill_db_capacity_status{status="warning"} 0`,
		`waybill_db_capacity_status{status="critical"} 1`,
		`waybill_db_capacity_status{status="unknown"} 0`,
	)
}

func TestSetCapacityStatus(t *testing.T) {
	tests := []struct {
		status string
		want   string // the label that is 1
	}{
		{"ok", "ok"},
		{"warning", "warning"},
		{"critical", "critical"},
		{"unknown", "unknown"},
		{"", "unknown"},
		{"CRITICAL", "unknown"},
	}
	for _, tt := range tests {
		m := New("dev", nil)
		m.SetCapacity(Capacity{Status: tt.status})
		var want []string
		for _, s := range statuses {
			v := "0"
			if s == tt.want {
				v = "1"
			}
			want = append(want, `waybill_db_capacity_status{status="`+s+`"} `+v)
		}
		checkLines(t, scrape(t, m), want...)
		if got := strings.Count(scrape(t, m), "waybill_db_capacity_status{"); got != len(statuses) {
			t.Errorf("Status %q: %d waybill_db_capacity_status series, want %d", tt.status, got, len(statuses))
		}
	}
}

func TestSetReady(t *testing.T) {
	m := New("dev", nil)
	m.SetReady(true)
	checkLines(t, scrape(t, m), `waybill_ready 1`)
	m.SetReady(false)
	checkLines(t, scrape(t, m), `waybill_ready 0`)
}

// testURL is the PostgreSQL server of the test suite (see package testdb).
func testURL() string {
	if u := os.Getenv("WAYBILL_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

func TestDBStats(t *testing.T) {
	open := func() *sql.DB {
		db, err := sql.Open("pgx", testURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	primary, health := open(), open()
	primary.SetMaxOpenConns(7)
	health.SetMaxOpenConns(1)
	m := New("dev", map[string]*sql.DB{"primary": primary, "health": health})

	checkLines(t, scrape(t, m),
		`# TYPE go_sql_max_open_connections gauge`,
		`go_sql_max_open_connections{db_name="primary"} 7`,
		`go_sql_max_open_connections{db_name="health"} 1`,
		`go_sql_open_connections{db_name="primary"} 0`,
		`go_sql_in_use_connections{db_name="primary"} 0`,
		`go_sql_idle_connections{db_name="primary"} 0`,
		`# TYPE go_sql_wait_count_total counter`,
		`go_sql_wait_count_total{db_name="primary"} 0`,
		`# TYPE go_sql_wait_duration_seconds_total counter`,
		`go_sql_wait_duration_seconds_total{db_name="primary"} 0`,
		`go_sql_max_idle_closed_total{db_name="primary"} 0`,
		`go_sql_max_idle_time_closed_total{db_name="primary"} 0`,
		`go_sql_max_lifetime_closed_total{db_name="primary"} 0`,
	)

	// Holding a connection shows as in use, in the live pool's figures.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := primary.Conn(ctx)
	if err != nil {
		t.Fatalf("connect to %s: %v (the tests need the PostgreSQL server of WAYBILL_TEST_DATABASE_URL)", testURL(), err)
	}
	if err := conn.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	checkLines(t, scrape(t, m),
		`go_sql_open_connections{db_name="primary"} 1`,
		`go_sql_in_use_connections{db_name="primary"} 1`,
		`go_sql_idle_connections{db_name="primary"} 0`,
		`go_sql_open_connections{db_name="health"} 0`,
	)

	// Back in the pool it is idle.
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	checkLines(t, scrape(t, m),
		`go_sql_open_connections{db_name="primary"} 1`,
		`go_sql_in_use_connections{db_name="primary"} 0`,
		`go_sql_idle_connections{db_name="primary"} 1`,
	)

	// A second caller waits for the health pool's only connection.
	held, err := health.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- health.PingContext(ctx) }()
	for health.Stats().WaitCount == 0 {
		if ctx.Err() != nil {
			t.Fatal("the second caller never waited for the health pool's connection")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // so the wait has a duration to report
	held.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkLines(t, scrape(t, m),
		`go_sql_wait_count_total{db_name="health"} 1`,
		`go_sql_in_use_connections{db_name="health"} 0`,
	)
	if strings.Contains(scrape(t, m), `go_sql_wait_duration_seconds_total{db_name="health"} 0`+"\n") {
		t.Error("go_sql_wait_duration_seconds_total{db_name=\"health\"} = 0 after a wait")
	}
}
