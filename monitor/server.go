package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/waybill/waybill/capacity"
)

// ServerHealth is a running Waybill's view of its pool, from its /health
// (docs/monitoring.md). Error is set, and the rest empty, when /health could not be
// read.
type ServerHealth struct {
	URL     string      `json:"url"`
	Error   string      `json:"error,omitempty"`
	Status  string      `json:"status,omitempty"`
	Version string      `json:"version,omitempty"`
	Pool    *ServerPool `json:"database,omitempty"`
}

// ServerPool is the database object of /health.
type ServerPool struct {
	Status                 string         `json:"status"`
	Connectivity           string         `json:"connectivity"`
	PingMS                 *float64       `json:"ping_ms"`
	PoolSize               int            `json:"pool_size"`
	PoolFree               int            `json:"pool_free"`
	PoolUsed               int            `json:"pool_used"`
	PoolMax                int            `json:"pool_max"`
	PoolUtilizationPercent float64        `json:"pool_utilization_percent"`
	WaitCount              int64          `json:"wait_count"`
	WaitDurationMS         float64        `json:"wait_duration_ms"`
	MaxIdleClosed          int64          `json:"max_idle_closed"`
	MaxIdleTimeClosed      int64          `json:"max_idle_time_closed"`
	MaxLifetimeClosed      int64          `json:"max_lifetime_closed"`
	Capacity               *capacity.Plan `json:"capacity,omitempty"`
}

// FetchServer reads baseURL/health with the API key (/health answers only
// its status without one). A failure is recorded in the result's Error,
// with the reason, not returned: the database report stands without it.
func FetchServer(ctx context.Context, client *http.Client, baseURL, apiKey string) *ServerHealth {
	h := &ServerHealth{URL: strings.TrimSuffix(baseURL, "/") + "/health"}
	fail := func(format string, args ...any) *ServerHealth {
		h.Error = fmt.Sprintf(format, args...)
		return h
	}
	// /health answers within 2 s by contract; allow for the network.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return fail("bad server URL: %v", err)
	}
	if apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fail("%v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fail("read /health: %v", err)
	}
	var doc struct {
		Status   string      `json:"status"`
		Version  string      `json:"version"`
		Database *ServerPool `json:"database"`
	}
	// A 503 carries the report too (status unhealthy).
	if err := json.Unmarshal(body, &doc); err != nil || doc.Status == "" {
		return fail("/health answered %s without a health report", resp.Status)
	}
	h.Status, h.Version, h.Pool = doc.Status, doc.Version, doc.Database
	return h
}

// AddServer puts the server's view into the report and assesses it again.
func (r *Report) AddServer(h *ServerHealth) {
	r.Server = h
	r.Assess()
}

func (h *ServerHealth) issues() []Issue {
	const section = SectionServer
	switch {
	case h.Error != "":
		return []Issue{{Warning, section, "cannot read Waybill's /health at " + h.URL + ": " + h.Error,
			"check that Waybill runs and that --server names its HTTP_ADDR"}}
	case h.Pool == nil:
		return []Issue{{Warning, section, fmt.Sprintf("Waybill's /health answered only its status (%s): the API key was missing or not accepted", h.Status),
			"pass a valid key with --api-key or WAYBILL_API_KEY (read scope is enough)"}}
	}
	var is []Issue
	switch h.Status {
	case "healthy":
	case "unhealthy":
		is = append(is, Issue{Critical, section, "Waybill reports itself unhealthy: it cannot reach the database (connectivity " + h.Pool.Connectivity + ")",
			"check DATABASE_URL, the network, and pg_isready on the server Waybill uses"})
	default:
		msg := "Waybill reports itself " + h.Status + " (database " + h.Pool.Status + ")"
		rec := "see docs/monitoring.md, /health"
		if h.Pool.WaitCount > 0 {
			msg += fmt.Sprintf("; %d requests waited %s in total for a pool connection", h.Pool.WaitCount, FormatDuration(h.Pool.WaitDurationMS/1000))
			rec = fmt.Sprintf("the pool of %d is saturated (%d in use): look for slow queries, or raise DB_MAX_OPEN_CONNS within the capacity plan", h.Pool.PoolMax, h.Pool.PoolUsed)
		}
		is = append(is, Issue{Warning, section, msg, rec})
	}
	return is
}

// ParseSize reads a size such as "1MB", "100kB", "1.5 GB" or "4096"
// (bytes), with PostgreSQL's 1024-based units B, kB, MB, GB and TB (any
// case).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') && t[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.ToLower(strings.TrimSpace(t[i:]))
	mult := map[string]float64{"": 1, "b": 1, "bytes": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40}[unit]
	f, err := strconv.ParseFloat(num, 64)
	if mult == 0 || err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 1MB, 100kB, 4096)", s)
	}
	return int64(f * mult), nil
}
