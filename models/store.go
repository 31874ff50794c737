// Package models holds Waybill's domain types, their validation, and the
// Store: every query the service makes lives here, on GORM over pgx. CRUD
// is GORM chains; hand-written SQL is named statements run by one helper
// that scans rows into structs (statements.go), the server's settings and
// statistics included (server.go), and bulk loading is COPY (bulk.go).
package models

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/gorm/schema"
)

// Domain errors. The store wraps them with context; callers test with
// errors.Is.
var (
	// ErrNotFound: no row with that id (or key).
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique or reference constraint refused the change.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the database could not be reached, refused the
	// connection, or did not hand out a connection before the deadline.
	// Nothing was changed.
	ErrUnavailable = errors.New("database unavailable")
	// ErrOutcomeUnknown: the connection was lost while COMMIT was on its
	// way; the change may or may not have been applied.
	ErrOutcomeUnknown = errors.New("the outcome of the commit is unknown")
)

// PoolOptions configures the connection pool of Open.
type PoolOptions struct {
	MaxOpenConns     int
	MaxIdleConns     int
	ConnMaxLifetime  time.Duration
	ConnMaxIdleTime  time.Duration
	ConnectTimeout   time.Duration
	StatementTimeout time.Duration
	// PgBouncer disables server-side prepared statements, which
	// transaction pooling cannot keep.
	PgBouncer bool
}

// Store is the database: the application pool, used through GORM, and a
// separate single connection for health checks, so that a check never
// waits behind application traffic for a pool slot.
type Store struct {
	db     *gorm.DB
	pool   *sql.DB
	health *sql.DB
	// dashQueue holds the days dashboards found unmaterialized.
	dashQueue *dashboardQueue
	// dashFlights coalesces concurrent dashboards of the same range.
	dashFlights coalescer[dashboardKey, Dashboard]
	// shipmentsJoined is the SELECT … FROM of the shipment reads, built on
	// first use.
	shipmentsJoined func() string
	// keys is the API keys' listener settings and lookup count (apikeys.go).
	keys keyState
	// replicas are the read replicas (replicas.go); nil without any.
	replicas *replicaSet
}

// Open prepares a Store for the database at dsn. It does not connect: the
// pool dials on first use, so Waybill starts while the database is down and
// serves as soon as it is back.
func Open(dsn string, o PoolOptions) (*Store, error) {
	cfg, err := connConfig(dsn, o)
	if err != nil {
		return nil, err
	}
	pool, health, db, err := openPools(cfg, o, &cachedNamer{NamingStrategy: schema.NamingStrategy{IdentifierMaxLength: 64}}) // GORM's default
	if err != nil {
		return nil, err
	}
	return &Store{db: db, pool: pool, health: health, dashQueue: newDashboardQueue(),
		shipmentsJoined: sync.OnceValue(func() string { return shipmentsJoinedStatement(db) }), keys: keyState{listen: listenConfig(cfg, o)}}, nil
}

// openPools opens a server's connections as the Store uses them: the
// application pool (sized by o), the health connection (a pool of one), and
// GORM over the pool with namer. It does not connect.
func openPools(cfg *pgx.ConnConfig, o PoolOptions, namer schema.Namer) (pool, health *sql.DB, db *gorm.DB, err error) {
	pool = stdlib.OpenDB(*cfg)
	pool.SetMaxOpenConns(o.MaxOpenConns)
	pool.SetMaxIdleConns(o.MaxIdleConns)
	pool.SetConnMaxLifetime(o.ConnMaxLifetime)
	pool.SetConnMaxIdleTime(o.ConnMaxIdleTime)

	hcfg := cfg.Copy()
	hcfg.RuntimeParams["application_name"] = "waybill-health"
	health = stdlib.OpenDB(*hcfg)
	health.SetMaxOpenConns(1)
	health.SetMaxIdleConns(1)

	db, err = gorm.Open(postgres.New(postgres.Config{Conn: pool}), &gorm.Config{
		DisableAutomaticPing: true,
		Logger:               logger.Discard,
		// Times are the database's; this only matters where GORM would
		// stamp a time itself, which the models forbid.
		NowFunc:                func() time.Time { return time.Now().UTC() },
		SkipDefaultTransaction: true,
		NamingStrategy:         namer,
	})
	if err == nil {
		err = sendValuesAsGiven(db)
	}
	if err != nil {
		pool.Close()
		health.Close()
		return nil, nil, nil, fmt.Errorf("gorm: %w", err)
	}
	return pool, health, db, nil
}

