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
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// admin is one connection to the PostgreSQL server for creating, cloning
// and dropping databases.
type admin struct {
	conn    *pgx.Conn
	url     *url.URL
	version int // server_version_num
}

func connectAdmin(ctx context.Context, rawURL string) (*admin, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("-db must be a postgres:// URL")
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL (-db or WAYBILL_BENCH_DATABASE_URL): %w", err)
	}
	a := &admin{conn: conn, url: u}
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version_num").Scan(&v); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	a.version, _ = strconv.Atoi(v)
	return a, nil
}

func (a *admin) close() { a.conn.Close(context.Background()) }

// urlFor returns the URL of database name on the same server.
func (a *admin) urlFor(name string) string {
	u := *a.url
	u.Path = "/" + name
	return u.String()
}

func (a *admin) exists(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := a.conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&ok)
	return ok, err
}

// names returns the harness's databases.
func (a *admin) names(ctx context.Context) ([]string, error) {
	rows, err := a.conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'waybill\\_bench\\_%' ORDER BY 1")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// drop drops a database, the connections to it included, and a template
// too. It runs on its own deadline, so that cleanup still happens after
// ctx was cancelled by Ctrl-C.
func (a *admin) drop(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := pgx.Identifier{name}.Sanitize()
	if _, err := a.conn.Exec(ctx, "ALTER DATABASE "+id+" WITH IS_TEMPLATE false"); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name: already gone
			return nil
		}
		return fmt.Errorf("drop %s: %w", name, err)
	}
	if _, err := a.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop %s: %w", name, err)
	}
	return nil
}

// clone creates database name as a copy of template.
func (a *admin) clone(ctx context.Context, name, template string) error {
	// FILE_COPY copies the files after a checkpoint instead of writing
	// every block of the template (a gigabyte for 1M shipments) to the
	// WAL, as PostgreSQL 15's default WAL_LOG does.
	strategy := ""
	if a.version >= 150000 {
		strategy = " STRATEGY = FILE_COPY"
	}
	_, err := a.conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{template}.Sanitize()+strategy)
	if err != nil {
		return fmt.Errorf("clone %s: %w", template, err)
	}
	return nil
}

// sweep drops the scratch databases of harness runs whose process is gone
// (killed before their cleanup could run).
func (a *admin) sweep(ctx context.Context, logf func(string, ...any)) {
	names, err := a.names(ctx)
	if err != nil {
		return
	}
	for _, n := range names {
		if m := scratchName.FindStringSubmatch(n); m != nil {
			if pid, _ := strconv.Atoi(m[1]); !alive(pid) {
				logf("dropping %s, left by a run that died", n)
				_ = a.drop(n)
			}
		}
	}
}

// dropStale drops the cached templates whose key is not key.
func (a *admin) dropStale(ctx context.Context, key string, logf func(string, ...any)) error {
	names, err := a.names(ctx)
	if err != nil {
		return err
	}
	for _, n := range names {
		if m := templateName.FindStringSubmatch(n); m != nil && m[2] != key {
			logf("dropping the stale template %s (migrations or the seed changed)", n)
			if err := a.drop(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropAll drops every cached template, every kept run database and the
// scratch databases of dead runs (-clean).
func (a *admin) dropAll(ctx context.Context, logf func(string, ...any)) error {
	a.sweep(ctx, logf)
	names, err := a.names(ctx)
	if err != nil {
		return err
	}
	for _, n := range names {
		if templateName.MatchString(n) || keptName.MatchString(n) {
			logf("dropping %s", n)
			if err := a.drop(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// alive reports whether process pid exists on this machine.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// ensureTemplate returns the name of the cached template of n shipments,
// seeding it first if there is none: a scratch database is migrated,
// seeded with the built binary, vacuumed and analyzed (so that every clone
// starts with planner statistics and a visibility map, as a database in
// service has), then renamed into place and closed to connections, so it
// can always be cloned. An interrupted seeding leaves no template behind.
func (h *harness) ensureTemplate(ctx context.Context, n int) (string, error) {
	name := fmt.Sprintf("%s%d_%s", namePrefix, n, h.key)
	if ok, err := h.pg.exists(ctx, name); err != nil || ok {
		return name, err
	}
	tmp := fmt.Sprintf("%stmp_%d_%d", namePrefix, os.Getpid(), n)
	h.logf("seeding %d shipments into the template %s (once; later runs clone it)", n, name)
	start := time.Now()
	if _, err := h.pg.conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{tmp}.Sanitize()); err != nil {
		return "", fmt.Errorf("create %s: %w", tmp, err)
	}
	done := false
	defer func() {
		if !done {
			_ = h.pg.drop(tmp)
		}
	}()
	url := h.pg.urlFor(tmp)
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
	if err := h.pg.rename(ctx, tmp, name); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: a concurrent run made it
			return name, nil
		}
		return "", err
	}
	done = true
	if _, err := h.pg.conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return "", err
	}
	h.logf("seeded %s in %s", name, time.Since(start).Round(time.Second))
	return name, nil
}

// rename renames a database, retrying while the backends of the clients
// that just left it are still exiting.
func (a *admin) rename(ctx context.Context, from, to string) error {
	var err error
	for range 50 {
		_, err = a.conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{from}.Sanitize()+" RENAME TO "+pgx.Identifier{to}.Sanitize())
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55006" { // object_in_use
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}
