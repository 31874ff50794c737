package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"none", nil, 50, 0},
		{"one value is every percentile", []time.Duration{7}, 99, 7},
		{"median of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 is the maximum", hundred, 100, 100 * time.Millisecond},
		{"tiny q is the minimum", hundred, 0.001, time.Millisecond},
		// Nearest rank: the 2nd of 3 values is the first with ≥ 50 % at or below it.
		{"median of three", []time.Duration{1, 2, 30}, 50, 2},
		{"p99 of three is the maximum", []time.Duration{1, 2, 30}, 99, 30},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.q); got != tt.want {
			t.Errorf("%s: percentile(q=%v) = %v, want %v", tt.name, tt.q, got, tt.want)
		}
	}
}

func TestCacheKey(t *testing.T) {
	repo := func() fstest.MapFS {
		return fstest.MapFS{
			"migrations/00001_a.sql":   {Data: []byte("CREATE TABLE a ();")},
			"migrations/00002_b.sql":   {Data: []byte("CREATE TABLE b ();")},
			"migrations/migrations.go": {Data: []byte("package migrations")},
			"seed/seed.go":             {Data: []byte("package seed // v1")},
			"seed/seed_test.go":        {Data: []byte("package seed // test")},
			"models/models.go":         {Data: []byte("package models")},
		}
	}
	key := func(fsys fstest.MapFS) string {
		t.Helper()
		k, err := cacheKey(fsys)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key(repo())
	if len(base) != 8 {
		t.Fatalf("key %q, want 8 hex digits", base)
	}
	if again := key(repo()); again != base {
		t.Errorf("same files: key %q, then %q", base, again)
	}

	changes := []struct {
		name   string
		change func(fstest.MapFS)
		same   bool
	}{
		{"a migration changes", func(f fstest.MapFS) { f["migrations/00002_b.sql"].Data = []byte("CREATE TABLE c ();") }, false},
		{"a migration is added", func(f fstest.MapFS) { f["migrations/00003_c.sql"] = &fstest.MapFile{Data: []byte("")} }, false},
		{"the generator changes", func(f fstest.MapFS) { f["seed/seed.go"].Data = []byte("package seed // v2") }, false},
		{"bytes move between files", func(f fstest.MapFS) {
			f["migrations/00001_a.sql"].Data = []byte("CREATE TABLE a ();CREATE")
			f["migrations/00002_b.sql"].Data = []byte(" TABLE b ();")
		}, false},
		{"a seed test changes", func(f fstest.MapFS) { f["seed/seed_test.go"].Data = []byte("package seed // other") }, true},
		{"other code changes", func(f fstest.MapFS) { f["models/models.go"].Data = []byte("package models // v2") }, true},
		{"migrations.go changes", func(f fstest.MapFS) { f["migrations/migrations.go"].Data = []byte("package m") }, true},
	}
	for _, c := range changes {
		f := repo()
		c.change(f)
		if got := key(f); (got == base) != c.same {
			t.Errorf("%s: key %q, base %q; want the same key: %v", c.name, got, base, c.same)
		}
	}

	if _, err := cacheKey(fstest.MapFS{}); err == nil {
		t.Error("no migrations or seed: want an error, got a key")
	}
}

func TestParsePgbench(t *testing.T) {
	const out = `pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: get_one.sql
scaling factor: 1
query mode: prepared
number of clients: 16
number of threads: 2
maximum number of tries: 1
duration: 3 s
number of transactions actually processed: 13648
number of failed transactions: 2 (0.015%)
latency average = 3.496 ms
initial connection time = 57.536 ms
tps = 4576.921490 (without initial connection time)
`
	got, err := parsePgbench(out)
	if err != nil {
		t.Fatal(err)
	}
	want := pgbenchResult{tps: 4576.921490, processed: 13648, failed: 2}
	if got != want {
		t.Errorf("parsePgbench = %+v, want %+v", got, want)
	}
	if _, err := parsePgbench("pgbench: error: connection to server failed\n"); err == nil {
		t.Error("output without tps: want an error")
	}
}

func TestParseHistogram(t *testing.T) {
	const scrape = `# HELP waybill_http_request_duration_seconds Time to answer an HTTP request, by method and route template.
# TYPE waybill_http_request_duration_seconds histogram
waybill_http_request_duration_seconds_bucket{method="GET",route="/readyz",le="0.0005"} 3
waybill_http_request_duration_seconds_bucket{method="GET",route="/readyz",le="0.001"} 90
waybill_http_request_duration_seconds_bucket{method="GET",route="/readyz",le="0.0025"} 99
waybill_http_request_duration_seconds_bucket{method="GET",route="/readyz",le="+Inf"} 100
waybill_http_request_duration_seconds_sum{method="GET",route="/readyz"} 0.08
waybill_http_request_duration_seconds_count{method="GET",route="/readyz"} 100
waybill_http_request_duration_seconds_bucket{method="GET",route="/readyz/x",le="+Inf"} 7
waybill_http_request_duration_seconds_bucket{method="POST",route="/readyz",le="+Inf"} 8
waybill_http_request_duration_seconds_bucket{method="GET",note="a \"quoted\", value",route="/readyz",le="+Inf"} 9
`
	want := histogram{{0.0005, 3}, {0.001, 90}, {0.0025, 99}, {math.Inf(1), 100}}
	labels := map[string]string{"method": "GET", "route": "/readyz"}
	got, err := parseHistogram(scrape, durationFamily, labels)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("parseHistogram = %v, want %v", got, want)
	}
	quoted, err := parseHistogram(scrape, durationFamily, map[string]string{"method": "GET", "route": "/readyz", "note": `a "quoted", value`})
	if err != nil || !slices.Equal(quoted, histogram{{math.Inf(1), 9}}) {
		t.Errorf("escaped label value: %v, %v", quoted, err)
	}
	none, err := parseHistogram(scrape, durationFamily, map[string]string{"method": "GET", "route": "/livez"})
	if err != nil || len(none) != 0 {
		t.Errorf("absent series: %v, %v; want an empty histogram", none, err)
	}
	if _, err := parseHistogram(`waybill_http_request_duration_seconds_bucket{method="GET",route="/readyz",le="0.001} 1`, durationFamily, labels); err == nil {
		t.Error("unterminated label value: want an error")
	}
}