// sendValuesAsGiven makes GORM insert booleans and numbers as the struct
// holds them. Left to itself, GORM replaces a Go zero value with the
// literal `default:` of the gorm tag: for a string that fills in what a Go
// caller left unset (the empty string is never valid where a column has a
// default), but false and 0 are values in their own right, and a customs
// declaration sent with "customs_certify": false was stored as true. The
// API applies the document's defaults before a model reaches the store
// (handlers.decode); the tags keep the literal defaults for the
// schema-drift test.
func sendValuesAsGiven(db *gorm.DB) error {
	for _, m := range All() {
		stmt := &gorm.Statement{DB: db}
		if err := stmt.Parse(m); err != nil {
			return err
		}
		for _, f := range stmt.Schema.Fields {
			if def := f.DefaultValueInterface; def != nil && f.IndirectFieldType.Kind() != reflect.String &&
				!reflect.ValueOf(def).IsZero() {
				f.HasDefaultValue, f.DefaultValueInterface = false, nil
			}
		}
	}
	return nil
}

func connConfig(dsn string, o PoolOptions) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("invalid database URL")
	}
	if o.ConnectTimeout > 0 {
		cfg.ConnectTimeout = o.ConnectTimeout
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if _, set := cfg.RuntimeParams["application_name"]; !set {
		cfg.RuntimeParams["application_name"] = "waybill"
	}
	if o.StatementTimeout > 0 {
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10)
	}
	// Timestamps are sent and read as instants; pinning the session zone
	// keeps any text rendering (and date_trunc) in UTC.
	cfg.RuntimeParams["timezone"] = "UTC"
	// JIT compilation pays off for long analytical scans, not for the
	// short statements of an API, and a poor row estimate can make it
	// spend seconds compiling a query that runs in milliseconds.
	cfg.RuntimeParams["jit"] = "off"
	// join_collapse_limit = 1 is not a session setting: the shipment
	// joins set it for their transaction (keepJoinOrder).
	if o.PgBouncer {
		// Transaction pooling hands each transaction any server connection:
		// no named prepared statements, and no session settings. PgBouncer
		// passes on only a few startup parameters (timezone among them) and
		// refuses the others: jit and statement_timeout are the database's
		// settings instead (PinSettings, run by waybill migrate).
		cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
		for name := range pinned(o) {
			delete(cfg.RuntimeParams, name)
		}
	}
	return cfg, nil
}

// pinned returns the session settings Waybill needs that PgBouncer does
// not pass on as startup parameters.
func pinned(o PoolOptions) map[string]string {
	settings := map[string]string{"jit": "off"}
	if o.StatementTimeout > 0 {
		settings["statement_timeout"] = strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10)
	}
	return settings
}

var currentDatabase = statement{name: "current database", sql: `SELECT current_database()`}

