package monitor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// ANSI colours for the statuses.
const (
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	red    = "\x1b[31m"
	bold   = "\x1b[1m"
	reset  = "\x1b[0m"
)

// RenderJSON writes r as one JSON document.
func RenderJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// RenderText writes r for people: a heading per section and aligned
// columns. With color, statuses are green, yellow or red (ANSI); without,
// the text has no escape sequences at all.
func RenderText(w io.Writer, r Report, color bool) error {
	t := &text{w: w, color: color}
	// The first line is what Nagios shows: the status first.
	t.printf("%s: %s, %s (database %s, %s)\n", t.paint(bold, "Waybill database monitor"), t.status(r.Status, strings.ToUpper(r.Status)),
		plural(len(r.Issues), "issue"), r.Database, r.Timestamp.UTC().Format("2006-01-02 15:04:05 UTC"))

	c := r.Conns
	crit, warn := c.AvailableCriticalBelow, c.AvailableWarnBelow
	t.heading("Connection statistics")
	t.kv("max_connections", fmt.Sprintf("%d (%d reserved, %d usable)", c.MaxConnections, c.Reserved, c.Usable))
	t.kv("total", fmt.Sprint(c.Total))
	t.kv("active", fmt.Sprint(c.Active))
	t.kv("idle", fmt.Sprint(c.Idle))
	t.kv("idle in transaction", fmt.Sprint(c.IdleInTransaction))
	t.kv("utilization", t.status(c.UtilizationStatus, fmt.Sprintf("%.2f %%", c.UtilizationPercent))+
		fmt.Sprintf("  (warning from %d %%, critical above %d %%)", utilizationWarnPercent, utilizationCriticalPercent))
	t.kv("available", t.status(c.AvailableStatus, fmt.Sprint(c.Available))+
		fmt.Sprintf("  (warning below %s, critical below %s)", trimFloat(warn), trimFloat(crit)))

	p := r.Capacity
	t.heading("Pool capacity analysis")
	t.kv("app instances", fmt.Sprint(p.AppInstances))
	t.kv("planned connections", fmt.Sprintf("%d of %d usable (%.2f %%)", p.PlannedAppConnections, p.ServerMaxConnections-p.ReservedConnections, p.PlannedUtilizationPercent))
	t.kv("status", t.status(p.Status, p.Status))
	if p.Recommendation != "" {
		t.kv("recommendation", p.Recommendation)
	}
	if b := r.PgBouncer; b != nil {
		t.heading(fmt.Sprintf("PgBouncer pools (default_pool_size %d, reserve_pool_size %d, max_db_connections %d, max_client_conn %d)",
			b.DefaultPoolSize, b.ReservePoolSize, b.MaxDBConnections, b.MaxClientConn))
		t.table(len(b.Pools), "DATABASE\tUSER\tMODE\tCL_ACTIVE\tCL_WAITING\tSV_ACTIVE\tSV_IDLE\tSV_USED\tMAXWAIT", func(i int) string {
			p := b.Pools[i]
			return fmt.Sprintf("%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s", p.Database, p.User, p.PoolMode, p.ClActive, p.ClWaiting,
				p.SvActive, p.SvIdle, p.SvUsed, FormatDuration(p.MaxWaitSeconds))
		})
	}

	if len(r.Replicas) > 0 {
		maxLag := "none"
		if r.Thresholds.ReplicaMaxLagSeconds > 0 {
			maxLag = FormatDuration(r.Thresholds.ReplicaMaxLagSeconds)
		}
		t.heading(fmt.Sprintf("Read replicas (maximum lag %s)", maxLag))
		t.table(len(r.Replicas), "#\tADDRESS\tSTATUS\tREPLAY LSN\tLAG BYTES\tLAG\tREASON", func(i int) string {
			p := r.Replicas[i]
			bytes, secs := "-", "-"
			if p.LagBytes != nil {
				bytes = PrettySize(*p.LagBytes)
			}
			if p.LagSeconds != nil {
				secs = FormatDuration(*p.LagSeconds)
			}
			return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s", p.Index, p.Addr, p.Status, p.ReplayLSN, bytes, secs, p.Reason)
		})
	}

	t.heading(fmt.Sprintf("Long-running queries (over %s, top %d)", FormatDuration(r.Thresholds.LongQuerySeconds), topLongQueries))
	t.table(len(r.LongQueries), "PID\tDATABASE\tDURATION\tSTATE\tQUERY", func(i int) string {
		q := r.LongQueries[i]
		return fmt.Sprintf("%d\t%s\t%s\t%s\t%s", q.PID, q.Database, FormatDuration(q.DurationSeconds), q.State, oneLine(q.Query))
	})

	t.heading(fmt.Sprintf("Sessions idle in transaction (over %s)", FormatDuration(r.Thresholds.IdleTxSeconds)))
	t.table(len(r.IdleInTransaction), "PID\tDATABASE\tDURATION\tUSER\tAPPLICATION", func(i int) string {
		s := r.IdleInTransaction[i]
		return fmt.Sprintf("%d\t%s\t%s\t%s\t%s", s.PID, s.Database, FormatDuration(s.DurationSeconds), s.User, s.ApplicationName)
	})

	t.heading("Database size")
	t.kv(r.Database, fmt.Sprintf("%s (%d bytes)", r.DatabaseSize.Pretty, r.DatabaseSize.Bytes))

	t.heading(fmt.Sprintf("Largest tables (top %d)", topTables))
	t.table(len(r.LargestTables), "TABLE\tTOTAL SIZE", func(i int) string {
		x := r.LargestTables[i]
		return fmt.Sprintf("%s.%s\t%s", x.Schema, x.Name, x.Size.Pretty)
	})

	t.heading(fmt.Sprintf("Unused indexes (never scanned, over %s)", r.Thresholds.UnusedIndexMinPretty))
	t.table(len(r.UnusedIndexes), "SCHEMA\tTABLE\tINDEX\tSIZE", func(i int) string {
		x := r.UnusedIndexes[i]
		return fmt.Sprintf("%s\t%s\t%s\t%s", x.Schema, x.Table, x.Name, x.Size.Pretty)
	})

	t.heading(fmt.Sprintf("Cache hit ratio (warning below %d %% from %d blocks)", cacheWarnPercent, cacheMinBlocks))
	t.kv("tables", t.ratio(r.Cache.Tables))
	t.kv("indexes", t.ratio(r.Cache.Indexes))
	t.kv("shared_buffers", r.Cache.SharedBuffers)

	if s := r.Server; s != nil {
		t.heading("Waybill pool (from /health)")
		t.kv("server", s.URL)
		switch {
		case s.Error != "":
			t.kv("error", t.paint(yellow, s.Error))
		case s.Pool == nil:
			t.kv("status", s.Status+" (no pool figures without a valid API key)")
		default:
			d := s.Pool
			st := map[string]string{"healthy": OK, "degraded": Warning}[s.Status]
			if st == "" {
				st = Critical
			}
			t.kv("status", t.status(st, s.Status)+"  (database "+d.Status+", "+d.Connectivity+")")
			if s.Version != "" {
				t.kv("version", s.Version)
			}
			ping := "n/a"
			if d.PingMS != nil {
				ping = fmt.Sprintf("%.2f ms", *d.PingMS)
			}
			t.kv("ping", ping)
			t.kv("pool", fmt.Sprintf("%d open, %d in use, %d idle, max %d (%.2f %% used)", d.PoolSize, d.PoolUsed, d.PoolFree, d.PoolMax, d.PoolUtilizationPercent))
			t.kv("waits", fmt.Sprintf("%d, %s in total", d.WaitCount, FormatDuration(d.WaitDurationMS/1000)))
			t.kv("closed", fmt.Sprintf("%d max idle, %d max idle time, %d max lifetime", d.MaxIdleClosed, d.MaxIdleTimeClosed, d.MaxLifetimeClosed))
			if d.Capacity != nil {
				t.kv("capacity", fmt.Sprintf("%s: %d instance(s), %d planned connections (%.2f %%)",
					t.status(d.Capacity.Status, d.Capacity.Status), d.Capacity.AppInstances, d.Capacity.PlannedAppConnections, d.Capacity.PlannedUtilizationPercent))
			}
		}
	}

	t.heading("Health summary")
	if len(r.Issues) == 0 {
		t.printf("  %s\n", t.status(OK, "all clear"))
	}
	for _, i := range r.Issues {
		t.printf("  %s %s: %s\n", t.status(i.Severity, fmt.Sprintf("%-8s", strings.ToUpper(i.Severity))), i.Section, i.Message)
		if i.Recommendation != "" {
			t.printf("  %8s → %s\n", "", i.Recommendation)
		}
	}
	return t.err
}

