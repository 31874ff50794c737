// Package monitor builds the database monitoring report
// (docs/monitoring.md; the predecessor's scripts/monitor-database.sh, done
// right): connection statistics, the pool capacity plan, long-running queries, sessions idle in
// transaction, sizes, unused indexes, the cache hit ratio and a health
// summary whose recommendations carry the numbers to act on. It renders the
// report as text or JSON; the waybill monitor command wires it up.
package monitor

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strings"
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
	Issues        []Issue       `json:"issues"`
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
)

// Collect gathers the report from the server db is connected to. It runs
// its queries one after another, so a *sql.DB limited to one connection
// (as waybill monitor opens) costs the server one connection; activity
// lists leave out the session running them. Any query failing fails
// Collect, naming the section.
func Collect(ctx context.Context, db *sql.DB, opts Options) (Report, error) {
	opts = opts.withDefaults()
	r := Report{Thresholds: thresholds(opts)}

	srv, err := models.ReadServerConnections(ctx, db)
	if err != nil {
		return Report{}, err
	}
	r.Capacity = capacity.NewPlan(srv, opts.AppInstances, opts.PoolMax)

	a, err := models.ReadActivity(ctx, db)
	if err != nil {
		return Report{}, fmt.Errorf("connection statistics: %w", err)
	}
	r.Timestamp, r.Database = a.Now.UTC(), a.Database
	r.Conns = rateConnections(Connections{MaxConnections: srv.MaxConnections, Reserved: srv.ReservedTotal(), Usable: srv.Usable(),
		Total: a.Total, Active: a.Active, Idle: a.Idle, IdleInTransaction: a.IdleInTransaction})

	if r.LongQueries, err = longQueries(ctx, db, opts.LongQuery); err != nil {
		return Report{}, fmt.Errorf("long-running queries: %w", err)
	}
	if r.IdleInTransaction, err = idleSessions(ctx, db, opts.IdleTx); err != nil {
		return Report{}, fmt.Errorf("sessions idle in transaction: %w", err)
	}
	dbSize, err := models.DatabaseSize(ctx, db)
	if err != nil {
		return Report{}, fmt.Errorf("database size: %w", err)
	}
	r.DatabaseSize = NewSize(dbSize)
	if r.LargestTables, err = largestTables(ctx, db); err != nil {
		return Report{}, fmt.Errorf("largest tables: %w", err)
	}
	if r.UnusedIndexes, err = unusedIndexes(ctx, db, opts.UnusedIndexMin); err != nil {
		return Report{}, fmt.Errorf("unused indexes: %w", err)
	}
	if r.Cache, err = cacheRatios(ctx, db); err != nil {
		return Report{}, fmt.Errorf("cache hit ratio: %w", err)
	}
	r.Assess()
	return r, nil
}

func thresholds(o Options) Thresholds {
	return Thresholds{
		LongQuerySeconds:       o.LongQuery.Seconds(),
		IdleTxSeconds:          o.IdleTx.Seconds(),
		UnusedIndexMinBytes:    o.UnusedIndexMin,
		UnusedIndexMinPretty:   PrettySize(o.UnusedIndexMin),
		UtilizationWarnPercent: utilizationWarnPercent,
		UtilizationCritPercent: utilizationCriticalPercent,
		CacheWarnPercent:       cacheWarnPercent,
		CacheMinBlocks:         cacheMinBlocks,
	}
}

// rateConnections fills in the derived figures and statuses of c.
func rateConnections(c Connections) Connections {
	c.Available = c.Usable - c.Total
	c.UtilizationStatus, c.AvailableStatus = Critical, Critical
	if c.Usable <= 0 {
		return c
	}
	c.UtilizationPercent = round2(float64(c.Total) / float64(c.Usable) * 100)
	switch {
	case c.UtilizationPercent < utilizationWarnPercent:
		c.UtilizationStatus = OK
	case c.UtilizationPercent <= utilizationCriticalPercent:
		c.UtilizationStatus = Warning
	}
	crit, warn := AvailableThresholds(c.Usable)
	c.AvailableCriticalBelow, c.AvailableWarnBelow = crit, warn
	switch {
	case float64(c.Available) >= warn:
		c.AvailableStatus = OK
	case float64(c.Available) >= crit:
		c.AvailableStatus = Warning
	}
	return c
}