func TestHistogramBound(t *testing.T) {
	before := histogram{{0.0005, 10}, {0.001, 10}, {0.0025, 10}, {0.005, 10}, {math.Inf(1), 10}}
	after := histogram{{0.0005, 60}, {0.001, 105}, {0.0025, 109}, {0.005, 110}, {math.Inf(1), 110}}
	h := after.since(before) // 50, 95, 99, 100, 100
	if h.count() != 100 {
		t.Fatalf("count = %v, want 100", h.count())
	}
	for _, tt := range []struct {
		q    float64
		want string
	}{{50, "≤ 0.5 ms"}, {51, "≤ 1 ms"}, {95, "≤ 1 ms"}, {99, "≤ 2.5 ms"}, {100, "≤ 5 ms"}} {
		if got := h.boundText(tt.q); got != tt.want {
			t.Errorf("p%v: %q, want %q", tt.q, got, tt.want)
		}
	}
	slow := histogram{{5, 1}, {10, 1}, {math.Inf(1), 2}}
	if got := slow.boundText(99); got != "> 10 s" {
		t.Errorf("past the last bucket: %q, want \"> 10 s\"", got)
	}
	if got := (histogram{}).boundText(50); got != "—" {
		t.Errorf("no observations: %q", got)
	}
	// A series created during the window: nothing before it.
	if got := after.since(nil); !slices.Equal(got, after) {
		t.Errorf("since(nil) = %v", got)
	}
}

func TestCompareWork(t *testing.T) {
	tests := []struct {
		name           string
		server, script work
		lookups        int
		coalesced      bool
		same           bool
		coalescing     float64
	}{
		{"the same per request", work{2, 6.1, 0}, work{3, 6, 0}, 1, false, true, 1},
		{"a scan more per request", work{2, 8, 0}, work{3, 6, 0}, 1, false, false, 1},
		// 8 requests per statement: per request the server does an eighth.
		{"coalesced, per statement the same", work{0.125, 5.3, 0}, work{1, 41.6, 0}, 0, true, true, 8},
		{"coalesced, per statement a different plan", work{0.125, 8, 0}, work{1, 41.6, 0}, 0, true, false, 8},
		{"coalesced, but two statements where the script sends one", work{2, 83, 0}, work{1, 41.6, 0}, 0, true, false, 0.5},
		{"not coalesced, fewer statements per request", work{0.125, 5.3, 0}, work{1, 41.6, 0}, 0, false, false, 1},
	}
	for _, tt := range tests {
		c := compareWork(tt.server, tt.script, tt.lookups, tt.coalesced)
		if c.same() != tt.same || math.Abs(c.coalescing-tt.coalescing) > 1e-9 {
			t.Errorf("%s: same %v, coalescing %v (%s); want %v, %v", tt.name, c.same(), c.coalescing, c, tt.same, tt.coalescing)
		}
	}
}

