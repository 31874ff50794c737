package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/waybill/waybill/pgcluster"
)

// Every database the harness creates is named with namePrefix, so that
// -clean and the sweep of dead runs touch nothing else:
//
//	waybill_bench_<shipments>_<key>       a cached, seeded template (key: cacheKey)
//	waybill_bench_tmp_<pid>_<shipments>   a template being seeded
//	waybill_bench_run_<pid>_<shipments>   one run's clone of a template
//	waybill_bench_kept_<pid>_<shipments>  a run's clone kept with -keep
const namePrefix = "waybill_bench_"

var (
	templateName = regexp.MustCompile(`^waybill_bench_(\d+)_([0-9a-f]{8})$`)
	scratchName  = regexp.MustCompile(`^waybill_bench_(?:tmp|run)_(\d+)_\d+$`)
	keptName     = regexp.MustCompile(`^waybill_bench_kept_\d+_\d+$`)
)

// seedValue is the --seed of `waybill seed`: every template of a given
// size holds the same shipments.
const seedValue = 1

// templateRecipe names how a template is made beyond the hashed files
// (the seed value, the steps in ensureTemplate); change it when they
// change, so that older templates are rebuilt.
const templateRecipe = "seed=1; days=90; vacuum analyze; v1"

// cacheKey returns the version of the seeded data: the first 8 hex digits
// of a SHA-256 over the recipe and the contents of migrations/*.sql and
// seed/*.go (tests excluded), read from the repository root. A template
// whose key differs is stale: the schema or the generator changed since.
func cacheKey(root fs.FS) (string, error) {
	var files []string
	for _, pattern := range []string{"migrations/*.sql", "seed/*.go"} {
		m, err := fs.Glob(root, pattern)
		if err != nil {
			return "", err
		}
		for _, f := range m {
			if !strings.HasSuffix(f, "_test.go") {
				files = append(files, f)
			}
		}
	}
	if len(files) == 0 {
		return "", errors.New("no migrations/*.sql or seed/*.go found: run from the repository")
	}
	slices.Sort(files)
	h := sha256.New()
	io.WriteString(h, templateRecipe)
	for _, f := range files {
		b, err := fs.ReadFile(root, f)
		if err != nil {
			return "", err
		}
		// The name and the length delimit each file, so moving bytes
		// from one file to the next changes the key too.
		fmt.Fprintf(h, "\x00%s\x00%d\x00", path.Clean(f), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:8], nil
}

// connectAdmin connects to the PostgreSQL server for creating, cloning and
// dropping the harness's databases.
func connectAdmin(ctx context.Context, rawURL string) (*pgcluster.Server, error) {
	if u, err := url.Parse(rawURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("-db must be a postgres:// URL")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pg, err := pgcluster.Connect(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL (-db or WAYBILL_BENCH_DATABASE_URL): %w", err)
	}
	return pg, nil
}

// sweep drops the scratch databases of harness runs whose process is gone
// (killed before their cleanup could run).
func sweep(ctx context.Context, pg *pgcluster.Server, logf func(string, ...any)) {
	pg.DropOrphans(ctx, namePrefix, scratchName, func(n string) {
		logf("dropping %s, left by a run that died", n)
	})
}

// dropStale drops the cached templates whose key is not key.
func dropStale(ctx context.Context, pg *pgcluster.Server, key string, logf func(string, ...any)) error {
	names, err := pg.Names(ctx, namePrefix)
	if err != nil {
		return err
	}
	for _, n := range names {
		if m := templateName.FindStringSubmatch(n); m != nil && m[2] != key {
			logf("dropping the stale template %s (migrations or the seed changed)", n)
			if err := pg.Drop(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropAll drops every cached template, every kept run database and the
// scratch databases of dead runs (-clean).
func dropAll(ctx context.Context, pg *pgcluster.Server, logf func(string, ...any)) error {
	sweep(ctx, pg, logf)
	names, err := pg.Names(ctx, namePrefix)
	if err != nil {
		return err
	}
	for _, n := range names {
		if templateName.MatchString(n) || keptName.MatchString(n) {
			logf("dropping %s", n)
			if err := pg.Drop(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// ensureTemplate returns the name of the cached template of n shipments,
// seeding it first if there is none: a scratch database is migrated,
// seeded with the built binary, vacuumed and analyzed (so that every clone
// starts with planner statistics and a visibility map, as a database in
// service has), then renamed into place and closed to connections, so it
// can always be cloned. An interrupted seeding leaves no template behind.
func (h *harness) ensureTemplate(ctx context.Context, n int) (string, error) {
	name := fmt.Sprintf("%s%d_%s", namePrefix, n, h.key)
	if ok, err := h.pg.Exists(ctx, name); err != nil || ok {
		return name, err
	}
	tmp := fmt.Sprintf("%stmp_%d_%d", namePrefix, os.Getpid(), n)
	h.logf("seeding %d shipments into the template %s (once; later runs clone it)", n, name)
	start := time.Now()
	if err := h.pg.Create(ctx, tmp); err != nil {
		return "", err
	}
	done := false
	defer func() {
		if !done {
			_ = h.pg.Drop(tmp)
		}
	}()
	url := h.pg.DatabaseURL(tmp)
	if _, err := h.tool(ctx, url, "migrate", "up"); err != nil {
		return "", err
	}
	if _, err := h.tool(ctx, url, "seed", "--shipments", strconv.Itoa(n), "--seed", strconv.Itoa(seedValue)); err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", err
	}
	_, err = conn.Exec(ctx, "VACUUM (ANALYZE)")
	conn.Close(context.Background())
	if err != nil {
		return "", fmt.Errorf("vacuum %s: %w", tmp, err)
	}
	if err := h.pg.Rename(ctx, tmp, name); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: a concurrent run made it
			return name, nil
		}
		return "", err
	}
	done = true
	if _, err := h.pg.Conn().Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return "", err
	}
	h.logf("seeded %s in %s", name, time.Since(start).Round(time.Second))
	return name, nil
}
