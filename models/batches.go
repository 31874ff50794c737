package models

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// Batch statuses: a batch is pending until a worker takes it, processing
// while its rows are imported, and then completed (every row imported),
// completed_with_errors (some rows failed) or failed (no row imported).
const (
	BatchPending             = "pending"
	BatchProcessing          = "processing"
	BatchCompleted           = "completed"
	BatchCompletedWithErrors = "completed_with_errors"
	BatchFailed              = "failed"
)

// BatchShipmentImport is the operation_type of a batch import of
// shipments.
const BatchShipmentImport = "shipment_import"

// Batch is a batch operation (batch_operations): its progress, counts and
// the errors of its failed rows.
type Batch struct {
	ID              uuid.UUID    `db:"id" json:"id"`
	BatchID         string       `db:"batch_id" json:"batch_id"`
	OperationType   string       `db:"operation_type" json:"operation_type"`
	Status          string       `db:"status" json:"status"`
	Source          *string      `db:"source" json:"source"`
	TotalItems      int          `db:"total_items" json:"total_items"`
	ProcessedItems  int          `db:"processed_items" json:"processed_items"`
	SuccessfulItems int          `db:"successful_items" json:"successful_items"`
	FailedItems     int          `db:"failed_items" json:"failed_items"`
	Errors          BatchErrors  `db:"errors" json:"errors"`
	CreatedAt       Time         `db:"created_at" json:"created_at"`
	UpdatedAt       Time         `db:"updated_at" json:"updated_at"`
	StartedAt       *Time        `db:"started_at" json:"started_at"`
	CompletedAt     *Time        `db:"completed_at" json:"completed_at"`
	LeaseToken      *uuid.UUID   `db:"lease_token" json:"-"`
	LeaseExpiresAt  sql.NullTime `db:"lease_expires_at" json:"-"`
}

