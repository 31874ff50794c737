package models

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The PostgreSQL server's settings and statistics, for the capacity plan
// (package capacity) and the monitoring report (package monitor). These
// functions take the *sql.DB to ask, since waybill monitor asks on a
// connection of its own; the Store's health connection asks for the
// service (Store.ServerConnections).

// ServerConnections is what a PostgreSQL server allows and how many
// connections it holds now.
type ServerConnections struct {
	MaxConnections    int `db:"max_connections"`
	SuperuserReserved int `db:"superuser_reserved"`
	// Reserved is reserved_connections (PostgreSQL 16 and later; 0 before).
	Reserved int `db:"reserved"`
	// Connections counts client backends now connected, from
	// pg_stat_activity.
	Connections int `db:"connections"`
}

// ReservedTotal is how many of max_connections ordinary roles cannot use.
func (s ServerConnections) ReservedTotal() int { return s.SuperuserReserved + s.Reserved }

// Usable is how many connections ordinary roles such as Waybill's may open.
func (s ServerConnections) Usable() int { return s.MaxConnections - s.ReservedTotal() }

var serverConnectionsStatement = statement{name: "server connections", sql: `
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS superuser_reserved,
       coalesce(current_setting('reserved_connections', true), '0')::int AS reserved,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS connections`}

// ReadServerConnections asks the server on db for its connection settings
// and its current client connections.
func ReadServerConnections(ctx context.Context, db *sql.DB) (ServerConnections, error) {
	s, err := queryRow[ServerConnections](ctx, db, serverConnectionsStatement)
	if err != nil {
		return ServerConnections{}, fmt.Errorf("read connection settings: %w", err)
	}
	return s, nil
}

// ServerConnections reads the server's connection settings and current
// client connections on the health connection.
func (s *Store) ServerConnections(ctx context.Context) (ServerConnections, error) {
	return ReadServerConnections(ctx, s.health)
}

// Activity is the server's client connections by state, and the moment
// and database of the session that counted them.
type Activity struct {
	Now               time.Time `db:"now"`
	Database          string    `db:"database"`
	Total             int       `db:"total"`
	Active            int       `db:"active"`
	Idle              int       `db:"idle"`
	IdleInTransaction int       `db:"idle_in_transaction"`
}

var activityStatement = statement{name: "activity", sql: `
SELECT now() AS now, current_database() AS database,
       count(*) AS total,
       count(*) FILTER (WHERE state = 'active') AS active,
       count(*) FILTER (WHERE state = 'idle') AS idle,
       count(*) FILTER (WHERE state LIKE 'idle in transaction%') AS idle_in_transaction
FROM pg_stat_activity WHERE backend_type = 'client backend'`}

// ReadActivity counts the server's client connections by state.
func ReadActivity(ctx context.Context, db *sql.DB) (Activity, error) {
	return queryRow[Activity](ctx, db, activityStatement)
}

// RunningQuery is a statement running, server-wide.
type RunningQuery struct {
	PID      int     `db:"pid"`
	Database string  `db:"database"`
	Seconds  float64 `db:"seconds"`
	State    string  `db:"state"`
	// Query is the statement's beginning.
	Query string `db:"query"`
}

var longQueriesStatement = statement{name: "long-running queries", sql: `
SELECT pid, coalesce(datname, '') AS database,
       extract(epoch FROM now() - query_start)::float8 AS seconds, state, left(query, $2) AS query
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND state <> 'idle' AND pid <> pg_backend_pid()
  AND now() - query_start > make_interval(secs => $1)
ORDER BY query_start LIMIT $3`}

// LongQueries returns at most limit statements of other sessions running
// longer than over, longest first, each cut to its first prefix
// characters.
func LongQueries(ctx context.Context, db *sql.DB, over time.Duration, prefix, limit int) ([]RunningQuery, error) {
	return query[RunningQuery](ctx, db, longQueriesStatement, over.Seconds(), prefix, limit)
}

// IdleSession is a session idle in transaction; Seconds count from its
// last statement.
type IdleSession struct {
	PID             int     `db:"pid"`
	Database        string  `db:"database"`
	Seconds         float64 `db:"seconds"`
	User            string  `db:"usename"`
	ApplicationName string  `db:"application_name"`
}

