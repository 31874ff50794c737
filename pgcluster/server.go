package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Server is one connection to a PostgreSQL server, a cluster of this
// package's or any other, for creating, cloning, renaming and dropping
// throwaway databases. It is not safe for concurrent use: open one per
// goroutine.
type Server struct {
	conn    *pgx.Conn
	url     *url.URL
	version int // server_version_num
}

// Connect opens a Server on the database of rawURL, a postgres:// URL
// (usually the maintenance database postgres).
func Connect(ctx context.Context, rawURL string) (*Server, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("%s is not a postgres:// URL", rawURL)
	}
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	s := &Server{conn: conn, url: u}
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version_num").Scan(&v); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	s.version, _ = strconv.Atoi(v)
	return s, nil
}

// Close closes the connection.
func (s *Server) Close() { s.conn.Close(context.Background()) }

// Conn returns the connection, for queries of the caller's own.
func (s *Server) Conn() *pgx.Conn { return s.conn }

// DatabaseURL returns the URL of database name on the same server, as the
// same user.
func (s *Server) DatabaseURL(name string) string {
	u := *s.url
	u.Path = "/" + name
	return u.String()
}

// Exists reports whether database name exists.
func (s *Server) Exists(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := s.conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&ok)
	return ok, err
}

// Names returns the databases whose name starts with prefix, in order.
func (s *Server) Names(ctx context.Context, prefix string) ([]string, error) {
	like := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix) + "%"
	rows, err := s.conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY 1", like)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Create creates the empty database name.
func (s *Server) Create(ctx context.Context, name string) error {
	if _, err := s.conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	return nil
}

// Copy is how Clone copies a template.
type Copy int

const (
	// CopyWAL writes every block of the template to the WAL (PostgreSQL
	// 15's default, WAL_LOG): the faster for a small template, since it
	// needs no checkpoint.
	CopyWAL Copy = iota
	// CopyFiles copies the template's files after a checkpoint
	// (FILE_COPY, PostgreSQL 15 and later; older servers always do):
	// the faster for a large template, a gigabyte of which WAL_LOG would
	// write to the WAL.
	CopyFiles
)

// Clone creates database name as a copy of template, which no one may be
// connected to.
func (s *Server) Clone(ctx context.Context, name, template string, how Copy) error {
	strategy := ""
	if how == CopyFiles && s.version >= 150000 {
		strategy = " STRATEGY = FILE_COPY"
	}
	_, err := s.conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{template}.Sanitize()+strategy)
	if err != nil {
		return fmt.Errorf("clone %s: %w", template, err)
	}
	return nil
}

// Rename renames a database, retrying for up to 5 seconds while the
// backends of the clients that just left it are still exiting.
func (s *Server) Rename(ctx context.Context, from, to string) error {
	var err error
	for range 50 {
		_, err = s.conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{from}.Sanitize()+" RENAME TO "+pgx.Identifier{to}.Sanitize())
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55006" { // object_in_use
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Drop drops database name, a template too, ending the sessions connected
// to it; it does nothing if there is none. It runs on a deadline of its
// own, a minute, so that cleanup still happens after the caller's context
// was cancelled (Ctrl-C).
func (s *Server) Drop(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := pgx.Identifier{name}.Sanitize()
	// A template must stop being one first. A database a DROP left half
	// done is marked invalid (datconnlimit -2, PostgreSQL 15.4 and later):
	// ALTER DATABASE on it is FATAL, which would end this connection, but
	// DROP finishes it.
	var template, invalid bool
	err := s.conn.QueryRow(ctx, "SELECT datistemplate, datconnlimit = -2 FROM pg_database WHERE datname = $1", name).Scan(&template, &invalid)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("drop %s: %w", name, err)
	}
	if template && !invalid {
		if _, err := s.conn.Exec(ctx, "ALTER DATABASE "+id+" WITH IS_TEMPLATE false"); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name: gone meanwhile
				return nil
			}
			return fmt.Errorf("drop %s: %w", name, err)
		}
	}
	if _, err := s.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop %s: %w", name, err)
	}
	return nil
}

// DropOrphans drops the databases whose name starts with prefix and
// matches owned, whose first submatch is the id of the process that
// created them, if that process no longer exists on this machine (it was
// killed before its cleanup could run). It calls dropped, if not nil, with
// the name of each before dropping it. Errors are ignored: the next run
// tries again.
func (s *Server) DropOrphans(ctx context.Context, prefix string, owned *regexp.Regexp, dropped func(name string)) {
	names, err := s.Names(ctx, prefix)
	if err != nil {
		return
	}
	for _, n := range names {
		m := owned.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		if pid, err := strconv.Atoi(m[1]); err == nil && !ProcessExists(pid) {
			if dropped != nil {
				dropped(n)
			}
			_ = s.Drop(n)
		}
	}
}
