package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrInvalidCursor is returned by lists for a before_id or after_id that
// names no row.
var ErrInvalidCursor = errors.New("the cursor names no row")

// Key is a row's place in a list: its (created_at, id). A key stays a
// valid bound after its row is deleted, unlike the row's id.
type Key struct {
	At time.Time
	ID uuid.UUID
}

// ListKey returns the address's place in the list of addresses.
func (a Address) ListKey() Key { return Key{a.CreatedAt.Time, a.ID} }

// ListKey returns the shipment's place in the list of shipments.
func (sh Shipment) ListKey() Key { return Key{sh.CreatedAt.Time, sh.ID} }

// ListKey returns the summary's place in the list of summaries.
func (a AnalyticsSummary) ListKey() Key { return Key{a.CreatedAt.Time, a.ID} }

// ListKey returns the row's place in the list of carrier performance.
func (cp CarrierPerformance) ListKey() Key { return Key{cp.CreatedAt.Time, cp.ID} }

// ListKey returns the sample's place in the list of system metrics.
func (m SystemMetric) ListKey() Key { return Key{m.CreatedAt.Time, m.ID} }

// Page selects one page of a list: newest first by (created_at, id), at
// most Size rows, older than BeforeID or Before, or newer than AfterID or
// After (at most one of the four), created in [Start, End).
type Page struct {
	Size     int
	BeforeID *uuid.UUID
	AfterID  *uuid.UUID
	Before   *Key
	After    *Key
	Start    *time.Time
	End      *time.Time
}

// list returns a page of T's table, filtered by q, and whether there are
// more rows beyond it in the direction of travel. Pagination is keyset,
// never OFFSET: any page costs what the first does.
func list[T any](ctx context.Context, q *gorm.DB, table string, p Page) ([]T, bool, error) {
	ks := keysetOf(table, p)
	q = q.WithContext(ctx)
	for _, c := range ks.conds {
		q = q.Where(c.sql, c.args...)
	}
	var rows []T
	if err := q.Order(ks.order).Limit(ks.limit()).Find(&rows).Error; err != nil {
		return nil, false, classify(err)
	}
	return finishPage(ctx, q.Statement.ConnPool, ks, rows)
}

// keyset is a page of a list as SQL on its table: the conditions that
// bound it (with ? placeholders, as GORM's Where takes them), its order
// and its size.
type keyset struct {
	table string
	conds []condition
	order string
	size  int
	// newerFirst is false for a page read toward newer rows: its rows come
	// oldest first, and are presented newest first.
	newerFirst bool
	// cursor is the id the page is read from, if it was given by id.
	cursor *uuid.UUID
}

type condition struct {
	sql  string
	args []any
}

// limit is how many rows the page reads: one more than it holds, to tell
// whether there are more.
func (ks keyset) limit() int { return ks.size + 1 }

// keysetOf returns the keyset of page p of table: newest first by
// (created_at, id), in [Start, End), from a cursor.
func keysetOf(table string, p Page) keyset {
	ks := keyset{table: table, order: table + ".created_at DESC, " + table + ".id DESC", size: p.Size, newerFirst: true}
	if p.Start != nil {
		ks.conds = append(ks.conds, condition{table + ".created_at >= ?", []any{*p.Start}})
	}
	if p.End != nil {
		ks.conds = append(ks.conds, condition{table + ".created_at < ?", []any{*p.End}})
	}
	for _, cur := range []struct {
		id  *uuid.UUID
		key *Key
		op  string
	}{{p.BeforeID, nil, "<"}, {p.AfterID, nil, ">"}, {nil, p.Before, "<"}, {nil, p.After, ">"}} {
		switch {
		case cur.id != nil:
			// The cursor's created_at is read in the same statement. A
			// cursor naming no row compares with NULL and matches nothing;
			// only an empty page then needs to ask whether it exists.
			ks.cursor = cur.id
			ks.conds = append(ks.conds, condition{"(" + table + ".created_at, " + table + ".id) " + cur.op +
				" ((SELECT c.created_at FROM " + table + " AS c WHERE c.id = ?), ?)", []any{*cur.id, *cur.id}})
		case cur.key != nil:
			ks.conds = append(ks.conds, condition{"(" + table + ".created_at, " + table + ".id) " + cur.op + " (?, ?)", []any{cur.key.At, cur.key.ID}})
		default:
			continue
		}
		if cur.op == ">" {
			// Walk forward from the cursor, then present newest first.
			ks.order, ks.newerFirst = table+".created_at ASC, "+table+".id ASC", false
		}
	}
	return ks
}

