package models

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// keepJoinOrder makes the statements after it in the same transaction
// keep their written join order (join_collapse_limit = 1) until the
// transaction ends. Waybill writes a shipment's joins in the order they
// should run: the shipment first, then lookups by key. Searching every
// order of that seven-table read costs 5–7 ms of planning for a 0.5 ms
// query; keeping the written order costs 0.6 ms. Other statements, the
// dashboard's among them, are planned freely.
//
// The setting is local to a transaction, never to a session, so that it
// holds under PgBouncer's transaction pooling too.
var keepJoinOrder = statement{name: "keep join order", sql: `SELECT set_config('join_collapse_limit', '1', true)`}

// findJoined runs the statement text with args, a read of shipments
// joined to their associations, with keepJoinOrder, and scans its rows
// into dest (a *Shipment, or a *[]Shipment) with GORM. It returns how many
// rows it scanned.
//
// On the pool the two statements go out in one pipeline, one implicit
// transaction, so keeping the order costs no round trip; in the
// transaction ctx carries (a write's), keepJoinOrder is a statement of its
// own.
func (s *Store) findJoined(ctx context.Context, text string, args []any, dest any) (int64, error) {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		q := tx.Statement.ConnPool
		if err := exec(ctx, q, keepJoinOrder); err != nil {
			return 0, err
		}
		return s.find(ctx, q, statement{name: "shipments joined", sql: text}, dest, args...)
	}
	for attempt := 1; ; attempt++ {
		n, err := s.pipelineJoined(ctx, text, args, dest)
		// As database/sql does for a statement of its own: a connection
		// found closed before anything was sent is retried on another.
		if err == nil || attempt == 2 || !pgconn.SafeToRetry(err) {
			return n, err
		}
	}
}

// pipelineJoined sends keepJoinOrder and the statement text in one
// pipeline on a connection of the pool of ctx's reads (readPool).
func (s *Store) pipelineJoined(ctx context.Context, text string, args []any, dest any) (int64, error) {
	pool, _ := s.readPool(ctx)
	conn, err := pool.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var n int64
	err = conn.Raw(func(driverConn any) error {
		b := &pgx.Batch{}
		b.Queue(keepJoinOrder.sql)
		b.Queue(text, args...)
		br := driverConn.(*stdlib.Conn).Conn().SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		n, err = s.scan(ctx, pgxRows{rows}, dest)
		return err
	})
	return n, err
}

// pgxRows are pgx's rows as GORM scans them.
type pgxRows struct{ pgx.Rows }

func (r pgxRows) Columns() ([]string, error) {
	fields := r.FieldDescriptions()
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	return names, nil
}

// ColumnTypes is nil: GORM asks for them only to scan into maps.
func (r pgxRows) ColumnTypes() ([]*sql.ColumnType, error) { return nil, nil }

func (r pgxRows) Close() error {
	r.Rows.Close()
	return r.Rows.Err()
}