// AvailableThresholds returns how few available connections are critical
// and a warning on a server with usable connections: 20 and 50 from 100
// usable connections up, 20 % and 50 % of usable below.
func AvailableThresholds(usable int) (critical, warning float64) {
	if usable >= absoluteAvailableFrom {
		return availableCritical, availableWarn
	}
	return float64(usable) * availableCritical / absoluteAvailableFrom,
		float64(usable) * availableWarn / absoluteAvailableFrom
}

func longQueries(ctx context.Context, db *sql.DB, over time.Duration) ([]LongQuery, error) {
	rs, err := models.LongQueries(ctx, db, over, queryPrefixLen, topLongQueries)
	qs := make([]LongQuery, len(rs))
	for i, q := range rs {
		qs[i] = LongQuery{PID: q.PID, Database: q.Database, DurationSeconds: round2(q.Seconds), State: q.State, Query: q.Query}
	}
	return qs, err
}

func idleSessions(ctx context.Context, db *sql.DB, over time.Duration) ([]IdleSession, error) {
	rs, err := models.IdleSessions(ctx, db, over)
	ss := make([]IdleSession, len(rs))
	for i, s := range rs {
		ss[i] = IdleSession{PID: s.PID, Database: s.Database, DurationSeconds: round2(s.Seconds), User: s.User, ApplicationName: s.ApplicationName}
	}
	return ss, err
}

func largestTables(ctx context.Context, db *sql.DB) ([]Table, error) {
	rs, err := models.LargestTables(ctx, db, topTables)
	ts := make([]Table, len(rs))
	for i, t := range rs {
		ts[i] = Table{Schema: t.Schema, Name: t.Table, Size: NewSize(t.Bytes)}
	}
	return ts, err
}

// unusedIndexes lists the indexes models.UnusedIndexes finds.
func unusedIndexes(ctx context.Context, db *sql.DB, min int64) ([]Index, error) {
	rs, err := models.UnusedIndexes(ctx, db, min)
	is := make([]Index, len(rs))
	for i, x := range rs {
		is[i] = Index{Schema: x.Schema, Table: x.Table, Name: x.Index, Size: NewSize(x.Bytes)}
	}
	return is, err
}

func cacheRatios(ctx context.Context, db *sql.DB) (CacheRatios, error) {
	c, err := models.ReadCacheCounters(ctx, db)
	if err != nil {
		return CacheRatios{}, err
	}
	return CacheRatios{
		Tables:        rateCache(CacheRatio{HitBlocks: c.TableHits, ReadBlocks: c.TableReads}),
		Indexes:       rateCache(CacheRatio{HitBlocks: c.IndexHits, ReadBlocks: c.IndexReads}),
		SharedBuffers: c.SharedBuffers,
	}, nil
}

func rateCache(c CacheRatio) CacheRatio {
	c.Status = OK
	total := c.HitBlocks + c.ReadBlocks
	if total == 0 {
		c.Percent = nil
		return c
	}
	p := round2(float64(c.HitBlocks) / float64(total) * 100)
	c.Percent = &p
	if total >= cacheMinBlocks && p < cacheWarnPercent {
		c.Status = Warning
	}
	return c
}