// PinSettings makes the session settings Waybill sends at connection
// (jit off, and statement_timeout from o) the defaults of its database
// (ALTER DATABASE ... SET), for connections through PgBouncer, which
// refuses them as startup parameters. It needs the database's owner (or
// a superuser); new server connections take them.
func (s *Store) PinSettings(ctx context.Context, o PoolOptions) error {
	name, err := queryRow[string](ctx, s.pool, currentDatabase)
	if err != nil {
		return classify(err)
	}
	settings := pinned(o)
	if o.StatementTimeout <= 0 {
		settings["statement_timeout"] = "0"
	}
	for _, param := range slices.Sorted(maps.Keys(settings)) {
		// Neither the name nor the value can be bound; the name is quoted,
		// and the parameters and values are this package's own.
		pin := statement{name: "pin " + param, sql: fmt.Sprintf("ALTER DATABASE %s SET %s = '%s'",
			pgx.Identifier{name}.Sanitize(), param, settings[param])}
		if err := exec(ctx, s.pool, pin); err != nil {
			return fmt.Errorf("pin %s for database %s: %w", param, name, classify(err))
		}
	}
	return nil
}

// DB is the pool, for callers that need database/sql (migrations, stats).
func (s *Store) DB() *sql.DB { return s.pool }

// HealthDB is the health connection (a pool of one), for checks that
// must not wait behind application traffic.
func (s *Store) HealthDB() *sql.DB { return s.health }

// Stats reports the application pool's counters.
func (s *Store) Stats() sql.DBStats { return s.pool.Stats() }

// Ping checks the database on the health connection, within timeout.
func (s *Store) Ping(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return classify(s.health.PingContext(ctx))
}

// Warm pings through the application pool, so that after an outage the
// first request does not pay for the dial.
func (s *Store) Warm(ctx context.Context) error {
	return classify(s.pool.PingContext(ctx))
}

// Close closes both connections' pools, and the replicas'.
func (s *Store) Close() error {
	return errors.Join(s.pool.Close(), s.health.Close(), s.closeReplicas())
}

// txKey is the context key under which a write's transaction travels, so
// that the store's methods called inside Idempotent join it.
type txKey struct{}

// withTx returns ctx carrying tx: the store's methods called with it run
// in tx.
func withTx(ctx context.Context, tx *gorm.DB) context.Context {
	return context.WithValue(ctx, txKey{}, tx)
}

// conn returns the handle ctx's queries go through: the transaction ctx
// carries (see Idempotent), else a replica's pool if ctx reads from one
// (ReadFromReplica), else the pool.
func (s *Store) conn(ctx context.Context) *gorm.DB {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx.WithContext(ctx)
	}
	if r := s.reader(ctx); r != nil {
		return r.db.WithContext(ctx)
	}
	return s.db.WithContext(ctx)
}

