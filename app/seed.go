package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/seed"
)

const seedUsage = `Usage: waybill seed --shipments N [--seed S] [--days D]

Loads N realistic demo shipments (with addresses, parcels and tracking
events) into DATABASE_URL with COPY. The same --seed gives the same data
relative to the database's clock. A progress bar shows on a terminal.
Afterwards it runs ANALYZE and materializes the dashboard's per-day
figures for the loaded days (docs/analytics.md).

The addresses are committed first; the shipments then go in over two
connections, in a transaction each, and the two commit at the end. A load
that fails or is interrupted before then leaves nothing: both roll back and
the addresses are deleted again. Only a failure between the two commits
leaves part of the shipments, and the error says how many.`

func runSeed(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("seed")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), seedUsage); fs.PrintDefaults() }
	n := fs.Int("shipments", 0, "how many shipments to load (required)")
	seedValue := fs.Uint64("seed", 1, "random seed: the same seed gives the same data")
	days := fs.Int("days", 90, "spread created_at over this many days before now")
	if err := parseFlags(fs, args, e.stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("unexpected argument %q", fs.Arg(0))
	case *n <= 0:
		return usagef("--shipments must be a positive number")
	case *days <= 0:
		return usagef("--days must be positive")
	}
	store, _, err := storeFromEnv(e)
	if err != nil {
		return err
	}
	defer store.Close()

	progress, finish := seedProgress(e.stderr, *n)
	start := time.Now()
	err = store.Bulk(ctx, func(conn *pgx.Conn) error {
		return seed.Load(ctx, conn, seed.Options{
			Shipments: *n, Seed: *seedValue, Days: *days, Progress: progress,
		})
	})
	finish()
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(e.stdout, "loaded %d shipments in %s\n", *n, time.Since(start).Round(time.Millisecond))

	// A database that has just taken a bulk load has no statistics until
	// autovacuum comes by, and the planner guesses badly meanwhile; and
	// the dashboard's per-day figures would be computed on first use.
	start = time.Now()
	if err := store.Analyze(ctx); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	var loaded []models.Date
	for d := -*days; d <= 1; d++ { // a day after the database's today is skipped
		loaded = append(loaded, models.Date{Time: today.AddDate(0, 0, d)})
	}
	materialized, err := store.RefreshDashboard(ctx, loaded)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "analyzed, and materialized the dashboard for %d days, in %s\n",
		len(materialized), time.Since(start).Round(time.Millisecond))
	return nil
}

// seedProgress returns a progress callback drawing a bar on w when it is a
// terminal, and nothing otherwise, and a function that ends the bar.
func seedProgress(w io.Writer, total int) (func(int), func()) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, func() {}
	}
	bar := progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("shipments"),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	return func(done int) { _ = bar.Set(done) }, func() { _ = bar.Finish() }
}
