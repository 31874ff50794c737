package models

// Hand-written SQL has one home: a statement, its name and its text kept
// together, run by query, queryRow, queryEach, exec or execCount, or, to
// scan into GORM models, Store.find. GORM chains say every CRUD query; a
// statement is for what GORM cannot say, or says too slowly for a hot path
// (the dashboard, its refresh, the rollups, the idempotency records, the
// server's settings and statistics). Two kinds go out on pgx itself, for
// what database/sql cannot do: the shipment reads, pipelined behind
// keepJoinOrder (joins.go), and bulk COPY (bulk.go).
//
// Rows are scanned into structs with database/sql, by column name through
// `db` tags, rather than with pgx's RowToStructByName: every statement runs
// on the database/sql pool or on a *sql.Tx (GORM's transactions are
// ones), where pgx's row functions would need the driver connection
// unwrapped around each call, and database/sql already hands pgx's decoded
// values to the fields' sql.Scanner (Money, Date).

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"sync"

	"gorm.io/gorm"
)

// statement is a named, hand-written SQL statement. The name says in an
// error which statement failed.
type statement struct {
	name string
	sql  string
}

// String returns the statement's text.
func (st statement) String() string { return st.sql }

// querier runs a statement: a *sql.DB, *sql.Conn or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// execer runs a statement that returns no rows.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// queryEach runs st on q and calls scan on each row, which it must scan.
func queryEach(ctx context.Context, q querier, st statement, args []any, scan func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, st.sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// query runs st on q and returns its rows as Ts (never nil): each column
// goes to the field of T whose `db` tag names it, or, for a T without such
// fields and a statement of one column, to the T itself.
func query[T any](ctx context.Context, q querier, st statement, args ...any) ([]T, error) {
	out := []T{}
	var dests func(*T) []any
	err := queryEach(ctx, q, st, args, func(rows *sql.Rows) error {
		if dests == nil {
			cols, err := rows.Columns()
			if err != nil {
				return err
			}
			if dests, err = destinations[T](st, cols); err != nil {
				return err
			}
		}
		var t T
		if err := rows.Scan(dests(&t)...); err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
		out = append(out, t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// queryRow runs st on q and returns its first row as query would, or
// sql.ErrNoRows.
func queryRow[T any](ctx context.Context, q querier, st statement, args ...any) (T, error) {
	ts, err := query[T](ctx, q, st, args...)
	switch {
	case err != nil:
		var zero T
		return zero, err
	case len(ts) == 0:
		var zero T
		return zero, sql.ErrNoRows
	}
	return ts[0], nil
}

// exec runs st on q, for its effect.
func exec(ctx context.Context, q execer, st statement, args ...any) error {
	_, err := execCount(ctx, q, st, args...)
	return err
}

// execCount runs st on q and returns how many rows it changed.
func execCount(ctx context.Context, q execer, st statement, args ...any) (int64, error) {
	res, err := q.ExecContext(ctx, st.sql, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// find runs st on q and scans its rows into dest, a model or a slice of
// models, as GORM's Find does: by column name, through the model's
// schema. It returns how many rows it scanned.
func (s *Store) find(ctx context.Context, q querier, st statement, dest any, args ...any) (int64, error) {
	rows, err := q.QueryContext(ctx, st.sql, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	return s.scan(ctx, rows, dest)
}

// scan scans rows into dest as find does.
func (s *Store) scan(ctx context.Context, rows gorm.Rows, dest any) (int64, error) {
	tx := s.db.WithContext(ctx)
	if err := tx.Statement.Parse(dest); err != nil {
		return 0, err
	}
	tx.Statement.Dest = dest
	tx.Statement.ReflectValue = reflect.ValueOf(dest).Elem()
	gorm.Scan(rows, tx, 0)
	if tx.Error != nil {
		return 0, tx.Error
	}
	return tx.RowsAffected, rows.Err()
}

// fieldIndexes maps a struct type to its fields' indexes by `db` tag.
var fieldIndexes sync.Map // reflect.Type → map[string][]int

func tagged(t reflect.Type) map[string][]int {
	if m, ok := fieldIndexes.Load(t); ok {
		return m.(map[string][]int)
	}
	m := map[string][]int{}
	if t.Kind() == reflect.Struct {
		for _, f := range reflect.VisibleFields(t) {
			if name, ok := f.Tag.Lookup("db"); ok && name != "-" {
				m[name] = f.Index
			}
		}
	}
	fieldIndexes.Store(t, m)
	return m
}

// destinations returns, for the columns cols of st, the pointers to scan a
// row into a T.
func destinations[T any](st statement, cols []string) (func(*T) []any, error) {
	fields := tagged(reflect.TypeFor[T]())
	if len(fields) == 0 {
		if len(cols) != 1 {
			return nil, fmt.Errorf("%s: %d columns for a %s", st.name, len(cols), reflect.TypeFor[T]())
		}
		return func(t *T) []any { return []any{t} }, nil
	}
	idx := make([][]int, len(cols))
	for i, c := range cols {
		f, ok := fields[c]
		if !ok {
			return nil, fmt.Errorf("%s: no field of %s for column %q", st.name, reflect.TypeFor[T](), c)
		}
		idx[i] = f
	}
	return func(t *T) []any {
		v := reflect.ValueOf(t).Elem()
		ds := make([]any, len(idx))
		for i, f := range idx {
			ds[i] = v.FieldByIndex(f).Addr().Interface()
		}
		return ds
	}, nil
}
