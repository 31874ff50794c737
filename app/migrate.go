package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/pressly/goose/v3"

	"github.com/waybill/waybill/config"
	"github.com/waybill/waybill/migrations"
	"github.com/waybill/waybill/models"
)

const migrateUsage = `Usage: waybill migrate up|down|status|version|redo|to N

  up       apply every pending migration
  down     roll back the newest migration
  status   list migrations and whether each is applied
  version  print the current schema version
  redo     roll back the newest migration and apply it again
  to N     migrate up or down to version N (0 rolls back everything)

The database is MIGRATE_DATABASE_URL if set (with PgBouncer in front of
the service, the primary itself), else DATABASE_URL. Concurrent runs are
serialised by an advisory lock (a lock table through PgBouncer: with
DB_PGBOUNCER=true and no MIGRATE_DATABASE_URL). With DB_PGBOUNCER=true, a
change also makes Waybill's session settings (jit off and
DB_STATEMENT_TIMEOUT) the database's defaults, since PgBouncer does not
pass them on; this needs the database's owner.`

func runMigrate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("migrate")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), migrateUsage) }
	if err := parseFlags(fs, args, e.stdout); err != nil {
		return err
	}
	args = fs.Args()
	if len(args) == 0 {
		return usagef("missing subcommand: up, down, status, version, redo or to N")
	}
	var target int64
	switch args[0] {
	case "up", "down", "status", "version", "redo":
		if len(args) != 1 {
			return usagef("%s takes no arguments", args[0])
		}
	case "to":
		if len(args) != 2 {
			return usagef("to needs one version number")
		}
		n, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil || n < 0 {
			return usagef("to: %q is not a version number", args[1])
		}
		target = n
	default:
		return usagef("unknown subcommand %q: up, down, status, version, redo or to N", args[0])
	}

	cfg, err := config.Load(e.getenv)
	if err != nil {
		return err
	}
	dsn, direct := cfg.MigrateDatabaseURL, true
	if dsn == "" {
		dsn, direct = cfg.DatabaseURL, !cfg.DBPgBouncer
	}
	if dsn == "" {
		return errors.New("DATABASE_URL is not set")
	}
	opts := poolOptions(cfg)
	opts.PgBouncer = !direct
	store, err := models.Open(dsn, opts)
	if err != nil {
		return err
	}
	defer store.Close()
	p, err := migrations.NewProvider(store.DB(), !direct)
	if err != nil {
		return err
	}
	if err := migrate(ctx, p, e, args[0], target); err != nil {
		return err
	}
	if cfg.DBPgBouncer && args[0] != "status" && args[0] != "version" {
		// Through PgBouncer the session settings are the database's.
		if err := store.PinSettings(ctx, opts); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "pinned the session settings (jit, statement_timeout) as the database's defaults, for PgBouncer;"+
			" server connections PgBouncer already holds take them when it reconnects (RECONNECT on its admin console)")
	}
	return nil
}

// storeFromEnv loads the configuration and opens the database for a
// command that cannot work without DATABASE_URL. The caller closes the
// store.
func storeFromEnv(e env) (*models.Store, config.Config, error) {
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return nil, cfg, err
	}
	if cfg.DatabaseURL == "" {
		return nil, cfg, errors.New("DATABASE_URL is not set")
	}
	store, err := openStore(cfg.DatabaseURL, cfg)
	return store, cfg, err
}

func migrate(ctx context.Context, p *goose.Provider, e env, cmd string, target int64) error {
	report := func(results []*goose.MigrationResult, err error) error {
		for _, r := range results {
			fmt.Fprintf(e.stdout, "%s %s (%s)\n", r.Direction, r.Source.Path, r.Duration.Round(1e6))
		}
		if err != nil {
			return fmt.Errorf("migrate %s: %w", cmd, migrationError(err))
		}
		v, err := p.GetDBVersion(ctx)
		if err != nil {
			return fmt.Errorf("read version: %w", err)
		}
		fmt.Fprintf(e.stdout, "schema version %d\n", v)
		return nil
	}
	one := func(r *goose.MigrationResult, err error) ([]*goose.MigrationResult, error) {
		if r == nil {
			return nil, err
		}
		return []*goose.MigrationResult{r}, err
	}
	switch cmd {
	case "up":
		return report(p.Up(ctx))
	case "down":
		return report(one(p.Down(ctx)))
	case "redo":
		res, err := one(p.Down(ctx))
		if err != nil {
			return report(res, err)
		}
		v := res[0].Source.Version
		more, err := p.UpTo(ctx, v)
		return report(append(res, more...), err)
	case "to":
		current, err := p.GetDBVersion(ctx)
		if err != nil {
			return fmt.Errorf("read version: %w", migrationError(err))
		}
		if target >= current {
			return report(p.UpTo(ctx, target))
		}
		return report(p.DownTo(ctx, target))
	case "version":
		v, err := p.GetDBVersion(ctx)
		if err != nil {
			return fmt.Errorf("read version: %w", migrationError(err))
		}
		fmt.Fprintln(e.stdout, v)
		return nil
	default: // status
		st, err := p.Status(ctx)
		if err != nil {
			return fmt.Errorf("status: %w", migrationError(err))
		}
		w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "VERSION\tSTATE\tAPPLIED AT (UTC)\tFILE")
		for _, s := range st {
			at := "-"
			if !s.AppliedAt.IsZero() {
				at = s.AppliedAt.UTC().Format("2006-01-02 15:04:05")
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", s.Source.Version, s.State, at, s.Source.Path)
		}
		return w.Flush()
	}
}

// migrationError keeps goose's explanation (which migration, which
// statement failed) but not the driver's connection details.
func migrationError(err error) error {
	if errors.Is(err, goose.ErrNoNextVersion) || errors.Is(err, goose.ErrNoCurrentVersion) {
		return errors.New("nothing to do")
	}
	return err
}
