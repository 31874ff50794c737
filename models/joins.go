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
// joined to their associations, with keepJoinOrder, and appends its rows
// to dest. It returns how many rows it scanned.
//
// On the pool the two statements go out in one pipeline, one implicit
// transaction, so keeping the order costs no round trip; in the
// transaction ctx carries (a write's), keepJoinOrder is a statement of its
// own.
//
// byKey says text reads one shipment by its id, whose plan does not depend
// on the id: on connections that prepare their statements (all but
// PgBouncer's), PostgreSQL settles on the statement's generic plan after
// five runs and plans it no more, so the read goes alone, without
// keepJoinOrder, which then only costs the server a statement (16 % of a
// get-one's ceiling). A keyset page is planned for its cursor on every
// run, and keeps the order.
func (s *Store) findJoined(ctx context.Context, text string, args []any, dest *[]Shipment, byKey bool) (int, error) {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		q := tx.Statement.ConnPool
		if err := exec(ctx, q, keepJoinOrder); err != nil {
			return 0, err
		}
		n, err := s.find(ctx, q, statement{name: "shipments joined", sql: text}, dest, args...)
		return int(n), err
	}
	pool, _ := s.readPool(ctx)
	var n int
	err := onPgx(ctx, pool, func(c *pgx.Conn) (err error) {
		n, err = s.pipelineJoined(ctx, c, text, args, dest, byKey)
		return err
	})
	return n, err
}

// onPgx runs fn on the pgx connection under one of pool's. As database/sql
// does for a statement of its own, a connection found closed before
// anything was sent is retried once on another.
func onPgx(ctx context.Context, pool *sql.DB, fn func(*pgx.Conn) error) error {
	for attempt := 1; ; attempt++ {
		conn, err := pool.Conn(ctx)
		if err != nil {
			return err
		}
		err = conn.Raw(func(driverConn any) error { return fn(driverConn.(*stdlib.Conn).Conn()) })
		conn.Close()
		if err == nil || attempt == 2 || !pgconn.SafeToRetry(err) {
			return err
		}
	}
}

// pipelineJoined sends keepJoinOrder and the statement text in one
// pipeline on c, a connection of the pool of ctx's reads (readPool); a
// read byKey goes alone where statements are prepared (see findJoined).
func (s *Store) pipelineJoined(ctx context.Context, c *pgx.Conn, text string, args []any, dest *[]Shipment, byKey bool) (int, error) {
	if byKey && c.Config().DefaultQueryExecMode == pgx.QueryExecModeCacheStatement {
		rows, err := c.Query(ctx, text, args...)
		if err != nil {
			return 0, err
		}
		return collect(s.db, rows, text, dest)
	}
	b := &pgx.Batch{}
	b.Queue(keepJoinOrder.sql)
	b.Queue(text, args...)
	br := c.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return 0, err
	}
	rows, err := br.Query()
	if err != nil {
		return 0, err
	}
	return collect(s.db, rows, text, dest)
}
