package monitor

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/waybill/waybill/capacity"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// sample is a hand-built report with every section filled, so the golden
// file does not depend on the server.
func sample() Report {
	ping := 0.41
	srv := capacity.Server{MaxConnections: 100, SuperuserReserved: 3, Connections: 71}
	r := Report{
		Timestamp:  time.Date(2026, 11, 28, 17, 39, 55, 0, time.UTC),
		Database:   "waybill",
		Thresholds: thresholds(DefaultOptions.withDefaults()),
		Conns:      rateConnections(Connections{MaxConnections: 100, Reserved: 3, Usable: 97, Total: 71, Active: 12, Idle: 57, IdleInTransaction: 2}),
		Capacity:   capacity.NewPlan(srv, 4, 16),
		LongQueries: []LongQuery{
			{PID: 12001, Database: "waybill", DurationSeconds: 95.4, State: "active", Query: "SELECT s.id, s.carrier FROM shipments s JOIN track"},
			{PID: 12002, Database: "waybill", DurationSeconds: 31, State: "idle in transaction", Query: "UPDATE shipments SET status = $1 WHERE id = $2"},
		},
		IdleInTransaction: []IdleSession{
			{PID: 12345, Database: "waybill", DurationSeconds: 432.2, User: "waybill", ApplicationName: "worker"},
		},
		DatabaseSize: NewSize(1_288_490_189),
		LargestTables: []Table{
			{Schema: "public", Name: "shipments", Size: NewSize(905_969_664)},
			{Schema: "public", Name: "tracking_events", Size: NewSize(268_435_456)},
			{Schema: "public", Name: "api_keys", Size: NewSize(49_152)},
		},
		UnusedIndexes: []Index{
			{Schema: "public", Table: "shipments", Name: "shipments_reference_idx", Size: NewSize(2_202_009)},
		},
		Cache: CacheRatios{
			Tables:        rateCache(CacheRatio{HitBlocks: 97_000, ReadBlocks: 3_000}),
			Indexes:       rateCache(CacheRatio{HitBlocks: 99_950, ReadBlocks: 50}),
			SharedBuffers: "128MB",
		},
		Server: &ServerHealth{URL: "http://127.0.0.1:8080/health", Status: "degraded", Version: "1.4.0", Pool: &ServerPool{
			Status: "healthy", Connectivity: "connected", PingMS: &ping,
			PoolSize: 16, PoolFree: 0, PoolUsed: 16, PoolMax: 16, PoolUtilizationPercent: 100,
			WaitCount: 420, WaitDurationMS: 61_500,
		}},
	}
	r.Assess()
	return r
}

func TestRenderTextGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderText(&buf, sample(), false); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.golden", buf.Bytes())
	if bytes.Contains(buf.Bytes(), []byte("\x1b")) {
		t.Error("colour off, but the text has escape sequences")
	}

	var empty bytes.Buffer
	r := Report{Timestamp: time.Date(2026, 11, 28, 17, 39, 55, 0, time.UTC), Database: "waybill", DatabaseSize: NewSize(8_123_456),
		Thresholds: thresholds(DefaultOptions.withDefaults()),
		Conns:      rateConnections(Connections{MaxConnections: 100, Reserved: 3, Usable: 97, Total: 5, Active: 1, Idle: 4}),
		Capacity:   capacity.NewPlan(capacity.Server{MaxConnections: 100, SuperuserReserved: 3, Connections: 5}, 1, 16),
		Cache:      CacheRatios{Tables: rateCache(CacheRatio{}), Indexes: rateCache(CacheRatio{}), SharedBuffers: "128MB"}}
	r.Assess()
	if err := RenderText(&empty, r, false); err != nil {
		t.Fatal(err)
	}
	golden(t, "report_ok.golden", empty.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./monitor -run Golden -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestRenderTextColour(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderText(&buf, sample(), true); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"Waybill database monitor" + reset + ": " + yellow + "WARNING" + reset + ", 7 issues",
		"utilization           " + yellow + "73.20 %" + reset,
		"available             " + yellow + "26" + reset, // 20 ≤ 26 < 48.5
		"tables                " + yellow + "97.00 %" + reset,
		"indexes               " + green + "99.95 %" + reset,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("coloured text lacks %q:\n%s", want, out)
		}
	}
}

func TestRenderJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderJSON(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	dec := json.NewDecoder(&buf)
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if dec.More() {
		t.Error("more than one JSON document")
	}
	get := func(path string) any {
		var v any = m
		for _, k := range strings.Split(path, ".") {
			switch x := v.(type) {
			case map[string]any:
				v = x[k]
			case []any:
				i, err := strconv.Atoi(k)
				if err != nil || i >= len(x) {
					return nil
				}
				v = x[i]
			default:
				return nil
			}
		}
		return v
	}
	for path, want := range map[string]any{
		"status":                                  "warning",
		"timestamp":                               "2026-11-28T17:39:55Z",
		"database":                                "waybill",
		"thresholds.long_query_seconds":           30.0,
		"thresholds.idle_tx_seconds":              300.0,
		"thresholds.unused_index_min_bytes":       1048576.0,
		"connections.max_connections":             100.0,
		"connections.usable_connections":          97.0,
		"connections.total":                       71.0,
		"connections.idle_in_transaction":         2.0,
		"connections.available":                   26.0,
		"connections.utilization_percent":         73.2,
		"connections.utilization_status":          "warning",
		"connections.available_warning_below":     48.5,
		"capacity.planned_app_connections":        72.0,
		"capacity.status":                         "warning",
		"long_running_queries.0.pid":              12001.0,
		"long_running_queries.0.duration_seconds": 95.4,
		"idle_in_transaction.0.pid":               12345.0,
		"idle_in_transaction.0.duration_seconds":  432.2,
		"idle_in_transaction.0.application_name":  "worker",
		"database_size.bytes":                     1288490189.0,
		"database_size.pretty":                    "1.2 GB",
		"largest_tables.0.table":                  "shipments",
		"largest_tables.0.total_size.bytes":       905969664.0,
		"unused_indexes.0.index":                  "shipments_reference_idx",
		"unused_indexes.0.size.pretty":            "2.1 MB",
		"cache_hit_ratio.tables.ratio_percent":    97.0,
		"cache_hit_ratio.tables.status":           "warning",
		"waybill_pool.database.pool_used":         16.0,
		"waybill_pool.database.wait_count":        420.0,
		"issues.0.severity":                       "warning",
	} {
		if got := get(path); got != want {
			t.Errorf("%s = %#v, want %#v", path, got, want)
		}
	}
}

