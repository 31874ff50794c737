// Package metrics exposes Waybill's Prometheus metrics: the database pools
// (one db_name per pool), the HTTP requests and their latency, the
// connection capacity plan, readiness and build information, served in the
// Prometheus text format by [Metrics.Handler].
//
// It imports no package of the project; the application creates one
// [Metrics] with [New], reports to it, and mounts its handler at /metrics.
//
// The families, besides the Go runtime's go_* and the process's process_*:
//
//	waybill_build_info{version,goversion}                  gauge, always 1
//	waybill_ready                                          gauge, 1 ready, 0 not
//	waybill_http_requests_total{method,route,status}       counter
//	waybill_http_request_duration_seconds{method,route}    histogram
//	waybill_db_capacity_server_max_connections             gauge
//	waybill_db_capacity_reserved_connections               gauge
//	waybill_db_capacity_server_connections                 gauge
//	waybill_db_capacity_app_instances                      gauge
//	waybill_db_capacity_planned_app_connections            gauge
//	waybill_db_capacity_planned_utilization_percent        gauge
//	waybill_db_capacity_status{status}                     gauge, 1 for the current status
//	waybill_db_replica_healthy{replica,addr}               gauge, 1 while the read replica serves reads
//	waybill_db_replica_lag_bytes{replica,addr}             gauge
//	waybill_db_replica_lag_seconds{replica,addr}           gauge
//	waybill_db_replica_reads_total{replica,addr}           counter
//	go_sql_max_open_connections{db_name}                   gauge   (one set per pool)
//	go_sql_open_connections{db_name}                       gauge
//	go_sql_in_use_connections{db_name}                     gauge
//	go_sql_idle_connections{db_name}                       gauge
//	go_sql_wait_count_total{db_name}                       counter
//	go_sql_wait_duration_seconds_total{db_name}            counter
//	go_sql_max_idle_closed_total{db_name}                  counter
//	go_sql_max_idle_time_closed_total{db_name}             counter
//	go_sql_max_lifetime_closed_total{db_name}              counter
//	promhttp_metric_handler_requests_total{code}           counter (scrapes of /metrics)
//	promhttp_metric_handler_requests_in_flight             gauge
//	promhttp_metric_handler_errors_total{cause}            counter
//
// The HTTP labels take a bounded set of values whatever clients send: method
// is GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or "other"; route is a
// route template or "unmatched"; status is a code the server answered.
// The replica labels are an index in DATABASE_REPLICA_URLS and its
// host:port ([Metrics.WatchReplicas]; none without replicas).
//
// deploy/prometheus/alerts.yml and deploy/grafana/ use these names;
// deploytest checks that every name they use is exported here.
package metrics