var idleSessionsStatement = statement{name: "sessions idle in transaction", sql: `
SELECT pid, coalesce(datname, '') AS database,
       extract(epoch FROM now() - state_change)::float8 AS seconds, coalesce(usename, '') AS usename, application_name
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND state LIKE 'idle in transaction%'
  AND pid <> pg_backend_pid() AND now() - state_change > make_interval(secs => $1)
ORDER BY state_change`}

// IdleSessions returns the other sessions idle in transaction longer than
// over, longest first.
func IdleSessions(ctx context.Context, db *sql.DB, over time.Duration) ([]IdleSession, error) {
	return query[IdleSession](ctx, db, idleSessionsStatement, over.Seconds())
}

var databaseSizeStatement = statement{name: "database size", sql: `SELECT pg_database_size(current_database())`}

// DatabaseSize is the size of db's database, in bytes.
func DatabaseSize(ctx context.Context, db *sql.DB) (int64, error) {
	return queryRow[int64](ctx, db, databaseSizeStatement)
}

// Relation is a table or an index and its size in bytes; Table is the
// index's table.
type Relation struct {
	Schema string `db:"schema"`
	Table  string `db:"table"`
	Index  string `db:"index"`
	Bytes  int64  `db:"bytes"`
}

var largestTablesStatement = statement{name: "largest tables", sql: `
SELECT n.nspname AS schema, c.relname AS table, pg_total_relation_size(c.oid) AS bytes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 3 DESC, 1, 2 LIMIT $1`}

// LargestTables returns the limit largest tables of db's database by
// pg_total_relation_size (heap, indexes and TOAST), largest first.
func LargestTables(ctx context.Context, db *sql.DB, limit int) ([]Relation, error) {
	return query[Relation](ctx, db, largestTablesStatement, limit)
}

var unusedIndexesStatement = statement{name: "unused indexes", sql: `
SELECT s.schemaname AS schema, s.relname AS table, s.indexrelname AS index, pg_relation_size(s.indexrelid) AS bytes
FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = s.indexrelid)
  AND pg_relation_size(s.indexrelid) > $1
ORDER BY 4 DESC, 1, 3`}

// UnusedIndexes lists the indexes never scanned since the statistics were
// reset, larger than min bytes, largest first, leaving out those that
// enforce something (unique, primary key, exclusion constraints): dropping
// them changes behaviour, not just speed.
func UnusedIndexes(ctx context.Context, db *sql.DB, min int64) ([]Relation, error) {
	return query[Relation](ctx, db, unusedIndexesStatement, min)
}

// CacheCounters are the buffer cache's hits and reads of the database's
// tables and indexes since the statistics were last reset.
type CacheCounters struct {
	TableHits  int64 `db:"table_hits"`
	TableReads int64 `db:"table_reads"`
	IndexHits  int64 `db:"index_hits"`
	IndexReads int64 `db:"index_reads"`
	// SharedBuffers is the server's shared_buffers setting, e.g. "128MB".
	SharedBuffers string `db:"shared_buffers"`
}

var cacheCountersStatement = statement{name: "cache counters", sql: `
SELECT (SELECT coalesce(sum(heap_blks_hit), 0)::int8 FROM pg_statio_user_tables) AS table_hits,
       (SELECT coalesce(sum(heap_blks_read), 0)::int8 FROM pg_statio_user_tables) AS table_reads,
       (SELECT coalesce(sum(idx_blks_hit), 0)::int8 FROM pg_statio_user_indexes) AS index_hits,
       (SELECT coalesce(sum(idx_blks_read), 0)::int8 FROM pg_statio_user_indexes) AS index_reads,
       current_setting('shared_buffers') AS shared_buffers`}

// ReadCacheCounters reads the buffer cache's counters of db's database.
func ReadCacheCounters(ctx context.Context, db *sql.DB) (CacheCounters, error) {
	return queryRow[CacheCounters](ctx, db, cacheCountersStatement)
}
