package app

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/google/uuid"

	"github.com/waybill/waybill/models"
)

const apikeyUsage = `Usage:
  waybill apikey create --name NAME [--scope read|write|admin]
  waybill apikey list
  waybill apikey revoke ID

create prints the new key alone on the last line of stdout. It is shown
once: only its SHA-256 is stored. read keys may only read; write keys may
also write; admin keys may also read the audit trail (GET /v1/activity).
revoke records the activity api_key.revoke in the audit trail.`

func runAPIKey(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("apikey")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), apikeyUsage) }
	if err := parseFlags(fs, args, e.stdout); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("missing subcommand: create, list or revoke")
	}
	sub, rest := fs.Arg(0), fs.Args()[1:]
	var run func(*models.Store) error
	switch sub {
	case "create":
		cf := newFlagSet("apikey create")
		name := cf.String("name", "", "a name for the key (who or what uses it)")
		scope := cf.String("scope", models.ScopeRead, "read (GET only), write (everything but the audit trail) or admin (everything)")
		if err := parseFlags(cf, rest, e.stdout); err != nil {
			return err
		}
		if *name == "" {
			return usagef("create: --name is required")
		}
		if !models.ValidScope(*scope) {
			return usagef("create: --scope must be read, write or admin")
		}
		run = func(s *models.Store) error {
			k, key, err := s.CreateAPIKey(ctx, *name, *scope)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "created API key %s (name %q, scope %s); it is shown once:\n%s\n", k.ID, k.Name, k.Scope, key)
			return nil
		}
	case "list":
		if len(rest) > 0 {
			return usagef("list takes no arguments")
		}
		run = func(s *models.Store) error {
			keys, err := s.APIKeys(ctx)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tSCOPE\tCREATED (UTC)\tREVOKED (UTC)")
			for _, k := range keys {
				revoked := "-"
				if k.RevokedAt != nil {
					revoked = k.RevokedAt.UTC().Format("2006-01-02 15:04:05")
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Scope, k.CreatedAt.UTC().Format("2006-01-02 15:04:05"), revoked)
			}
			return w.Flush()
		}
	case "revoke":
		if len(rest) != 1 {
			return usagef("revoke needs one key ID")
		}
		id, err := uuid.Parse(rest[0])
		if err != nil {
			return usagef("revoke: %q is not a key ID", rest[0])
		}
		run = func(s *models.Store) error {
			// The audit trail names the command; there is no API key.
			ctx := models.WithActor(ctx, models.Actor{Method: "CLI", Endpoint: "waybill apikey revoke"})
			if _, err := s.RevokeAPIKey(ctx, id); err != nil {
				if errors.Is(err, models.ErrNotFound) {
					return fmt.Errorf("no active API key %s", id)
				}
				return err
			}
			fmt.Fprintf(e.stdout, "revoked API key %s\n", id)
			return nil
		}
	default:
		return usagef("unknown subcommand %q: create, list or revoke", sub)
	}
	store, _, err := storeFromEnv(e)
	if err != nil {
		return err
	}
	defer store.Close()
	return run(store)
}
