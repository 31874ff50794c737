package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
)

// work is what PostgreSQL counts for the run database: transactions
// (every statement outside BEGIN … COMMIT is one), and index scans and
// inserted rows on the application's tables (the helper tables bench_*
// left out). Its change over a run, divided by the requests of the run,
// says what SQL a request costs; comparing the server's with pgbench's
// tells whether a script still sends what the server sends.
type work struct {
	xacts, indexScans, inserts float64
}

// How long to wait for the counts of a run to be visible. A backend that
// exits reports its counts at once. One that stays connected, as the
// server's pool does, reports them at most once a second, and one that
// goes idle within a second of its last report waits 10 s
// (PGSTAT_IDLE_INTERVAL) before the next.
const (
	exitedFlush = 1500 * time.Millisecond
	idleFlush   = 11 * time.Second
)

func readWork(ctx context.Context, conn *pgx.Conn) (work, error) {
	var w work
	err := conn.QueryRow(ctx, `SELECT
		(SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database())::float8,
		(SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_tables WHERE relname NOT LIKE 'bench\_%')::float8,
		(SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_user_tables WHERE relname NOT LIKE 'bench\_%')::float8`).
		Scan(&w.xacts, &w.indexScans, &w.inserts)
	return w, err
}

// measureWork returns what run made PostgreSQL do per request: run
// returns how many requests it made, and flush is how long its counts
// take to be visible. Other clients of the database (the server's health
// checks and dashboard refresher) add a little.
func measureWork(ctx context.Context, conn *pgx.Conn, flush time.Duration, run func() (int, error)) (*work, error) {
	before, err := readWork(ctx, conn)
	if err != nil {
		return nil, err
	}
	n, err := run()
	if err != nil || n == 0 {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(flush):
	}
	after, err := readWork(ctx, conn)
	if err != nil {
		return nil, err
	}
	per := float64(n)
	// The first readWork's own transaction is counted too.
	return &work{(after.xacts - before.xacts - 1) / per, (after.indexScans - before.indexScans) / per,
		(after.inserts - before.inserts) / per}, nil
}

// settle waits until no other client session of the database has been
// busy for a second, for at most two minutes: one-off work that a first
// request starts in the background — the dashboard materializing the days
// of its range — is then over before anything is timed or counted.
func settle(ctx context.Context, conn *pgx.Conn) error {
	deadline := time.Now().Add(2 * time.Minute)
	for quiet := 0; quiet < 10 && time.Now().Before(deadline); {
		var busy int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()
			  AND backend_type = 'client backend' AND state <> 'idle'`).Scan(&busy)
		if err != nil {
			return err
		}
		if quiet++; busy > 0 {
			quiet = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// comparison is a scenario's SQL per request as the server and its
// script cost it, the script's id lookups (lookups transactions) taken
// away.
//
// For a coalesced scenario, where the server answers concurrent requests
// with one computation, its work per request is a fraction of the
// script's; there the server's work is scaled to as many transactions per
// request as the script's, that is to say compared per statement
// executed, and coalescing is the requests it answered per execution of
// the script's SQL. Otherwise coalescing is 1.
type comparison struct {
	server, script work
	coalesced      bool
	coalescing     float64
}

func compareWork(server, script work, lookups int, coalesced bool) comparison {
	script.xacts -= float64(lookups)
	c := comparison{server: server, script: script, coalesced: coalesced, coalescing: 1}
	if coalesced && server.xacts > 0 && script.xacts > 0 {
		k := script.xacts / server.xacts
		c.coalescing = k
		c.server = work{server.xacts * k, server.indexScans * k, server.inserts * k}
	}
	return c
}

// workTolerance is how far the server's counts and the script's may be
// apart and still match: the server's background work and the edges of
// the runs blur the counts a little.
const workTolerance = 0.15

// same reports whether the script does what the server does: the same
// transactions, index scans and inserted rows, within workTolerance, and,
// coalesced, no more requests than statements executed (coalescing can
// only save work; a server that needs more transactions per request than
// the script sends does something else).
func (c comparison) same() bool {
	near := func(a, b float64) bool { return math.Abs(a-b) <= workTolerance*math.Max(math.Max(a, b), 1) }
	return c.coalescing >= 1-workTolerance && near(c.server.xacts, c.script.xacts) &&
		near(c.server.indexScans, c.script.indexScans) && near(c.server.inserts, c.script.inserts)
}

// String writes the comparison as the report's line does, server : script
// for transactions / index scans / rows inserted.
func (c comparison) String() string {
	s := fmt.Sprintf("%s / %s / %s", pair(c.server.xacts, c.script.xacts),
		pair(c.server.indexScans, c.script.indexScans), pair(c.server.inserts, c.script.inserts))
	if c.coalesced {
		s = fmt.Sprintf("per statement executed (the server coalesced %.1f requests into each): %s", c.coalescing, s)
	}
	return s
}

func pair(server, script float64) string { return fmt.Sprintf("%.1f : %.1f", server, script) }

func (w work) String() string {
	return fmt.Sprintf("%.1f transactions, %.1f index scans, %.1f rows inserted", w.xacts, w.indexScans, w.inserts)
}