// Assess rebuilds r.Issues from the report's figures and sets r.Status to
// the worst severity among them. Collect and AddServer call it.
func (r *Report) Assess() {
	var is []Issue
	add := func(sev, section, msg, rec string) {
		is = append(is, Issue{Severity: sev, Section: section, Message: msg, Recommendation: rec})
	}

	c := r.Conns
	// An empty status means "not measured" (a hand-built Report).
	if sev := worst(c.UtilizationStatus, c.AvailableStatus); rank(sev) > 0 {
		crit, warn := c.AvailableCriticalBelow, c.AvailableWarnBelow
		add(sev, SectionConnections,
			fmt.Sprintf("%d of %d usable connections in use (%.2f %%; %d active, %d idle, %d idle in transaction); %d left (warning below %s, critical below %s)",
				c.Total, c.Usable, c.UtilizationPercent, c.Active, c.Idle, c.IdleInTransaction, c.Available, trimFloat(warn), trimFloat(crit)),
			fmt.Sprintf("%d connections left: end idle sessions or lower the pools, or raise max_connections to at least %d (for %d connections at %d %%)",
				c.Available, minMaxConnections(c.Total, c.Reserved), c.Total, utilizationWarnPercent))
	}

	if p := r.Capacity; rank(p.Status) > 0 {
		add(p.Status, SectionCapacity,
			fmt.Sprintf("planned %d connections (%d instance(s)) are %.2f %% of the usable ones", p.PlannedAppConnections, p.AppInstances, p.PlannedUtilizationPercent),
			p.Recommendation)
	}

	for _, q := range r.LongQueries {
		if strings.HasPrefix(q.State, "idle in transaction") {
			continue // reported as idle in transaction below
		}
		d := FormatDuration(q.DurationSeconds)
		add(Warning, SectionLongQueries,
			fmt.Sprintf("pid %d (%s) has run a query for %s: %q", q.PID, q.Database, d, q.Query),
			fmt.Sprintf("pg_cancel_backend(%d) cancels the query running for %s; pg_terminate_backend(%d) ends its session", q.PID, d, q.PID))
	}

	for _, s := range r.IdleInTransaction {
		d := FormatDuration(s.DurationSeconds)
		add(Warning, SectionIdleTx,
			fmt.Sprintf("pid %d (user %s, application %q, database %s) is idle in transaction for %s, holding its locks and its snapshot", s.PID, s.User, s.ApplicationName, s.Database, d),
			fmt.Sprintf("pg_terminate_backend(%d) ends the session idle in transaction for %s; make the application commit or roll back, or set idle_in_transaction_session_timeout", s.PID, d))
	}

	for _, x := range r.UnusedIndexes {
		name := QuoteIdent(x.Schema) + "." + QuoteIdent(x.Name)
		add(Warning, SectionIndexes,
			fmt.Sprintf("index %s on %s.%s (%s) has never been scanned since the statistics were reset", name, QuoteIdent(x.Schema), QuoteIdent(x.Table), x.Size.Pretty),
			fmt.Sprintf("DROP INDEX CONCURRENTLY %s frees %s (check first that no replica or rare report uses it)", name, x.Size.Pretty))
	}

	for _, k := range []struct {
		name string
		c    CacheRatio
	}{{"table", r.Cache.Tables}, {"index", r.Cache.Indexes}} {
		if k.c.Status == OK || k.c.Percent == nil {
			continue
		}
		add(Warning, SectionCache,
			fmt.Sprintf("%s cache hit ratio %.2f %% is below %d %% (%d blocks from cache, %d read)", k.name, *k.c.Percent, cacheWarnPercent, k.c.HitBlocks, k.c.ReadBlocks),
			fmt.Sprintf("%d of %d %s blocks came from disk or the OS cache: raise shared_buffers (now %s) toward 25 %% of RAM, or look for sequential scans of large tables",
				k.c.ReadBlocks, k.c.HitBlocks+k.c.ReadBlocks, k.name, r.Cache.SharedBuffers))
	}

	if s := r.Server; s != nil {
		is = append(is, s.issues()...)
	}

	sort.SliceStable(is, func(i, j int) bool { return rank(is[i].Severity) > rank(is[j].Severity) })
	if is == nil {
		is = []Issue{}
	}
	r.Issues = is
	r.Status = OK
	for _, i := range is {
		r.Status = worst(r.Status, i.Severity)
	}
}

// minMaxConnections is the smallest max_connections under which conns
// connections are at most 60 % of the usable ones.
func minMaxConnections(conns, reserved int) int {
	return (conns*100+utilizationWarnPercent-1)/utilizationWarnPercent + reserved
}

func rank(severity string) int {
	switch severity {
	case OK, "":
		return 0
	case Warning:
		return 1
	default:
		return 2
	}
}

func worst(a, b string) string {
	if rank(b) > rank(a) {
		return b
	}
	return a
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func trimFloat(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0") }

// FormatDuration writes seconds as Go writes a duration, to the second
// ("7m12s"), or to the millisecond below a second.
func FormatDuration(seconds float64) string {
	d := time.Duration(seconds * float64(time.Second))
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// PrettySize writes n bytes with one decimal in 1024-based units, as
// PostgreSQL names them: "512 bytes", "100.0 kB", "2.1 MB".
func PrettySize(n int64) string {
	if n < 1024 && n > -1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	f := float64(n)
	for _, unit := range []string{"kB", "MB", "GB", "TB"} {
		f /= 1024
		if math.Abs(f) < 1024 || unit == "TB" {
			return fmt.Sprintf("%.1f %s", f, unit)
		}
	}
	panic("unreachable")
}

// QuoteIdent quotes a PostgreSQL identifier when it needs quotes (not all
// lower-case letters, digits and underscores).
func QuoteIdent(s string) string {
	plain := s != "" && !(s[0] >= '0' && s[0] <= '9')
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			plain = false
		}
	}
	if plain {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
