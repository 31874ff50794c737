package monitor

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/waybill/waybill/capacity"
	"github.com/waybill/waybill/models"
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
	if opts.BouncerAdminURL != "" {
		b, err := models.ReadBouncer(ctx, opts.BouncerAdminURL)
		if err != nil {
			return Report{}, fmt.Errorf("PgBouncer pools: %w", err)
		}
		r.PgBouncer = &b
		r.Capacity = capacity.NewBouncerPlan(srv, opts.AppInstances, b)
	}

	for i, u := range opts.ReplicaURLs {
		st := models.ReadReplica(ctx, db, u, opts.ReplicaMaxLag)
		st.Index = i
		r.Replicas = append(r.Replicas, st)
	}

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
		ReplicaMaxLagSeconds:   o.ReplicaMaxLag.Seconds(),
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
