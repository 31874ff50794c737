package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/waybill/waybill/models"
)

const webhooksUsage = `Usage:
  waybill webhooks list [--limit N] [--outcome OUTCOME] [--before RFC3339]
  waybill webhooks replay ID

list shows the stored carrier webhook deliveries, newest first: when each
arrived, its id (for replay), the carrier's event id, its type, what became
of it and how many tracking events it added. OUTCOME is one of applied,
no_change, unknown_event, unknown_tracker, ambiguous_tracker.

replay applies a stored delivery (ID: its id or the carrier's event id)
again, as if it had just arrived: tracking events already recorded are
kept, so it adds only what the delivery could not add before (a shipment
with its tracking code created since, say).`

// webhookOutcomes are the outcomes list may filter on.
var webhookOutcomes = []string{models.WebhookApplied, models.WebhookNoChange, models.WebhookUnknownEvent,
	models.WebhookUnknownTracker, models.WebhookAmbiguousTracker}

func runWebhooks(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("webhooks")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), webhooksUsage) }
	if err := parseFlags(fs, args, e.stdout); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("missing subcommand: list or replay")
	}
	sub, rest := fs.Arg(0), fs.Args()[1:]
	var run func(*models.Store) error
	switch sub {
	case "list":
		lf := newFlagSet("webhooks list")
		lf.Usage = func() { fmt.Fprintln(lf.Output(), webhooksUsage) }
		limit := lf.Int("limit", 50, "how many deliveries (1-10000)")
		outcome := lf.String("outcome", "", "only deliveries with this outcome")
		before := lf.String("before", "", "only deliveries received before this RFC 3339 time")
		if err := parseFlags(lf, rest, e.stdout); err != nil {
			return err
		}
		if lf.NArg() > 0 {
			return usagef("list: unexpected argument %q", lf.Arg(0))
		}
		if *limit < 1 || *limit > 10000 {
			return usagef("list: --limit must be 1 to 10000")
		}
		if *outcome != "" && !slices.Contains(webhookOutcomes, *outcome) {
			return usagef("list: --outcome must be one of %v", webhookOutcomes)
		}
		var at time.Time
		if *before != "" {
			var err error
			if at, err = time.Parse(time.RFC3339Nano, *before); err != nil {
				return usagef("list: --before must be an RFC 3339 time")
			}
		}
		run = func(s *models.Store) error {
			ds, err := s.WebhookDeliveries(ctx, *limit, at, *outcome)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "RECEIVED (UTC)\tID\tEVENT\tTYPE\tOUTCOME\tADDED\tREPLAYS\tDETAIL")
			for _, d := range ds {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", d.ReceivedAt.UTC().Format("2006-01-02 15:04:05"),
					d.ID, d.EventID, d.Description, d.Outcome, d.EventsAdded, d.ReplayCount, d.Detail)
			}
			return w.Flush()
		}
	case "replay":
		if len(rest) != 1 {
			return usagef("replay needs one delivery ID (or event id)")
		}
		ref := rest[0]
		run = func(s *models.Store) error {
			// The audit trail names the command; there is no API key.
			ctx := models.WithActor(ctx, models.Actor{Method: "CLI", Endpoint: "waybill webhooks replay"})
			d, err := s.ReplayWebhook(ctx, ref)
			if errors.Is(err, models.ErrNotFound) {
				return fmt.Errorf("no stored webhook delivery %q", ref)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "replayed webhook %s (event %s, %s): %s: %s\n", d.ID, d.EventID, d.Description, d.Outcome, d.Detail)
			return nil
		}
	default:
		return usagef("unknown subcommand %q: list or replay", sub)
	}
	store, _, err := storeFromEnv(e)
	if err != nil {
		return err
	}
	defer store.Close()
	return run(store)
}