// finishPage turns the rows read for ks into the page and whether there
// are more: the extra row dropped, newest first. An empty page read from
// a cursor asks q whether the cursor names a row (ErrInvalidCursor if not).
func finishPage[T any](ctx context.Context, q querier, ks keyset, rows []T) ([]T, bool, error) {
	if len(rows) == 0 && ks.cursor != nil {
		exists, err := queryRow[bool](ctx, q,
			statement{name: "cursor exists", sql: "SELECT EXISTS (SELECT FROM " + ks.table + " WHERE id = $1)"}, *ks.cursor)
		if err != nil {
			return nil, false, classify(err)
		}
		if !exists {
			return nil, false, fmt.Errorf("cursor %s: %w", ks.cursor, ErrInvalidCursor)
		}
	}
	more := len(rows) > ks.size
	if more {
		rows = rows[:ks.size]
	}
	if !ks.newerFirst {
		slices.Reverse(rows)
	}
	return rows, more, nil
}

// idIs is the condition id = id on the statement's own table, qualified
// for statements that join other tables.
func idIs(id uuid.UUID) clause.Eq {
	return clause.Eq{Column: clause.Column{Table: clause.CurrentTable, Name: "id"}, Value: id}
}

// byID loads the row of T with that id into dst, or returns ErrNotFound.
func byID[T any](ctx context.Context, db *gorm.DB, id uuid.UUID, what string) (T, error) {
	var row T
	if err := db.WithContext(ctx).Take(&row, idIs(id)).Error; err != nil {
		return row, fmt.Errorf("%s %s: %w", what, id, classify(err))
	}
	return row, nil
}

// insert creates row and reads back every column the database filled
// (id, defaults, timestamps).
func insert[T any](ctx context.Context, db *gorm.DB, row *T, what string) error {
	if err := db.WithContext(ctx).Clauses(clause.Returning{}).Create(row).Error; err != nil {
		return fmt.Errorf("create %s: %w", what, classify(err))
	}
	return nil
}

// create inserts row in a write transaction of its own (or ctx's), leaving
// the omitted columns to their defaults, and reads back every column the
// database filled. It records the activity <what>.create.
func create[T any](ctx context.Context, s *Store, row *T, what string, omit ...string) error {
	return s.inTx(ctx, func(tx *gorm.DB) error {
		if len(omit) > 0 {
			tx = tx.Omit(omit...)
		}
		if err := insert(ctx, tx, row, what); err != nil {
			return err
		}
		return recordRow(ctx, tx.Statement.ConnPool, what, "create", *row, uuid.Nil, 201)
	})
}

// deleteByID deletes the row of T with that id, or returns ErrNotFound. It
// records the activity <what>.delete.
func deleteByID[T any](ctx context.Context, s *Store, id uuid.UUID, what string) error {
	return s.inTx(ctx, func(tx *gorm.DB) error {
		res := tx.Delete(new(T), "id = ?", id)
		if res.Error != nil {
			return fmt.Errorf("delete %s %s: %w", what, id, classify(res.Error))
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("delete %s %s: %w", what, id, ErrNotFound)
		}
		return recordRow(ctx, tx.Statement.ConnPool, what, "delete", nil, id, 204)
	})
}

// update locks the row of T with that id (loaded through load, which may
// add to the query, e.g. preloads; nil for none), lets apply check and
// change it (returning the columns it changed), validates the result and
// writes exactly those columns, then returns the row as stored. It runs
// in ctx's transaction if ctx carries one, and records the activity
// <what>.update.
func update[T any](ctx context.Context, s *Store, id uuid.UUID, what string, load func(*gorm.DB) *gorm.DB, apply func(*T) ([]string, error), validate func(*T) error) (T, error) {
	var row T
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		q := tx
		if load != nil {
			q = load(tx)
		}
		if err := q.Clauses(clause.Locking{Strength: "UPDATE"}).Take(&row, "id = ?", id).Error; err != nil {
			return classify(err)
		}
		cols, err := apply(&row)
		if err != nil {
			return err
		}
		if err := validate(&row); err != nil {
			return err
		}
		if len(cols) > 0 {
			if err := tx.Model(&row).Clauses(clause.Returning{}).Select(cols).Omit(clause.Associations).Updates(&row).Error; err != nil {
				return classify(err)
			}
		}
		return recordRow(ctx, tx.Statement.ConnPool, what, "update", nil, id, 200)
	})
	if err != nil {
		return row, fmt.Errorf("update %s %s: %w", what, id, err)
	}
	return row, nil
}
