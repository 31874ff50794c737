package models

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Bulk loading (waybill seed) runs COPY, which database/sql cannot say, on
// pgx connections (Store.Bulk): its statements run on a *pgx.Conn rather
// than through query and exec.

var (
	analyzeStatement         = statement{name: "analyze", sql: `ANALYZE`}
	databaseNowStatement     = statement{name: "database now", sql: `SELECT date_trunc('second', now())`}
	deleteAddressesStatement = statement{name: "delete addresses", sql: `DELETE FROM addresses WHERE id = ANY($1)`}
)

// Analyze updates the planner's statistics of every table, as a database
// that has just taken a bulk load needs before autovacuum comes by.
func (s *Store) Analyze(ctx context.Context) error {
	return classify(exec(ctx, s.pool, analyzeStatement))
}

// Bulk runs fn with a connection of the pool, as pgx's, for a bulk load.
func (s *Store) Bulk(ctx context.Context, fn func(*pgx.Conn) error) error {
	conn, err := s.pool.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", classify(err))
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		return fn(driverConn.(*stdlib.Conn).Conn())
	})
}

// DatabaseNow is the database's clock, to the second.
func DatabaseNow(ctx context.Context, conn *pgx.Conn) (time.Time, error) {
	var now time.Time
	err := conn.QueryRow(ctx, databaseNowStatement.sql).Scan(&now)
	return now, err
}

// DeleteAddresses deletes the addresses of ids.
func DeleteAddresses(ctx context.Context, conn *pgx.Conn, ids []uuid.UUID) error {
	_, err := conn.Exec(ctx, deleteAddressesStatement.sql, ids)
	return err
}

// CopyBinary copies data, rows of columns in PostgreSQL's binary COPY
// format (signature, rows and trailer), into table on conn.
func CopyBinary(ctx context.Context, conn *pgconn.PgConn, table string, columns []string, data []byte) error {
	st := statement{name: "copy " + table, sql: fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT binary)",
		pgx.Identifier{table}.Sanitize(), strings.Join(columns, ", "))}
	if _, err := conn.CopyFrom(ctx, bytes.NewReader(data), st.sql); err != nil {
		return fmt.Errorf("%s: %w", st.name, err)
	}
	return nil
}