// text writes a report, remembering the first error.
type text struct {
	w     io.Writer
	color bool
	err   error
}

func (t *text) printf(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, args...)
	}
}

func (t *text) heading(s string) { t.printf("\n%s\n", t.paint(bold, s)) }

// kv writes a labelled value. Colour may only appear in the value: the
// label is padded before any escape sequence.
func (t *text) kv(label, value string) { t.printf("  %-21s %s\n", label, value) }

// table writes n rows under header, aligned, or "(none)".
func (t *text) table(n int, header string, row func(i int) string) {
	if n == 0 {
		t.printf("  (none)\n")
		return
	}
	tw := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  "+header)
	for i := 0; i < n; i++ {
		fmt.Fprintln(tw, "  "+row(i))
	}
	if err := tw.Flush(); err != nil && t.err == nil {
		t.err = err
	}
}

func (t *text) ratio(c CacheRatio) string {
	if c.Percent == nil {
		return "n/a (no blocks looked up yet)"
	}
	return t.status(c.Status, fmt.Sprintf("%.2f %%", *c.Percent)) + fmt.Sprintf("  (%d from cache, %d read)", c.HitBlocks, c.ReadBlocks)
}

// status paints s in the colour of severity.
func (t *text) status(severity, s string) string {
	switch severity {
	case OK:
		return t.paint(green, s)
	case Warning:
		return t.paint(yellow, s)
	default:
		return t.paint(red, s)
	}
}

func (t *text) paint(code, s string) string {
	if !t.color {
		return s
	}
	return code + s + reset
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// oneLine keeps a query's text on its table row.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
