package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"runtime"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"gorm.io/gorm"
)

// The worker's chunks (ctx carrying no transaction) go out on a pgx
// connection of their own and insert their shipments with COPY, several
// times faster than multi-row INSERTs; a chunk the database refuses a row
// of is rolled back whole and imported again through importChunkInTx,
// which finds the row and refuses it alone.

// errCopyRefused says the COPY of a chunk was refused for a row's sake:
// the chunk is to be imported row by row.
var errCopyRefused = errors.New("a row of the chunk was refused")

// copyChunk is ImportBatchChunk on a pgx connection, with COPY.
func (s *Store) copyChunk(ctx context.Context, c *BatchClaim, size int, decode ShipmentDecoder) (done bool, err error) {
	err = s.Bulk(ctx, func(conn *pgx.Conn) error {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return classify(err)
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit, a no-op
		var id uuid.UUID
		if err := tx.QueryRow(ctx, renewBatchStatement.sql, c.ID, c.Token, interval(c.Lease)).Scan(&id); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrLeaseLost
			}
			return fmt.Errorf("renew batch lease: %w", classify(err))
		}
		rows, err := tx.Query(ctx, takeBatchItemsStatement.sql, c.ID, size)
		if err != nil {
			return fmt.Errorf("take batch items: %w", classify(err))
		}
		var items []BatchItem
		for rows.Next() {
			var it BatchItem
			var body []byte
			if err := rows.Scan(&it.Row, &body); err != nil {
				rows.Close()
				return fmt.Errorf("take batch items: %w", classify(err))
			}
			it.Shipment = JSON(body)
			items = append(items, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("take batch items: %w", classify(err))
		}
		if len(items) == 0 {
			if err := tx.QueryRow(ctx, finishBatchStatement.sql, c.ID, c.Token).Scan(&id); err != nil {
				return fmt.Errorf("finish batch: %w", classify(err))
			}
			done = true
			return classify(tx.Commit(ctx))
		}
		shs, rowErrs := decodeAll(items, decode)
		if err := copyShipments(ctx, tx, s.db, shs); err != nil {
			if isRowFault(classify(err)) {
				return errCopyRefused
			}
			return fmt.Errorf("copy shipments: %w", classify(err))
		}
		bad := countRows(rowErrs)
		errs := []byte("[]")
		if len(rowErrs) > 0 {
			if errs, err = json.Marshal(BatchErrors(rowErrs)); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, recordBatchChunkStatement.sql, c.ID, len(items), len(items)-bad, bad, string(errs)); err != nil {
			return fmt.Errorf("record batch chunk: %w", classify(err))
		}
		return classify(tx.Commit(ctx))
	})
	if errors.Is(err, errCopyRefused) {
		return s.importChunkInTx(ctx, c, size, decode)
	}
	return done, err
}

// decodeAll decodes items on every CPU (the chunk's transaction waits
// meanwhile, so decoding is most of its time) and returns the shipments
// and the errors of the rows that did not decode, in row order.
func decodeAll(items []BatchItem, decode ShipmentDecoder) ([]*Shipment, []BatchError) {
	out := make([]*Shipment, len(items))
	errs := make([]error, len(items))
	workers := min(runtime.GOMAXPROCS(0), 4, len(items))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(items); i += workers {
				out[i], errs[i] = decode(items[i].Shipment)
			}
		})
	}
	wg.Wait()
	var shs []*Shipment
	var rowErrs []BatchError
	for i, it := range items {
		if errs[i] != nil {
			rowErrs = append(rowErrs, RowErrors(it.Row, errs[i])...)
			continue
		}
		shs = append(shs, out[i])
	}
	return shs, rowErrs
}

// copyShipments gives shs and their nested objects ids and copies them in,
// one COPY per table.
func copyShipments(ctx context.Context, tx pgx.Tx, db *gorm.DB, shs []*Shipment) error {
	var addrs []*Address
	var parcels []*Parcel
	var customs []*CustomsInfo
	for _, sh := range shs {
		for _, a := range sh.addresses() {
			if a.obj != nil {
				a.obj.ID = uuid.New()
				setAddressID(sh, a.role, a.obj.ID)
				addrs = append(addrs, a.obj)
			}
		}
		if sh.Parcel != nil {
			sh.Parcel.ID = uuid.New()
			sh.ParcelID = &sh.Parcel.ID
			parcels = append(parcels, sh.Parcel)
		}
		if sh.CustomsInfo != nil {
			sh.CustomsInfo.ID = uuid.New()
			sh.CustomsInfoID = &sh.CustomsInfo.ID
			customs = append(customs, sh.CustomsInfo)
		}
		sh.ID = uuid.New()
	}
	if err := copyIn(ctx, tx, db, addrs); err != nil {
		return err
	}
	if err := copyIn(ctx, tx, db, parcels); err != nil {
		return err
	}
	if err := copyIn(ctx, tx, db, customs); err != nil {
		return err
	}
	return copyIn(ctx, tx, db, shs)
}

// copyColumns are a model's table and the columns a COPY writes: those
// GORM would insert (the read-only timestamps are left to their
// defaults), with their fields.
type copyColumns struct {
	table  string
	names  []string
	fields [][]int
}

var copyColumnCache sync.Map // reflect.Type → *copyColumns

func copyColumnsOf(db *gorm.DB, t reflect.Type) (*copyColumns, error) {
	if cc, ok := copyColumnCache.Load(t); ok {
		return cc.(*copyColumns), nil
	}
	stmt := &gorm.Statement{DB: db}
	if err := stmt.Parse(reflect.New(t).Interface()); err != nil {
		return nil, err
	}
	cc := &copyColumns{table: stmt.Schema.Table}
	for _, f := range stmt.Schema.Fields {
		if f.DBName == "" || !f.Creatable {
			continue
		}
		cc.names = append(cc.names, f.DBName)
		cc.fields = append(cc.fields, f.StructField.Index)
	}
	copyColumnCache.Store(t, cc)
	return cc, nil
}

// copyIn copies rows, models of one type, into their table.
func copyIn[T any](ctx context.Context, tx pgx.Tx, db *gorm.DB, rows []*T) error {
	if len(rows) == 0 {
		return nil
	}
	cc, err := copyColumnsOf(db, reflect.TypeFor[T]())
	if err != nil {
		return err
	}
	data := make([][]any, len(rows))
	for i, r := range rows {
		v := reflect.ValueOf(r).Elem()
		vals := make([]any, len(cc.fields))
		for j, idx := range cc.fields {
			vals[j] = copyValue(v.FieldByIndex(idx).Interface())
		}
		data[i] = vals
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{cc.table}, cc.names, pgx.CopyFromRows(data)); err != nil {
		return fmt.Errorf("copy %s: %w", cc.table, err)
	}
	return nil
}

// copyValue is a model field's value as pgx encodes it for binary COPY.
func copyValue(v any) any {
	switch x := v.(type) {
	case uuid.UUID:
		return [16]byte(x)
	case *uuid.UUID:
		if x == nil {
			return nil
		}
		return [16]byte(*x)
	case Money:
		return pgtype.Numeric{Int: big.NewInt(int64(x)), Exp: -2, Valid: true}
	case *Money:
		if x == nil {
			return nil
		}
		return pgtype.Numeric{Int: big.NewInt(int64(*x)), Exp: -2, Valid: true}
	case JSON:
		if len(x) == 0 {
			return nil
		}
		return []byte(x)
	case Time:
		return x.Time
	case *Time:
		if x == nil {
			return nil
		}
		return x.Time
	}
	return v
}
