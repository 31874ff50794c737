package app

import (
	"context"
	"fmt"
	"time"

	"github.com/waybill/waybill/models"
)

const rollupUsage = `Usage: waybill rollup --from DATE --to DATE

Recomputes the daily analytics_summaries and carrier_performance rows of
every UTC day from --from to --to (YYYY-MM-DD, both included, at most 366
days) from the shipments in DATABASE_URL, one transaction per day. Running
it twice changes nothing. See docs/analytics.md.`

func runRollup(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("rollup")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), rollupUsage); fs.PrintDefaults() }
	from := fs.String("from", "", "first day, YYYY-MM-DD (required)")
	to := fs.String("to", "", "last day, YYYY-MM-DD (required)")
	if err := parseFlags(fs, args, e.stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	start, err := flagDate("--from", *from)
	if err != nil {
		return err
	}
	end, err := flagDate("--to", *to)
	if err != nil {
		return err
	}
	switch {
	case start.After(end.Time):
		return usagef("--from must not be after --to")
	case models.Days(start, end) > models.MaxAnalyticsDays:
		return usagef("the range may span at most %d days, both included", models.MaxAnalyticsDays)
	}
	store, _, err := storeFromEnv(e)
	if err != nil {
		return err
	}
	defer store.Close()
	res, err := store.Rollup(ctx, start, end)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "rolled up %s to %s (%d days): %d summaries, %d carrier performance rows\n",
		res.StartDate.Format(models.DateFormat), res.EndDate.Format(models.DateFormat), res.Days,
		res.Summaries, res.CarrierPerformance)
	return nil
}

// flagDate parses a required YYYY-MM-DD flag value.
func flagDate(name, v string) (models.Date, error) {
	if v == "" {
		return models.Date{}, usagef("%s is required", name)
	}
	t, err := time.Parse(models.DateFormat, v)
	if err != nil {
		return models.Date{}, usagef("%s must be a date such as 2026-11-28", name)
	}
	return models.Date{Time: t}, nil
}
