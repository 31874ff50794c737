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

// sameWork reports whether a script's work per transaction matches the
// server's per request, within 15 % (the server's background work and the
// edges of the runs blur the counts a little), once the script's own id
// lookups (lookups transactions) are taken away.
func sameWork(server, script work, lookups int) bool {
	near := func(a, b float64) bool { return math.Abs(a-b) <= 0.15*math.Max(math.Max(a, b), 1) }
	return near(server.xacts, script.xacts-float64(lookups)) && near(server.indexScans, script.indexScans) &&
		near(server.inserts, script.inserts)
}

func (w work) String() string {
	return fmt.Sprintf("%.1f transactions, %.1f index scans, %.1f rows inserted", w.xacts, w.indexScans, w.inserts)
}
