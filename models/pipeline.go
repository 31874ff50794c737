package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// pipeTx is a write transaction that Waybill begins and ends with its own
// statements on one connection of the pool, rather than through
// database/sql's Tx, so that its statements can go out in pipelines: BEGIN
// travels with the transaction's first statements, and statements that do
// not depend on each other's results share one round trip. On two shared
// cores every round trip costs a context switch on both sides; a create
// with an Idempotency-Key takes four instead of twelve.
//
// GORM runs in it too, through gormTx: the transaction is then GORM's
// ConnPool, and the store's methods that join ctx's transaction run their
// statements in it as in a *sql.Tx.
type pipeTx struct {
	conn  *sql.Conn
	begun bool // BEGIN has been sent
}

// inPipeTx runs fn in a pipeTx and commits it; an error from fn rolls it
// back. Inside the transaction that ctx carries (Idempotent's), fn joins
// it, and its owner commits. As with inTx, a connection lost before COMMIT
// means nothing changed (ErrUnavailable), and only one lost during COMMIT
// leaves the outcome unknown (ErrOutcomeUnknown).
func (s *Store) inPipeTx(ctx context.Context, fn func(*pipeTx) error) error {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		t, ok := tx.Statement.ConnPool.(*pipeTx)
		if !ok {
			return errors.New("a pipelined write joins only a pipelined transaction")
		}
		return fn(t)
	}
	conn, err := s.pool.Conn(ctx)
	if err != nil {
		return classify(err)
	}
	defer conn.Close()
	t := &pipeTx{conn: conn}
	committing := false
	defer func() {
		if !committing {
			t.rollback(ctx) // after an error or a panic
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	committing = true
	return t.commit(ctx)
}

// pipeline sends b's statements in one round trip, behind BEGIN if they
// are the transaction's first, and runs their callbacks (QueuedQuery's
// Query, QueryRow, Exec) in order. It returns the first error, a
// callback's or the server's, classified; the server runs none of the
// statements after one that failed.
//
// A callback's own error does not stop the statements after it: they were
// sent with it. So what depends on a result is decided by the server (a
// reference, a constraint), never only by a callback, in a pipeline that
// must stop there.
func (t *pipeTx) pipeline(ctx context.Context, b *pgx.Batch) error {
	if !t.begun {
		b.QueuedQueries = append([]*pgx.QueuedQuery{{SQL: "BEGIN"}}, b.QueuedQueries...)
		t.begun = true
	}
	return classify(t.conn.Raw(func(driverConn any) error {
		return driverConn.(*stdlib.Conn).Conn().SendBatch(ctx, b).Close()
	}))
}

// gormTx returns GORM in the transaction, beginning it if nothing was
// sent yet: what the store's methods called with withTx(ctx, it) run in.
func (t *pipeTx) gormTx(ctx context.Context, db *gorm.DB) (*gorm.DB, error) {
	if !t.begun {
		if _, err := t.conn.ExecContext(ctx, "begin"); err != nil {
			return nil, classify(err)
		}
		t.begun = true
	}
	tx := db.Session(&gorm.Session{Context: ctx, NewDB: true})
	tx.Statement.ConnPool = t
	return tx, nil
}

// commit commits the transaction. COMMIT goes out on its own, in the
// simple protocol, as database/sql's Tx sends it: the fault tests' proxy
// (testdb.Proxy) loses exactly that message.
func (t *pipeTx) commit(ctx context.Context) error {
	if !t.begun {
		return nil
	}
	var tag string
	err := t.conn.Raw(func(driverConn any) error {
		ct, err := driverConn.(*stdlib.Conn).Conn().Exec(ctx, "commit")
		tag = ct.String()
		return err
	})
	if err != nil {
		return commitOutcome(err)
	}
	if tag == "ROLLBACK" {
		// A statement failed and its error was not returned: the server
		// rolled back instead.
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// rollback rolls the transaction back; if it cannot, the connection is
// closed, and the server rolls back on its own.
func (t *pipeTx) rollback(ctx context.Context) {
	if !t.begun {
		return
	}
	if _, err := t.conn.ExecContext(ctx, "rollback"); err != nil {
		_ = t.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}

// The pipeTx is GORM's ConnPool inside it (gormTx): the statements go to
// its connection.

func (t *pipeTx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.conn.PrepareContext(ctx, query)
}

func (t *pipeTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.conn.ExecContext(ctx, query, args...)
}

func (t *pipeTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.conn.QueryContext(ctx, query, args...)
}

func (t *pipeTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.conn.QueryRowContext(ctx, query, args...)
}

// errOwnedTx: a pipeTx ends only through inPipeTx.
var errOwnedTx = errors.New("the transaction is ended by the one that began it")

// Commit and Rollback make GORM see a transaction (gorm.TxCommitter): a
// nested Transaction then takes a savepoint, as in a *sql.Tx. Ending it is
// inPipeTx's.
func (t *pipeTx) Commit() error   { return errOwnedTx }
func (t *pipeTx) Rollback() error { return errOwnedTx }

// queueInsert queues row's INSERT … RETURNING *, as GORM writes it for the
// model, into b; when b's results are read, row becomes the row as stored
// (ids, defaults, timestamps), and a failure is "create <what>: …".
func queueInsert[T any](b *pgx.Batch, db *gorm.DB, row *T, what string) error {
	st := db.Session(&gorm.Session{DryRun: true, NewDB: true}).Clauses(clause.Returning{}).Create(row).Statement
	if err := st.Error; err != nil {
		return fmt.Errorf("create %s: %w", what, err)
	}
	text := st.SQL.String()
	b.Queue(text, st.Vars...).Query(func(rows pgx.Rows) error {
		stored := make([]T, 0, 1)
		n, err := collect(db, rows, text, &stored)
		switch {
		case err != nil:
			return fmt.Errorf("create %s: %w", what, err)
		case n != 1:
			return fmt.Errorf("create %s: %d rows returned", what, n)
		}
		*row = stored[0]
		return nil
	})
	return nil
}
