package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// durationFamily is the server's request latency histogram
// (metrics/metrics.go), by method and route template.
const durationFamily = "waybill_http_request_duration_seconds"

// histogram is one series of a Prometheus histogram: its cumulative
// buckets, by ascending upper bound, the last one +Inf (the count).
type histogram []bucket

type bucket struct {
	le    float64 // upper bound, seconds
	count float64 // observations ≤ le
}

// scrapeMetrics returns the server's GET /metrics in the text format.
func scrapeMetrics(ctx context.Context, client *http.Client, base string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return "", err
	}
	// The text format, which parseHistogram and parseCounter read.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	body, err := exchange(client, req)
	return string(body), err
}

// parseCounter returns the value of the series name (no labels) in a
// scrape in the Prometheus text format, or an error if it is not there.
func parseCounter(text, name string) (float64, error) {
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			continue
		}
		return strconv.ParseFloat(strings.TrimSpace(rest), 64)
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}

// parseHistogram returns the buckets of family's series with the given
// labels from a scrape in the Prometheus text format: its lines
//
//	family_bucket{label="value",...,le="0.0005"} 42
//
// A series that is not there is an empty histogram.
func parseHistogram(text, family string, labels map[string]string) (histogram, error) {
	var h histogram
	prefix := family + "_bucket{"
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		got, rest, err := parseLabels(rest)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", strings.TrimSpace(line), err)
		}
		le, ok := got["le"]
		delete(got, "le")
		if !ok || len(got) != len(labels) || !matches(got, labels) {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("%s: no value", strings.TrimSpace(line))
		}
		var b bucket
		if b.le, err = strconv.ParseFloat(le, 64); err != nil {
			return nil, fmt.Errorf("%s: le: %w", strings.TrimSpace(line), err)
		}
		if b.count, err = strconv.ParseFloat(fields[0], 64); err != nil {
			return nil, fmt.Errorf("%s: value: %w", strings.TrimSpace(line), err)
		}
		h = append(h, b)
	}
	slices.SortFunc(h, func(a, b bucket) int { return cmpFloat(a.le, b.le) })
	if len(h) > 0 && !math.IsInf(h[len(h)-1].le, 1) {
		return nil, fmt.Errorf("%s_bucket%v: no le=\"+Inf\" bucket", family, labels)
	}
	return h, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func matches(got, want map[string]string) bool {
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}

// parseLabels reads `name="value",...}` (the opening brace already read)
// and returns the labels and what follows the closing brace.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ")
		if rest, ok := strings.CutPrefix(s, "}"); ok {
			return labels, rest, nil
		}
		name, rest, ok := strings.Cut(s, "=")
		if !ok || !strings.HasPrefix(rest, `"`) {
			return nil, "", errors.New("malformed labels")
		}
		var value strings.Builder
		i := 1
		for ; i < len(rest) && rest[i] != '"'; i++ {
			c := rest[i]
			if c == '\\' && i+1 < len(rest) {
				i++
				switch c = rest[i]; c {
				case 'n':
					c = '\n'
				}
			}
			value.WriteByte(c)
		}
		if i == len(rest) {
			return nil, "", errors.New("unterminated label value")
		}
		labels[strings.TrimSpace(name)] = value.String()
		s = strings.TrimPrefix(rest[i+1:], ",")
	}
}

// since returns what h counted since before, an earlier scrape of the
// same series.
func (h histogram) since(before histogram) histogram {
	out := make(histogram, len(h))
	for i, b := range h {
		out[i] = b
		if j := slices.IndexFunc(before, func(x bucket) bool { return x.le == b.le }); j >= 0 {
			out[i].count -= before[j].count
		}
	}
	return out
}

// count is the number of observations.
func (h histogram) count() float64 {
	if len(h) == 0 {
		return 0
	}
	return h[len(h)-1].count
}

// bound returns the upper bound of the bucket where the q-th percentile
// (0 < q ≤ 100, nearest rank) falls: at least q % of the observations
// took no longer. It is +Inf past the last finite bucket, and NaN with no
// observations.
func (h histogram) bound(q float64) float64 {
	n := h.count()
	if n <= 0 {
		return math.NaN()
	}
	rank := max(math.Ceil(q/100*n), 1)
	for _, b := range h {
		if b.count >= rank {
			return b.le
		}
	}
	return math.Inf(1)
}