func TestDriveEdges(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	client := newClient(2)
	defer client.CloseIdleConnections()
	load := func(ctx context.Context, _ *rand.Rand) *http.Request {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		return req
	}
	var ends []bool
	var at []time.Time
	start := time.Now()
	m, _ := drive(context.Background(), client, 2, 100*time.Millisecond, 200*time.Millisecond, load, nil, func(end bool) {
		ends = append(ends, end)
		at = append(at, time.Now())
	})
	if !slices.Equal(ends, []bool{false, true}) {
		t.Fatalf("edge calls %v, want [false true]", ends)
	}
	// Timers fire late, never early; a busy machine makes them later.
	if d := at[0].Sub(start); d < 100*time.Millisecond || d > time.Second {
		t.Errorf("window start after %v, want 100ms", d)
	}
	if d := at[1].Sub(start); d < 300*time.Millisecond || d > 2*time.Second {
		t.Errorf("window end after %v, want 300ms", d)
	}
	if len(m.latencies) == 0 {
		t.Error("no request measured")
	}
}

// TestJudgedCeiling: a ratio target is judged against the faster of the
// two pgbench runs, whichever it is, and not met when neither measured.
func TestJudgedCeiling(t *testing.T) {
	s := scenario{script: "a.sql", simplest: "a.simplest.sql", target: target{minRatio: 0.5}}
	load := measured{latencies: make([]time.Duration, 600), window: time.Second} // 600 req/s
	for _, c := range []struct {
		name             string
		server, simplest float64
		simplestErr      string
		want             float64
		met              bool
	}{
		{"simplest faster", 1000, 1500, "", 1500, false},
		{"server faster", 1000, 300, "", 1000, true},
		{"simplest failed", 1000, 0, "boom", 1000, true},
	} {
		r := result{scenario: s, http: load, pgbench: pgbenchResult{tps: c.server},
			simplest: pgbenchResult{tps: c.simplest}, simplestErr: c.simplestErr}
		got, ok := r.judged()
		if !ok || got.tps != c.want {
			t.Errorf("%s: judged %v (%v), want %v", c.name, got.tps, ok, c.want)
		}
		if met := !strings.Contains(r.targetText(), "✗"); met != c.met {
			t.Errorf("%s: target %q, want met %v", c.name, r.targetText(), c.met)
		}
	}
	if _, ok := (result{scenario: s, pgbenchErr: "x", simplestErr: "y"}).judged(); ok {
		t.Error("neither ceiling measured: want no judgement")
	}
}

// TestWindowMemory reads the runtime's counters at a window's edges and
// divides them by the requests answered.
func TestWindowMemory(t *testing.T) {
	scrape := func(mallocs, bytes, gcs int) string {
		return fmt.Sprintf("# TYPE go_memstats_mallocs_total counter\ngo_memstats_mallocs_total %d\ngo_memstats_alloc_bytes_total %d\ngo_gc_duration_seconds_count %d\ngo_gc_duration_seconds_sum 0.1\n", mallocs, bytes, gcs)
	}
	w := &windowScraper{before: scrape(1000, 1<<20, 5), after: scrape(3000, 3<<20, 15)}
	m, err := w.memory(100, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := (memory{allocs: 20, bytes: float64(2<<20) / 100, gcs: 5}); *m != want {
		t.Errorf("memory = %+v, want %+v", *m, want)
	}
	if _, err := (&windowScraper{before: scrape(0, 0, 0), after: "up 1\n"}).memory(1, time.Second); err == nil {
		t.Error("a scrape without the counters: want an error")
	}
}
