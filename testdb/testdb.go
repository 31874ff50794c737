// Package testdb gives each test its own PostgreSQL database: a clone of a
// template migrated once per test binary, dropped when the test ends. Test
// binaries running at the same time (go test's package parallelism, or two
// whole suites at once) use separate templates, and TestMain drops the
// template, so a run leaves no database behind.
//
// The server is WAYBILL_TEST_DATABASE_URL, by default the local trust-auth
// superuser postgres://postgres@127.0.0.1:5432/postgres.
package testdb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/waybill/waybill/migrations"
	"github.com/waybill/waybill/pgcluster"
)

// prefix starts the name of every database this package creates; the
// process id follows, so a crashed run's leftovers can be recognised.
const prefix = "waybill_t_"

var (
	template     string
	templateOnce sync.Once
	templateErr  error
	counter      atomic.Int64
)

// AdminURL is the URL of the server's maintenance database that tests
// create their databases from.
func AdminURL() string {
	if u := os.Getenv("WAYBILL_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// WithDatabase returns base with its database name replaced by name.
func WithDatabase(base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(fmt.Sprintf("testdb: bad base URL: %v", err))
	}
	u.Path = "/" + name
	return u.String()
}

// Name returns the database name of dsn, one of New's or Empty's.
func Name(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		panic(fmt.Sprintf("testdb: bad URL: %v", err))
	}
	return strings.TrimPrefix(u.Path, "/")
}

// Main runs the package's tests and then drops the template. Use it as
// func TestMain(m *testing.M) { testdb.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if template != "" {
		if err := drop(context.Background(), template); err != nil {
			fmt.Fprintln(os.Stderr, "testdb:", err)
		}
	}
	os.Exit(code)
}

// New returns the URL of a fresh database with every migration applied.
// It is dropped when t ends.
func New(t testing.TB) string {
	t.Helper()
	templateOnce.Do(func() { template, templateErr = makeTemplate() })
	if templateErr != nil {
		t.Fatalf("testdb: template: %v", templateErr)
	}
	return create(t, template)
}

// Empty returns the URL of a fresh database with no migration applied. It
// is dropped when t ends.
func Empty(t testing.TB) string {
	t.Helper()
	return create(t, "")
}

// Open opens url with the pgx driver and closes it when t ends.
func Open(t testing.TB, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatalf("testdb: open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func nextName() string {
	return fmt.Sprintf("%s%d_%d", prefix, os.Getpid(), counter.Add(1))
}

// create creates a database, a clone of template unless that is "", and
// drops it when t ends.
func create(t testing.TB, template string) string {
	t.Helper()
	name := nextName()
	err := onServer(context.Background(), func(s *pgcluster.Server) error {
		if template == "" {
			return s.Create(context.Background(), name)
		}
		return s.Clone(context.Background(), name, template, pgcluster.CopyWAL)
	})
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(context.Background(), name); err != nil {
			t.Errorf("testdb: %v", err)
		}
	})
	return WithDatabase(AdminURL(), name)
}

func makeTemplate() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := nextName() + "_tpl"
	// Databases left by test processes that no longer exist (a run killed
	// before its cleanup), on a connection of their own: whatever happens
	// to it cannot stop the template.
	_ = onServer(ctx, func(s *pgcluster.Server) error {
		s.DropOrphans(ctx, prefix, ownName, nil)
		return nil
	})
	err := onServer(ctx, func(s *pgcluster.Server) error { return s.Create(ctx, name) })
	if err != nil {
		return "", err
	}
	db, err := sql.Open("pgx", WithDatabase(AdminURL(), name))
	if err != nil {
		return "", err
	}
	defer db.Close()
	p, err := migrations.NewProvider(db, false)
	if err != nil {
		return "", err
	}
	if _, err := p.Up(ctx); err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	return name, nil
}

// onServer runs f on a connection of its own to the server's maintenance
// database: tests create and drop databases in parallel.
func onServer(ctx context.Context, f func(*pgcluster.Server) error) error {
	s, err := pgcluster.Connect(ctx, AdminURL())
	if err != nil {
		return err
	}
	defer s.Close()
	return f(s)
}

func drop(ctx context.Context, name string) error {
	return onServer(ctx, func(s *pgcluster.Server) error { return s.Drop(name) })
}

// ownName matches the databases of this package; its submatch is the id
// of the process that created them.
var ownName = regexp.MustCompile(`^` + prefix + `(\d+)_`)