// BatchError is what is wrong with one row of a batch: its 1-based
// number, the field (a JSON path, "" for the row as a whole) and the
// problem.
type BatchError struct {
	Row     int    `json:"row"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// BatchErrors is a batch's row errors, stored as a jsonb array; never
// nil once read.
type BatchErrors []BatchError

// Scan implements sql.Scanner.
func (e *BatchErrors) Scan(src any) error {
	*e = BatchErrors{}
	var b []byte
	switch v := src.(type) {
	case nil:
		return nil
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("batch errors: cannot scan %T", src)
	}
	return json.Unmarshal(b, e)
}

// BatchItem is one row of a batch waiting to be imported: its 1-based
// number and the JSON body of its shipment, as POST /v1/shipments takes.
type BatchItem struct {
	Row      int  `db:"item_row"`
	Shipment JSON `db:"shipment"`
}

// NewBatch is a batch to record: its rows that are still to be imported
// and the errors of those already refused.
type NewBatch struct {
	Source string
	// UserID names who sent it (the API key's id).
	UserID string
	Total  int
	Items  []BatchItem
	Errors []BatchError
	// Claim makes the batch processing at once, leased to the caller (who
	// imports it inline), instead of pending for a worker.
	Claim bool
}

// BatchClaim is a worker's lease on a batch: it may import the batch's
// rows while the lease holds.
type BatchClaim struct {
	ID    uuid.UUID
	Token uuid.UUID
	Lease time.Duration
	// Source is the batch's format (json or csv).
	Source string
}

// ErrLeaseLost is returned to a worker whose lease on a batch ended (it
// expired and another worker took the batch, or the batch finished).
var ErrLeaseLost = errors.New("the batch's lease was lost")

var (
	insertBatchStatement = statement{name: "insert batch", sql: `
INSERT INTO batch_operations (operation_type, status, source, user_id, total_items, processed_items, failed_items, errors,
    started_at, lease_token, lease_expires_at)
VALUES ($1, CASE WHEN $2::uuid IS NULL THEN 'pending' ELSE 'processing' END, $3, $4, $5, $6, $6, $7,
    CASE WHEN $2::uuid IS NULL THEN NULL ELSE now() END, $2, CASE WHEN $2::uuid IS NULL THEN NULL ELSE now() + $8::interval END)
RETURNING id`}
	insertBatchItemsStatement = statement{name: "insert batch items", sql: `
INSERT INTO batch_items (batch_operation_id, item_row, shipment)
SELECT $1, r, s FROM unnest($2::integer[], $3::jsonb[]) AS u (r, s)`}
	batchStatement = statement{name: "batch", sql: `
SELECT id, batch_id, operation_type, status, source, total_items, processed_items, successful_items, failed_items,
    errors, created_at, updated_at, started_at, completed_at, lease_token, lease_expires_at
FROM batch_operations WHERE id = $1`}
	// claimBatchStatement leases the oldest batch no live worker holds:
	// pending, or processing with an expired lease (its worker died).
	claimBatchStatement = statement{name: "claim batch", sql: `
UPDATE batch_operations SET status = 'processing', started_at = coalesce(started_at, now()),
    lease_token = $1, lease_expires_at = now() + $2::interval
WHERE id = (
    SELECT id FROM batch_operations
    WHERE status = 'pending' OR (status = 'processing' AND (lease_expires_at IS NULL OR lease_expires_at < now()))
    ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id, coalesce(source, '') AS source`}
	renewBatchStatement = statement{name: "renew batch lease", sql: `
UPDATE batch_operations SET lease_expires_at = now() + $3::interval
WHERE id = $1 AND lease_token = $2 AND status = 'processing'
RETURNING id`}
	releaseBatchStatement = statement{name: "release batch lease", sql: `
UPDATE batch_operations SET lease_expires_at = now() WHERE id = $1 AND lease_token = $2 AND status = 'processing'`}
	takeBatchItemsStatement = statement{name: "take batch items", sql: `
DELETE FROM batch_items WHERE batch_operation_id = $1 AND item_row IN (
    SELECT item_row FROM batch_items WHERE batch_operation_id = $1 ORDER BY item_row LIMIT $2)
RETURNING item_row, shipment`}
	recordBatchChunkStatement = statement{name: "record batch chunk", sql: `
UPDATE batch_operations SET processed_items = processed_items + $2, successful_items = successful_items + $3,
    failed_items = failed_items + $4, errors = CASE WHEN $5::jsonb = '[]' THEN errors ELSE coalesce(errors, '[]') || $5::jsonb END
WHERE id = $1`}
	finishBatchStatement = statement{name: "finish batch", sql: `
UPDATE batch_operations SET
    status = CASE WHEN failed_items = 0 THEN 'completed' WHEN successful_items = 0 THEN 'failed' ELSE 'completed_with_errors' END,
    completed_at = now(), lease_token = NULL, lease_expires_at = NULL,
    total_processing_time = extract(epoch FROM now() - coalesce(started_at, created_at)),
    avg_item_time = extract(epoch FROM now() - coalesce(started_at, created_at)) / greatest(total_items, 1)
WHERE id = $1 AND lease_token = $2 AND NOT EXISTS (SELECT FROM batch_items WHERE batch_operation_id = $1)
RETURNING id`}
)

// CreateBatch records a batch and its rows to import, in one
// transaction (ctx's, if it carries one). With nb.Claim the batch is
// returned leased to the caller; else it is pending and the claim is nil.
func (s *Store) CreateBatch(ctx context.Context, nb NewBatch, lease time.Duration) (uuid.UUID, *BatchClaim, error) {
	var id uuid.UUID
	var claim *BatchClaim
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		q := tx.Statement.ConnPool
		var token *uuid.UUID
		if nb.Claim {
			t := uuid.New()
			token, claim = &t, &BatchClaim{Token: t, Lease: lease}
		}
		errs, err := json.Marshal(BatchErrors(nb.Errors))
		if err != nil {
			return err
		}
		if len(nb.Errors) == 0 {
			errs = []byte("[]")
		}
		id, err = queryRow[uuid.UUID](ctx, q, insertBatchStatement, BatchShipmentImport, token, nb.Source, nb.UserID,
			nb.Total, countRows(nb.Errors), string(errs), interval(lease))
		if err != nil {
			return fmt.Errorf("create batch: %w", classify(err))
		}
		// One audit row for the batch (its shipments have none of their
		// own): answered 201 when imported in the request, else 202.
		status := 202
		if nb.Claim {
			status = 201
		}
		err = recordActivity(ctx, q, AuditEvent{Action: "batch.create", ResourceType: "batch", ResourceID: id.String(), Status: status,
			Metadata: map[string]any{"total_items": nb.Total, "source": nb.Source}})
		if err != nil {
			return err
		}
		if len(nb.Items) == 0 {
			return nil
		}
		// A statement per bulkInsertSize rows: the driver encodes a
		// statement's arrays whole, and a 10,000-row batch at once would
		// hold a second copy of it in memory.
		for items := range slices.Chunk(nb.Items, bulkInsertSize) {
			rows := make([]int32, len(items))
			// As text, which casts to jsonb whatever the protocol: with
			// DB_PGBOUNCER's exec mode the server does not describe the
			// parameters, and bytes would go as bytea.
			bodies := make([]string, len(items))
			for i, it := range items {
				rows[i], bodies[i] = int32(it.Row), string(it.Shipment)
			}
			if err := exec(ctx, q, insertBatchItemsStatement, id, rows, bodies); err != nil {
				return fmt.Errorf("create batch items: %w", classify(err))
			}
		}
		return nil
	})
	if err != nil {
		return uuid.Nil, nil, err
	}
	if claim != nil {
		claim.ID = id
	}
	return id, claim, nil
}

// interval is d as a PostgreSQL interval literal.
func interval(d time.Duration) string { return fmt.Sprintf("%d microseconds", d.Microseconds()) }

// Batch returns the batch with that id, or ErrNotFound.
func (s *Store) Batch(ctx context.Context, id uuid.UUID) (Batch, error) {
	b, err := queryRow[Batch](ctx, s.conn(ctx).Statement.ConnPool, batchStatement, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Batch{}, fmt.Errorf("batch %s: %w", id, ErrNotFound)
	case err != nil:
		return Batch{}, fmt.Errorf("batch %s: %w", id, classify(err))
	}
	if b.Errors == nil {
		b.Errors = BatchErrors{}
	}
	return b, nil
}

// ClaimBatch leases the oldest batch waiting for a worker (pending, or
// processing with an expired lease) for lease; nil when there is none.
func (s *Store) ClaimBatch(ctx context.Context, lease time.Duration) (*BatchClaim, error) {
	token := uuid.New()
	type claimed struct {
		ID     uuid.UUID `db:"id"`
		Source string    `db:"source"`
	}
	c, err := queryRow[claimed](ctx, s.pool, claimBatchStatement, token, interval(lease))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("claim batch: %w", classify(err))
	}
	return &BatchClaim{ID: c.ID, Token: token, Lease: lease, Source: c.Source}, nil
}

// ReleaseBatch ends a lease early (the worker is stopping), so that the
// next worker takes the batch up at once.
func (s *Store) ReleaseBatch(ctx context.Context, c *BatchClaim) error {
	return classify(exec(ctx, s.pool, releaseBatchStatement, c.ID, c.Token))
}

// ShipmentDecoder turns a batch row's JSON body into a valid shipment to
// create (Validate passed), or says what is wrong with it.
type ShipmentDecoder func(body []byte) (*Shipment, error)

// ImportBatchChunk imports up to size rows of the claimed batch in one
// transaction (ctx's, if it carries one): it takes them from the batch's
// waiting rows, creates the shipments of those that decode, and records
// the counts and the errors of the others, so a batch interrupted between
// chunks resumes where it stopped and imports no row twice. When no row
// is left it finishes the batch and reports done. A lease that ended is
// ErrLeaseLost, and nothing is changed.
func (s *Store) ImportBatchChunk(ctx context.Context, c *BatchClaim, size int, decode ShipmentDecoder) (done bool, err error) {
	if _, inTx := ctx.Value(txKey{}).(*gorm.DB); !inTx {
		return s.copyChunk(ctx, c, size, decode)
	}
	return s.importChunkInTx(ctx, c, size, decode)
}

// importChunkInTx is ImportBatchChunk in a GORM transaction (ctx's, or
// its own), with multi-row INSERTs, row by row for a chunk the database
// refuses a row of.
func (s *Store) importChunkInTx(ctx context.Context, c *BatchClaim, size int, decode ShipmentDecoder) (done bool, err error) {
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		q := tx.Statement.ConnPool
		if _, err := queryRow[uuid.UUID](ctx, q, renewBatchStatement, c.ID, c.Token, interval(c.Lease)); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrLeaseLost
			}
			return fmt.Errorf("renew batch lease: %w", classify(err))
		}
		items, err := query[BatchItem](ctx, q, takeBatchItemsStatement, c.ID, size)
		if err != nil {
			return fmt.Errorf("take batch items: %w", classify(err))
		}
		if len(items) == 0 {
			if _, err := queryRow[uuid.UUID](ctx, q, finishBatchStatement, c.ID, c.Token); err != nil {
				return fmt.Errorf("finish batch: %w", classify(err))
			}
			done = true
			return nil
		}
		var rowErrs []BatchError
		var rows []int
		var shs []*Shipment
		for _, it := range items {
			sh, err := decode(it.Shipment)
			if err != nil {
				rowErrs = append(rowErrs, RowErrors(it.Row, err)...)
				continue
			}
			rows, shs = append(rows, it.Row), append(shs, sh)
		}
		failed, err := s.insertShipments(ctx, tx, rows, shs)
		if err != nil {
			return err
		}
		rowErrs = append(rowErrs, failed...)
		bad := countRows(rowErrs)
		errs, err := json.Marshal(BatchErrors(rowErrs))
		if err != nil {
			return err
		}
		if len(rowErrs) == 0 {
			errs = []byte("[]")
		}
		if err := exec(ctx, q, recordBatchChunkStatement, c.ID, len(items), len(items)-bad, bad, string(errs)); err != nil {
			return fmt.Errorf("record batch chunk: %w", classify(err))
		}
		return nil
	})
	return done, err
}

// countRows counts the distinct rows of errs.
func countRows(errs []BatchError) int {
	seen := map[int]bool{}
	for _, e := range errs {
		seen[e.Row] = true
	}
	return len(seen)
}

// RowErrors lists err, the failure of one row, as the row's errors: a
// ValidationError's fields one by one, anything else as the row's.
func RowErrors(row int, err error) []BatchError {
	var v *ValidationError
	if errors.As(err, &v) {
		out := make([]BatchError, len(v.Errors))
		for i, f := range v.Errors {
			out[i] = BatchError{Row: row, Field: f.Field, Message: f.Message}
		}
		return out
	}
	var conflict *ConflictError
	if errors.As(err, &conflict) {
		return []BatchError{{Row: row, Message: conflict.Detail}}
	}
	return []BatchError{{Row: row, Message: err.Error()}}
}

// insertShipments creates shs (rows are their row numbers) with their
// nested addresses, parcels and customs infos, with multi-row INSERTs. If
// the database refuses a statement (a unique value taken, an address id
// that names nothing), it creates them one by one instead, each under a
// savepoint, and returns the errors of those refused; any other failure
// is the error.
func (s *Store) insertShipments(ctx context.Context, tx *gorm.DB, rows []int, shs []*Shipment) ([]BatchError, error) {
	if len(shs) == 0 {
		return nil, nil
	}
	if err := tx.SavePoint("batch_chunk").Error; err != nil {
		return nil, classify(err)
	}
	err := insertShipmentsBulk(ctx, tx, shs)
	if err == nil {
		return nil, nil
	}
	if !isRowFault(err) {
		return nil, err
	}
	if err := tx.RollbackTo("batch_chunk").Error; err != nil {
		return nil, classify(err)
	}
	var out []BatchError
	for i, sh := range shs {
		clearInserted(sh)
		if err := tx.SavePoint("batch_row").Error; err != nil {
			return nil, classify(err)
		}
		if err := insertShipmentsBulk(ctx, tx, []*Shipment{sh}); err != nil {
			if !isRowFault(err) {
				return nil, err
			}
			if err := tx.RollbackTo("batch_row").Error; err != nil {
				return nil, classify(err)
			}
			out = append(out, RowErrors(rows[i], err)...)
		}
	}
	return out, nil
}

// isRowFault reports whether err is the input's fault (validation or a
// conflict), which fails its row, rather than the database's.
func isRowFault(err error) bool {
	var v *ValidationError
	return errors.As(err, &v) || errors.Is(err, ErrConflict)
}

// clearInserted forgets the ids a rolled-back insert gave sh's objects.
func clearInserted(sh *Shipment) {
	for _, a := range []*Address{sh.FromAddress, sh.ToAddress, sh.ReturnAddress, sh.BuyerAddress} {
		if a != nil {
			a.ID = uuid.Nil
			setAddressIDNil(sh, a)
		}
	}
	if sh.Parcel != nil {
		sh.Parcel.ID, sh.ParcelID = uuid.Nil, nil
	}
	if sh.CustomsInfo != nil {
		sh.CustomsInfo.ID, sh.CustomsInfoID = uuid.Nil, nil
	}
	sh.ID = uuid.Nil
}

func setAddressIDNil(sh *Shipment, a *Address) {
	switch a {
	case sh.FromAddress:
		sh.FromAddressID = uuid.Nil
	case sh.ToAddress:
		sh.ToAddressID = uuid.Nil
	case sh.ReturnAddress:
		sh.ReturnAddressID = nil
	case sh.BuyerAddress:
		sh.BuyerAddressID = nil
	}
}

// bulkInsertSize is how many rows one INSERT carries: the widest table
// (shipments) stays far below PostgreSQL's 65,535 parameters.
const bulkInsertSize = 1000

// insertShipmentsBulk inserts shs and their nested objects, each table
// with multi-row INSERTs.
func insertShipmentsBulk(ctx context.Context, tx *gorm.DB, shs []*Shipment) error {
	tx = tx.WithContext(ctx)
	var addrs []*Address
	var parcels []*Parcel
	var customs []*CustomsInfo
	for _, sh := range shs {
		for _, a := range sh.addresses() {
			if a.obj != nil {
				addrs = append(addrs, a.obj)
			}
		}
		if sh.Parcel != nil {
			parcels = append(parcels, sh.Parcel)
		}
		if sh.CustomsInfo != nil {
			customs = append(customs, sh.CustomsInfo)
		}
	}
	if len(addrs) > 0 {
		if err := tx.CreateInBatches(addrs, bulkInsertSize).Error; err != nil {
			return fmt.Errorf("create addresses: %w", classify(err))
		}
	}
	if len(parcels) > 0 {
		if err := tx.CreateInBatches(parcels, bulkInsertSize).Error; err != nil {
			return fmt.Errorf("create parcels: %w", classify(err))
		}
	}
	if len(customs) > 0 {
		if err := tx.CreateInBatches(customs, bulkInsertSize).Error; err != nil {
			return fmt.Errorf("create customs infos: %w", classify(err))
		}
	}
	out := make([]*Shipment, len(shs))
	for i, sh := range shs {
		for _, a := range sh.addresses() {
			if a.obj != nil {
				setAddressID(sh, a.role, a.obj.ID)
			}
		}
		if sh.Parcel != nil {
			sh.ParcelID = &sh.Parcel.ID
		}
		if sh.CustomsInfo != nil {
			sh.CustomsInfoID = &sh.CustomsInfo.ID
		}
		// The nested objects exist now; GORM must not insert them again.
		row := *sh
		row.FromAddress, row.ToAddress, row.ReturnAddress, row.BuyerAddress, row.Parcel, row.CustomsInfo = nil, nil, nil, nil, nil, nil
		out[i] = &row
	}
	if err := tx.CreateInBatches(out, bulkInsertSize).Error; err != nil {
		return fmt.Errorf("create shipments: %w", classify(err))
	}
	for i, sh := range shs {
		sh.ID = out[i].ID
	}
	return nil
}