// inTx runs fn in a transaction and commits it; an error from fn rolls it
// back. Inside a transaction that ctx carries, fn joins that one instead
// (the outer transaction commits). Every write goes through here, so that
// a connection lost before COMMIT means nothing changed (ErrUnavailable)
// and only a connection lost during COMMIT leaves the outcome unknown
// (ErrOutcomeUnknown).
func (s *Store) inTx(ctx context.Context, fn func(tx *gorm.DB) error) (err error) {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return fn(tx.WithContext(ctx))
	}
	tx := s.db.WithContext(ctx).Begin()
	if tx.Error != nil {
		return classify(tx.Error)
	}
	committing := false
	defer func() {
		if !committing {
			// After a panic or an error; a rollback on a lost connection
			// fails too, and the server rolls back on its own.
			tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	committing = true
	return commitOutcome(tx.Commit().Error)
}

// commitOutcome classifies COMMIT's error. The server's own refusal (a
// deferred constraint, a serialization failure) and a COMMIT never sent
// (the context was done, or the connection was already closed) mean the
// transaction is rolled back; a connection lost with COMMIT on the wire
// may have been lost after the commit was durable.
func commitOutcome(err error) error {
	if err == nil {
		return nil
	}
	if err == context.Canceled || err == context.DeadlineExceeded || pgconn.SafeToRetry(err) {
		// database/sql checks the context before sending COMMIT and
		// returns its error as is.
		return classify(err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && !connectionLost(pgErr) {
		return classify(err) // the server answered, and it did not commit
	}
	if isUnavailable(err) {
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	return classify(err)
}

// classify maps driver errors to the domain errors, keeping the original
// in the chain for the log.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if isUnavailable(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23503" && strings.HasPrefix(pgErr.Message, "insert or update"):
			// The row refers to one that does not exist: the client's
			// mistake, named by the referring column.
			field := strings.TrimSuffix(strings.TrimPrefix(pgErr.ConstraintName, pgErr.TableName+"_"), "_fkey")
			return &ValidationError{Errors: []FieldError{{Field: field, Message: "refers to nothing that exists"}}}
		case pgErr.Code == "23505":
			return &ConflictError{Detail: "a unique value is already taken: " + uniqueFields(pgErr)}
		case pgErr.Code == "23503":
			return &ConflictError{Detail: "it is still used by " + cmp.Or(referrers[pgErr.TableName], "other records")}
		case strings.HasPrefix(pgErr.Code, "22"), pgErr.Code == "23514":
			// Data exceptions and CHECK violations that validation did not
			// catch: still the input's fault, never a 500.
			return &ValidationError{Errors: []FieldError{{Field: cmp.Or(pgErr.ColumnName, "body"), Message: "is not an acceptable value"}}}
		}
	}
	return err
}

// ConflictError is ErrConflict with a detail that is safe to show a
// client: which rule was broken, never the values or the SQL.
type ConflictError struct{ Detail string }

func (e *ConflictError) Error() string { return "conflict: " + e.Detail }

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// referrers names, for a client, what the rows of a referring table are.
var referrers = map[string]string{
	"shipments":        "one or more shipments",
	"shipment_events":  "tracking events",
	"shipment_metrics": "shipment metrics",
	"idempotency_keys": "stored idempotent responses",
}

// uniqueFields names the columns of a unique violation from its detail
// ("Key (easypost_id)=(shp_1) already exists."), without the values.
func uniqueFields(pgErr *pgconn.PgError) string {
	if rest, ok := strings.CutPrefix(pgErr.Detail, "Key ("); ok {
		if cols, _, ok := strings.Cut(rest, ")="); ok {
			return cols
		}
	}
	return pgErr.ConstraintName
}

func isUnavailable(err error) bool {
	// A connection cut mid-conversation surfaces as EOF or a closed or
	// bad connection, depending on where it broke.
	for _, target := range []error{context.DeadlineExceeded, sql.ErrConnDone, driver.ErrBadConn,
		io.EOF, io.ErrUnexpectedEOF, net.ErrClosed, pgconn.ErrConnClosed} {
		if errors.Is(err, target) {
			return true
		}
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connectErr) || errors.As(err, &netErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case connectionLost(pgErr):
			return true
		case pgErr.Code == "53300": // too_many_connections
			return true
		case pgErr.Code == "57014": // query_canceled: statement timeout
			return true
		}
	}
	if strings.HasSuffix(err.Error(), "sql: database is closed") {
		// The pool is closed: the server is shutting down. database/sql
		// does not export its error.
		return true
	}
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}

// connectionLost reports whether the server ended the session: a
// connection exception (class 08) or an administrator or crash shutdown
// (57P01–57P03).
func connectionLost(pgErr *pgconn.PgError) bool {
	return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
}

// Unavailable reports whether err says the database could not be used
// (unreachable, shutting down, too slow for the deadline) rather than that
// it refused the request: the one test behind every 503.
func Unavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || isUnavailable(err)
}

// cachedNamer is GORM's default naming, remembered. Scanning a joined row,
// GORM asks for the column name of every joined column ("FromAddress__city")
// on every query, and deriving it anew was 12 % of a get-one's CPU.
type cachedNamer struct {
	schema.NamingStrategy
	columns sync.Map // [2]string{table, column} → string
}

func (n *cachedNamer) ColumnName(table, column string) string {
	key := [2]string{table, column}
	if name, ok := n.columns.Load(key); ok {
		return name.(string)
	}
	name := n.NamingStrategy.ColumnName(table, column)
	n.columns.Store(key, name)
	return name
}
