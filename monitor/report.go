// Package monitor builds the database monitoring report
// (docs/monitoring.md; the predecessor's scripts/monitor-database.sh, done
// right): connection statistics, the pool capacity plan, long-running queries, sessions idle in
// transaction, sizes, unused indexes, the cache hit ratio and a health
// summary whose recommendations carry the numbers to act on. It renders the
// report as text or JSON; the waybill monitor command wires it up.
package monitor

import (
	"time"

	"github.com/waybill/waybill/capacity"
	"github.com/waybill/waybill/models"
)

// Severities of an Issue, and the statuses of a Report. They are the
// capacity package's, so a plan's status is a severity as it stands.
const (
	OK       = capacity.OK
	Warning  = capacity.Warning
	Critical = capacity.Critical
)

// Thresholds: the predecessor's, and Waybill's where it had none.
const (
	// Connection utilization: ok below 60 %, warning to 80 %, critical above.
	utilizationWarnPercent     = 60
	utilizationCriticalPercent = 80
	// Available connections: critical below 20, warning below 50 when the
	// server has at least absoluteAvailableFrom usable connections; on a
	// smaller server, below 20 % and 50 % of the usable connections, since
	// 20 and 50 would fire on a 30-connection server however idle it is.
	availableCritical     = 20
	availableWarn         = 50
	absoluteAvailableFrom = 100
	// Cache hit ratio: warn below 99 %, but only once at least
	// cacheMinBlocks blocks were looked up, so a freshly started or
	// freshly created database does not warn about its first cold reads.
	cacheWarnPercent = 99
	cacheMinBlocks   = 1000
	// How many long-running queries and tables the report lists.
	topLongQueries = 5
	topTables      = 10
	queryPrefixLen = 50
)

// Options are the report's thresholds and the capacity plan's inputs. The
// zero value of a field means its default (DefaultOptions).
type Options struct {
	// LongQuery: a query running longer is reported (default 30 s).
	LongQuery time.Duration
	// IdleTx: a session idle in transaction longer is reported (default 5 min).
	IdleTx time.Duration
	// UnusedIndexMin: an index never scanned is reported when larger, in
	// bytes (default 1 MB).
	UnusedIndexMin int64
	// AppInstances and PoolMax are APP_INSTANCES and DB_MAX_OPEN_CONNS, for
	// the capacity plan (defaults 1 and 16).
	AppInstances int
	PoolMax      int
	// BouncerAdminURL is PgBouncer's admin console (PGBOUNCER_ADMIN_URL):
	// when set, the report shows its pools and the capacity plan counts
	// its server connections.
	BouncerAdminURL string
	// ReplicaURLs are the read replicas (DATABASE_REPLICA_URLS): the report
	// measures each against the primary, and ReplicaMaxLag
	// (REPLICA_MAX_LAG, 0: no bound) says which lag too much.
	ReplicaURLs   []string
	ReplicaMaxLag time.Duration
}

// DefaultOptions are the predecessor's thresholds and Waybill's defaults.
var DefaultOptions = Options{
	LongQuery:      30 * time.Second,
	IdleTx:         5 * time.Minute,
	UnusedIndexMin: 1 << 20,
	AppInstances:   1,
	PoolMax:        16,
}

func (o Options) withDefaults() Options {
	if o.LongQuery <= 0 {
		o.LongQuery = DefaultOptions.LongQuery
	}
	if o.IdleTx <= 0 {
		o.IdleTx = DefaultOptions.IdleTx
	}
	if o.UnusedIndexMin <= 0 {
		o.UnusedIndexMin = DefaultOptions.UnusedIndexMin
	}
	if o.AppInstances <= 0 {
		o.AppInstances = DefaultOptions.AppInstances
	}
	if o.PoolMax <= 0 {
		o.PoolMax = DefaultOptions.PoolMax
	}
	return o
}

// Report is everything waybill monitor shows. Durations are in seconds and
// sizes in bytes (with a pretty form beside), so the JSON needs no parsing.
type Report struct {
	Status     string        `json:"status"`
	Timestamp  time.Time     `json:"timestamp"`
	Database   string        `json:"database"`
	Thresholds Thresholds    `json:"thresholds"`
	Conns      Connections   `json:"connections"`
	Capacity   capacity.Plan `json:"capacity"`
	// LongQueries are the longest-running statements, server-wide, longest
	// first, at most five.
	LongQueries []LongQuery `json:"long_running_queries"`
	// IdleInTransaction are the sessions idle in transaction, server-wide,
	// longest first.
	IdleInTransaction []IdleSession `json:"idle_in_transaction"`
	DatabaseSize      Size          `json:"database_size"`
	// LargestTables are the current database's ten largest tables by
	// pg_total_relation_size (heap, indexes and TOAST).
	LargestTables []Table       `json:"largest_tables"`
	UnusedIndexes []Index       `json:"unused_indexes"`
	Cache         CacheRatios   `json:"cache_hit_ratio"`
	Server        *ServerHealth `json:"waybill_pool,omitempty"`
	// PgBouncer is what its admin console reported, with
	// Options.BouncerAdminURL.
	PgBouncer *models.Bouncer `json:"pgbouncer,omitempty"`
	// Replicas are the read replicas' measurements, with
	// Options.ReplicaURLs.
	Replicas []models.ReplicaStatus `json:"replicas,omitempty"`
	Issues   []Issue                `json:"issues"`
}

