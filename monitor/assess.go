package monitor

import (
	"fmt"
	"sort"
	"strings"

	"github.com/waybill/waybill/models"
)

// Assess rebuilds r.Issues from the report's figures and sets r.Status to
// the worst severity among them. Collect and AddServer call it.
func (r *Report) Assess() {
	var is []Issue
	is = append(is, connectionIssues(r.Conns)...)
	is = append(is, capacityIssues(r)...)
	is = append(is, longQueryIssues(r.LongQueries)...)
	is = append(is, idleIssues(r.IdleInTransaction)...)
	is = append(is, indexIssues(r.UnusedIndexes)...)
	is = append(is, cacheIssues(r.Cache)...)
	if s := r.Server; s != nil {
		is = append(is, s.issues()...)
	}
	if b := r.PgBouncer; b != nil {
		is = append(is, bouncerIssues(*b)...)
	}
	is = append(is, replicaIssues(r.Replicas)...)

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

func connectionIssues(c Connections) []Issue {
	// An empty status means "not measured" (a hand-built Report).
	sev := worst(c.UtilizationStatus, c.AvailableStatus)
	if rank(sev) == 0 {
		return nil
	}
	crit, warn := c.AvailableCriticalBelow, c.AvailableWarnBelow
	return []Issue{{Severity: sev, Section: SectionConnections,
		Message: fmt.Sprintf("%d of %d usable connections in use (%.2f %%; %d active, %d idle, %d idle in transaction); %d left (warning below %s, critical below %s)",
			c.Total, c.Usable, c.UtilizationPercent, c.Active, c.Idle, c.IdleInTransaction, c.Available, trimFloat(warn), trimFloat(crit)),
		Recommendation: fmt.Sprintf("%d connections left: end idle sessions or lower the pools, or raise max_connections to at least %d (for %d connections at %d %%)",
			c.Available, minMaxConnections(c.Total, c.Reserved), c.Total, utilizationWarnPercent)}}
}

func capacityIssues(r *Report) []Issue {
	p := r.Capacity
	if rank(p.Status) == 0 {
		return nil
	}
	return []Issue{{Severity: p.Status, Section: SectionCapacity,
		Message:        fmt.Sprintf("planned %d connections (%d instance(s)) are %.2f %% of the usable ones", p.PlannedAppConnections, p.AppInstances, p.PlannedUtilizationPercent),
		Recommendation: p.Recommendation}}
}

// bouncerWaitCritical is how long a client may wait in PgBouncer for a
// server connection before the wait is critical rather than a warning.
const bouncerWaitCritical = 5.0 // seconds

// bouncerIssues reports the PgBouncer pools whose clients wait for a
// server connection: a warning, critical once the oldest has waited
// bouncerWaitCritical.
func bouncerIssues(b models.Bouncer) []Issue {
	var is []Issue
	for _, p := range b.Pools {
		if p.ClWaiting == 0 {
			continue
		}
		sev := Warning
		if p.MaxWaitSeconds >= bouncerWaitCritical {
			sev = Critical
		}
		is = append(is, Issue{Severity: sev, Section: SectionPgBouncer,
			Message: fmt.Sprintf("%d client(s) of pool %s/%s wait for a server connection (the oldest for %s; %d active, %d idle server connections)",
				p.ClWaiting, p.Database, p.User, FormatDuration(p.MaxWaitSeconds), p.SvActive, p.SvIdle),
			Recommendation: fmt.Sprintf("every server connection of the pool is busy: look for long transactions (above), or raise default_pool_size (now %d) if the capacity plan leaves room",
				b.DefaultPoolSize)})
	}
	return is
}

// replicaIssues reports the read replicas that do not serve reads: a
// replica down is critical, one lagging a warning (Waybill reads from the
// primary meanwhile).
func replicaIssues(rs []models.ReplicaStatus) []Issue {
	var is []Issue
	for _, r := range rs {
		switch r.Status {
		case models.ReplicaDown:
			is = append(is, Issue{Severity: Critical, Section: SectionReplicas,
				Message:        fmt.Sprintf("read replica %d (%s) is down: %s; its reads go to the primary", r.Index, r.Addr, r.Reason),
				Recommendation: "check that the replica runs and streams from the primary (pg_stat_wal_receiver on it, pg_stat_replication on the primary)"})
		case models.ReplicaLagging:
			is = append(is, Issue{Severity: Warning, Section: SectionReplicas,
				Message:        fmt.Sprintf("read replica %d (%s) lags: %s; its reads go to the primary", r.Index, r.Addr, r.Reason),
				Recommendation: "check whether its replay is paused (pg_is_wal_replay_paused()) or conflicts with long queries on it, and its disk and network"})
		}
	}
	return is
}

func longQueryIssues(qs []LongQuery) []Issue {
	var is []Issue
	for _, q := range qs {
		if strings.HasPrefix(q.State, "idle in transaction") {
			continue // reported as idle in transaction
		}
		d := FormatDuration(q.DurationSeconds)
		is = append(is, Issue{Severity: Warning, Section: SectionLongQueries,
			Message:        fmt.Sprintf("pid %d (%s) has run a query for %s: %q", q.PID, q.Database, d, q.Query),
			Recommendation: fmt.Sprintf("pg_cancel_backend(%d) cancels the query running for %s; pg_terminate_backend(%d) ends its session", q.PID, d, q.PID)})
	}
	return is
}

func idleIssues(ss []IdleSession) []Issue {
	var is []Issue
	for _, s := range ss {
		d := FormatDuration(s.DurationSeconds)
		is = append(is, Issue{Severity: Warning, Section: SectionIdleTx,
			Message:        fmt.Sprintf("pid %d (user %s, application %q, database %s) is idle in transaction for %s, holding its locks and its snapshot", s.PID, s.User, s.ApplicationName, s.Database, d),
			Recommendation: fmt.Sprintf("pg_terminate_backend(%d) ends the session idle in transaction for %s; make the application commit or roll back, or set idle_in_transaction_session_timeout", s.PID, d)})
	}
	return is
}

func indexIssues(xs []Index) []Issue {
	var is []Issue
	for _, x := range xs {
		name := QuoteIdent(x.Schema) + "." + QuoteIdent(x.Name)
		is = append(is, Issue{Severity: Warning, Section: SectionIndexes,
			Message:        fmt.Sprintf("index %s on %s.%s (%s) has never been scanned since the statistics were reset", name, QuoteIdent(x.Schema), QuoteIdent(x.Table), x.Size.Pretty),
			Recommendation: fmt.Sprintf("DROP INDEX CONCURRENTLY %s frees %s (check first that no replica or rare report uses it)", name, x.Size.Pretty)})
	}
	return is
}

func cacheIssues(c CacheRatios) []Issue {
	var is []Issue
	for _, k := range []struct {
		name string
		c    CacheRatio
	}{{"table", c.Tables}, {"index", c.Indexes}} {
		if k.c.Status == OK || k.c.Percent == nil {
			continue
		}
		is = append(is, Issue{Severity: Warning, Section: SectionCache,
			Message: fmt.Sprintf("%s cache hit ratio %.2f %% is below %d %% (%d blocks from cache, %d read)", k.name, *k.c.Percent, cacheWarnPercent, k.c.HitBlocks, k.c.ReadBlocks),
			Recommendation: fmt.Sprintf("%d of %d %s blocks came from disk or the OS cache: raise shared_buffers (now %s) toward 25 %% of RAM, or look for sequential scans of large tables",
				k.c.ReadBlocks, k.c.HitBlocks+k.c.ReadBlocks, k.name, c.SharedBuffers)})
	}
	return is
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