import (
	"database/sql"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// statuses are the capacity plan's statuses (docs/monitoring.md,
// "Capacity planning"), the values of waybill_db_capacity_status's label;
// exactly one of them is 1 at any time.
var statuses = []string{"ok", "warning", "critical", unknown}

// unknown is the status of a plan not made yet or not understood.
const unknown = "unknown"

// durationBuckets are the upper bounds, in seconds, of
// waybill_http_request_duration_seconds: fine below 10 ms, where a fast API
// answers, and up to 10 s, past the request timeout.
var durationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Capacity is the connection capacity plan (docs/monitoring.md, "Capacity
// planning") as [Metrics.SetCapacity] publishes it.
type Capacity struct {
	ServerMaxConnections      int     // the server's max_connections
	ReservedConnections       int     // superuser_reserved_connections + reserved_connections
	ServerConnections         int     // connections open on the server now (pg_stat_activity)
	AppInstances              int     // APP_INSTANCES
	PlannedAppConnections     int     // instances × (pool max + the health connection + the revocation listener)
	PlannedUtilizationPercent float64 // planned ÷ (max − reserved) × 100
	Status                    string  // ok, warning, critical or unknown
}

// Metrics is Waybill's metric registry. Its methods are safe for concurrent
// use.
type Metrics struct {
	registry *prometheus.Registry
	handler  http.Handler

	ready    prometheus.Gauge
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	serverMax      prometheus.Gauge
	reserved       prometheus.Gauge
	serverConns    prometheus.Gauge
	appInstances   prometheus.Gauge
	plannedConns   prometheus.Gauge
	plannedPercent prometheus.Gauge

	mu     sync.Mutex // held while setting status, so that one status is 1
	status *prometheus.GaugeVec
}

// New returns a registry holding the Go runtime and process collectors,
// waybill_build_info{version,goversion} = 1, one
// collectors.NewDBStatsCollector per entry of pools whose db_name is the
// entry's key ("primary", "health", ...), the HTTP metrics, the capacity
// gauges (status unknown until [Metrics.SetCapacity]) and waybill_ready
// (0 until [Metrics.SetReady]). A nil pool is skipped, so a server without
// a database still serves its other metrics.
func New(version string, pools map[string]*sql.DB) *Metrics {
	reg := prometheus.NewRegistry()
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	m := &Metrics{
		registry: reg,
		ready:    gauge("waybill_ready", "1 when the server is ready for traffic (what /readyz answers 200 for), 0 otherwise."),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waybill_http_requests_total",
			Help: "HTTP requests answered, by method, route template and status code.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "waybill_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method and route template.",
			Buckets: durationBuckets,
		}, []string{"method", "route"}),
		serverMax:      gauge("waybill_db_capacity_server_max_connections", "The database server's max_connections."),
		reserved:       gauge("waybill_db_capacity_reserved_connections", "Connections the server reserves (superuser_reserved_connections + reserved_connections)."),
		serverConns:    gauge("waybill_db_capacity_server_connections", "Connections open on the database server (pg_stat_activity), from every client."),
		appInstances:   gauge("waybill_db_capacity_app_instances", "Waybill processes sharing the database (APP_INSTANCES)."),
		plannedConns:   gauge("waybill_db_capacity_planned_app_connections", "Connections all Waybill instances may open: instances x (pool max + health connection + revocation listener)."),
		plannedPercent: gauge("waybill_db_capacity_planned_utilization_percent", "Planned app connections as a percentage of the usable connections (max - reserved)."),
		status: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "waybill_db_capacity_status",
			Help: "The capacity plan's status: 1 for the current one of ok, warning, critical, unknown; 0 for the others.",
		}, []string{"status"}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "waybill_build_info",
		Help:        "Always 1; the labels name the running build.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	build.Set(1)

	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build, m.ready, m.requests, m.duration,
		m.serverMax, m.reserved, m.serverConns, m.appInstances, m.plannedConns, m.plannedPercent, m.status,
	)
	for name, db := range pools {
		if db != nil {
			reg.MustRegister(collectors.NewDBStatsCollector(db, name))
		}
	}
	m.setStatus(unknown)
	// The promhttp_metric_handler_* families count the scrapes themselves
	// and the errors gathering them.
	m.handler = promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return m
}

// Handler serves the registry in the Prometheus text format (or OpenMetrics
// or protobuf, when the scraper asks for it).
func (m *Metrics) Handler() http.Handler { return m.handler }

// ObserveRequest records one HTTP request in waybill_http_requests_total and
// waybill_http_request_duration_seconds. route must be the route template
// ("/v1/shipments/:id"), or [Unmatched] for a request no route matched —
// never the raw path, which would create a series per id; an empty route
// is recorded as Unmatched. The method is recorded as [MethodLabel] gives
// it, so made-up methods cannot add series.
func (m *Metrics) ObserveRequest(method, route string, status int, elapsed time.Duration) {
	method = MethodLabel(method)
	if route == "" {
		route = Unmatched
	}
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
}

// Unmatched is the route label of every request no route matched (404),
// whatever its path.
const Unmatched = "unmatched"

// methods are the HTTP methods recorded under their own name.
var methods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// MethodLabel returns the method label of a request's method: the method
// itself for GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS, and "other"
// for anything else (CONNECT, TRACE, made-up methods, lower case), which a
// client can invent without limit.
func MethodLabel(method string) string {
	if slices.Contains(methods, method) {
		return method
	}
	return "other"
}

// SetCapacity publishes the connection capacity plan in the
// waybill_db_capacity_* gauges. A Status other than ok, warning or critical
// is published as unknown.
func (m *Metrics) SetCapacity(c Capacity) {
	m.serverMax.Set(float64(c.ServerMaxConnections))
	m.reserved.Set(float64(c.ReservedConnections))
	m.serverConns.Set(float64(c.ServerConnections))
	m.appInstances.Set(float64(c.AppInstances))
	m.plannedConns.Set(float64(c.PlannedAppConnections))
	m.plannedPercent.Set(c.PlannedUtilizationPercent)
	m.setStatus(c.Status)
}

// setStatus sets waybill_db_capacity_status{status=s} to 1 and the other
// statuses to 0.
func (m *Metrics) setStatus(s string) {
	if !slices.Contains(statuses, s) {
		s = unknown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range statuses {
		if v == s {
			m.status.WithLabelValues(v).Set(1)
		} else {
			m.status.WithLabelValues(v).Set(0)
		}
	}
}

// SetReady sets waybill_ready to 1 when ready is true and to 0 otherwise; the
// application calls it with what /readyz would answer.
func (m *Metrics) SetReady(ready bool) {
	if ready {
		m.ready.Set(1)
	} else {
		m.ready.Set(0)
	}
}