// Thresholds are the Options the report was made with.
type Thresholds struct {
	LongQuerySeconds       float64 `json:"long_query_seconds"`
	IdleTxSeconds          float64 `json:"idle_tx_seconds"`
	UnusedIndexMinBytes    int64   `json:"unused_index_min_bytes"`
	UnusedIndexMinPretty   string  `json:"unused_index_min_pretty"`
	UtilizationWarnPercent float64 `json:"utilization_warning_percent"`
	UtilizationCritPercent float64 `json:"utilization_critical_percent"`
	CacheWarnPercent       float64 `json:"cache_warning_percent"`
	CacheMinBlocks         int64   `json:"cache_min_blocks"`
	// ReplicaMaxLagSeconds is Options.ReplicaMaxLag, when there are
	// replicas.
	ReplicaMaxLagSeconds float64 `json:"replica_max_lag_seconds,omitempty"`
}

// Connections are the server's client connections, server-wide.
type Connections struct {
	MaxConnections int `json:"max_connections"`
	// Reserved is superuser_reserved_connections plus reserved_connections.
	Reserved          int `json:"reserved_connections"`
	Usable            int `json:"usable_connections"`
	Total             int `json:"total"`
	Active            int `json:"active"`
	Idle              int `json:"idle"`
	IdleInTransaction int `json:"idle_in_transaction"`
	// Available is Usable − Total (negative when superusers use the
	// reserved ones).
	Available int `json:"available"`
	// UtilizationPercent is Total ÷ Usable × 100, two decimals.
	UtilizationPercent float64 `json:"utilization_percent"`
	UtilizationStatus  string  `json:"utilization_status"`
	// AvailableWarnBelow and AvailableCriticalBelow are the thresholds for
	// this server's Usable (AvailableThresholds).
	AvailableWarnBelow     float64 `json:"available_warning_below"`
	AvailableCriticalBelow float64 `json:"available_critical_below"`
	AvailableStatus        string  `json:"available_status"`
}

// LongQuery is a statement running longer than Options.LongQuery.
type LongQuery struct {
	PID             int     `json:"pid"`
	Database        string  `json:"database"`
	DurationSeconds float64 `json:"duration_seconds"`
	State           string  `json:"state"`
	// Query is the first 50 characters of the statement.
	Query string `json:"query"`
}

// IdleSession is a session idle in transaction longer than Options.IdleTx;
// the duration counts from its last statement.
type IdleSession struct {
	PID             int     `json:"pid"`
	Database        string  `json:"database"`
	DurationSeconds float64 `json:"duration_seconds"`
	User            string  `json:"user"`
	ApplicationName string  `json:"application_name"`
}

// Size is a size in bytes and its pretty form.
type Size struct {
	Bytes  int64  `json:"bytes"`
	Pretty string `json:"pretty"`
}

// NewSize returns n bytes with its pretty form.
func NewSize(n int64) Size { return Size{Bytes: n, Pretty: PrettySize(n)} }

// Table is one of the largest tables.
type Table struct {
	Schema string `json:"schema"`
	Name   string `json:"table"`
	Size   Size   `json:"total_size"`
}

// Index is an index that was never scanned.
type Index struct {
	Schema string `json:"schema"`
	Table  string `json:"table"`
	Name   string `json:"index"`
	Size   Size   `json:"size"`
}

// CacheRatios are the buffer cache hit ratios since the statistics were
// last reset.
type CacheRatios struct {
	Tables  CacheRatio `json:"tables"`
	Indexes CacheRatio `json:"indexes"`
	// SharedBuffers is the server's shared_buffers setting, e.g. "128MB".
	SharedBuffers string `json:"shared_buffers"`
}

// CacheRatio is hit ÷ (hit + read) × 100; Percent is nil before any block
// was looked up.
type CacheRatio struct {
	HitBlocks  int64    `json:"hit_blocks"`
	ReadBlocks int64    `json:"read_blocks"`
	Percent    *float64 `json:"ratio_percent"`
	Status     string   `json:"status"`
}

// Issue is one finding of the health summary.
type Issue struct {
	Severity       string `json:"severity"`
	Section        string `json:"section"`
	Message        string `json:"message"`
	Recommendation string `json:"recommendation"`
}

// Sections, as Issue.Section names them.
const (
	SectionConnections = "connections"
	SectionCapacity    = "capacity"
	SectionLongQueries = "long_running_queries"
	SectionIdleTx      = "idle_in_transaction"
	SectionIndexes     = "unused_indexes"
	SectionCache       = "cache_hit_ratio"
	SectionServer      = "waybill_pool"
	SectionPgBouncer   = "pgbouncer"
	SectionReplicas    = "replicas"
)