func TestIssuesCarryNumbers(t *testing.T) {
	r := sample()
	for _, want := range []string{
		"pg_terminate_backend(12345) ends the session idle in transaction for 7m12s",
		"DROP INDEX CONCURRENTLY public.shipments_reference_idx frees 2.1 MB",
		"pg_cancel_backend(12001) cancels the query running for 1m35s",
		"26 connections left: end idle sessions or lower the pools, or raise max_connections to at least 122",
		r.Capacity.Recommendation,
		"the pool of 16 is saturated (16 in use)",
		"raise shared_buffers (now 128MB)",
	} {
		found := false
		for _, i := range r.Issues {
			found = found || strings.Contains(i.Recommendation, want)
		}
		if !found || want == "" {
			t.Errorf("no recommendation with %q in %+v", want, r.Issues)
		}
	}
	// An idle-in-transaction session in the long-query list is reported once.
	for _, i := range r.Issues {
		if strings.Contains(i.Message, "pid 12002") {
			t.Errorf("session 12002 (idle in transaction) reported as a long query: %+v", i)
		}
	}
}

func TestFetchServer(t *testing.T) {
	const body = `{"status":"healthy","version":"1.4.0","uptime_seconds":5123.4,"timestamp":"2026-11-28T17:39:55.123456Z",
		"database":{"status":"healthy","connectivity":"connected","ping_ms":0.41,"orm_available":true,
		"pool_size":10,"pool_free":8,"pool_used":2,"pool_max":32,"pool_utilization_percent":6.25,
		"wait_count":0,"wait_duration_ms":0,"max_idle_closed":0,"max_idle_time_closed":0,"max_lifetime_closed":0,
		"capacity":{"server_max_connections":150,"reserved_connections":3,"server_connections":25,"app_instances":2,
		"planned_app_connections":66,"planned_utilization_percent":44.9,"status":"ok","recommendation":""},"replicas":[]}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer good-key" {
			w.Write([]byte(`{"status":"healthy"}`))
			return
		}
		w.Write([]byte(body))
	}))
	defer srv.Close()

	h := FetchServer(t.Context(), srv.Client(), srv.URL+"/", "good-key")
	if h.Error != "" || h.Pool == nil || h.Pool.PoolMax != 32 || h.Pool.PoolUsed != 2 || *h.Pool.PingMS != 0.41 ||
		h.Pool.Capacity == nil || h.Pool.Capacity.PlannedAppConnections != 66 || h.Version != "1.4.0" {
		t.Fatalf("with the key: %+v", h)
	}
	var r Report
	r.AddServer(h)
	if r.Status != OK || len(r.Issues) != 0 {
		t.Errorf("a healthy server: status %s, issues %+v", r.Status, r.Issues)
	}

	h = FetchServer(t.Context(), srv.Client(), srv.URL, "bad-key")
	r.AddServer(h)
	if h.Pool != nil || r.Status != Warning || !strings.Contains(r.Issues[0].Message, "API key") {
		t.Errorf("without a valid key: %+v, issues %+v", h, r.Issues)
	}

	h = FetchServer(t.Context(), srv.Client(), "http://127.0.0.1:1", "good-key")
	r.AddServer(h)
	if h.Error == "" || r.Status != Warning || r.Issues[0].Section != SectionServer {
		t.Errorf("unreachable: %+v, status %s, issues %+v", h, r.Status, r.Issues)
	}
}

func TestSizes(t *testing.T) {
	for in, want := range map[string]int64{"1MB": 1 << 20, "100kB": 100 << 10, "100 KB": 100 << 10, "4096": 4096,
		"1.5GB": 3 << 29, "0": 0, "12B": 12} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MB", "1XB", "-1MB", "1.2.3MB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q): no error", bad)
		}
	}
	for n, want := range map[int64]string{0: "0 bytes", 1023: "1023 bytes", 1024: "1.0 kB", 2_202_009: "2.1 MB", 1 << 40: "1.0 TB"} {
		if got := PrettySize(n); got != want {
			t.Errorf("PrettySize(%d) = %q, want %q", n, got, want)
		}
	}
	for in, want := range map[string]string{"shipments_idx": "shipments_idx", "Mixed": `"Mixed"`, "1st": `"1st"`, `a"b`: `"a""b"`} {
		if got := QuoteIdent(in); got != want {
			t.Errorf("QuoteIdent(%q) = %s, want %s", in, got, want)
		}
	}
}