// boundText writes the q-th percentile's bound: "≤ 0.5 ms", "≤ 2.5 s",
// "> 10 s" past the last finite bucket.
func (h histogram) boundText(q float64) string {
	b := h.bound(q)
	switch {
	case math.IsNaN(b):
		return "—"
	case math.IsInf(b, 1):
		last := 0.0
		if len(h) > 1 {
			last = h[len(h)-2].le
		}
		return "> " + fmtBound(last)
	}
	return "≤ " + fmtBound(b)
}

// fmtBound writes a bucket bound in ms below a second, else in s.
func fmtBound(v float64) string {
	if v < 1 {
		return strconv.FormatFloat(math.Round(v*1e6)/1e3, 'f', -1, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + " s"
}

// serverLatency is a route's latency over a measured window as the server
// timed it, from its handler's start to its end, without the time the
// request and its answer spent in the kernel, in the HTTP server's reading
// and writing, or waiting for a CPU.
type serverLatency struct {
	route string
	h     histogram // the window's observations
}

func (s serverLatency) String() string {
	return fmt.Sprintf("server-side (from %s, %.0f requests): p50 %s, p99 %s",
		durationFamily, s.h.count(), s.h.boundText(50), s.h.boundText(99))
}

// windowScraper scrapes the server's /metrics at the edges of a measured
// window; drive calls edge at the start and at the end.
type windowScraper struct {
	ctx           context.Context
	client        *http.Client
	base          string
	before, after string
	err           error
}

func (w *windowScraper) edge(end bool) {
	if w.err != nil {
		return
	}
	text, err := scrapeMetrics(w.ctx, w.client, w.base)
	switch {
	case err != nil:
		w.err = err
	case end:
		w.after = text
	default:
		w.before = text
	}
}

// scraped returns why the window has no scrapes at its edges, or nil.
func (w *windowScraper) scraped() error {
	if w.err == nil && w.after == "" {
		return errors.New("no scrape of /metrics at the end of the window")
	}
	return w.err
}

// latency returns route's latency over the window, as the server timed it.
func (w *windowScraper) latency(route string) (*serverLatency, error) {
	if err := w.scraped(); err != nil {
		return nil, err
	}
	labels := map[string]string{"method": http.MethodGet, "route": route}
	before, err := parseHistogram(w.before, durationFamily, labels)
	if err != nil {
		return nil, err
	}
	after, err := parseHistogram(w.after, durationFamily, labels)
	switch {
	case err != nil:
		return nil, err
	case after == nil:
		return nil, fmt.Errorf("no %s series for GET %s in /metrics after the window", durationFamily, route)
	}
	return &serverLatency{route: route, h: after.since(before)}, nil
}

// memory is what the server's Go runtime did over a measured window, per
// request answered in it: heap allocations (count and bytes) and garbage
// collections, from the Go collector's counters (metrics/metrics.go).
type memory struct {
	allocs, bytes float64 // per request
	gcs           float64 // GC cycles per second of the window
}

// runtimeCounters are the Go collector's series memory reads, in the order
// of its fields.
var runtimeCounters = []string{"go_memstats_mallocs_total", "go_memstats_alloc_bytes_total", "go_gc_duration_seconds_count"}

// memory returns the runtime's work over the window, which answered
// requests in window.
func (w *windowScraper) memory(requests int, window time.Duration) (*memory, error) {
	if err := w.scraped(); err != nil {
		return nil, err
	}
	if requests == 0 || window <= 0 {
		return nil, errors.New("no request answered in the window")
	}
	var delta [3]float64
	for i, name := range runtimeCounters {
		before, err := parseCounter(w.before, name)
		if err != nil {
			return nil, err
		}
		after, err := parseCounter(w.after, name)
		if err != nil {
			return nil, err
		}
		delta[i] = after - before
	}
	n := float64(requests)
	return &memory{allocs: delta[0] / n, bytes: delta[1] / n, gcs: delta[2] / window.Seconds()}, nil
}

func (m memory) String() string {
	return fmt.Sprintf("%.0f allocations, %.1f KiB a request; %.1f GC cycles/s", m.allocs, m.bytes/1024, m.gcs)
}
