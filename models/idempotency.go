package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Idempotency outcomes that are the client's to resolve.
var (
	// ErrIdempotencyMismatch: the key was used for a different request.
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")
	// ErrIdempotencyInFlight: the first request with the key is still running.
	ErrIdempotencyInFlight = errors.New("a request with this idempotency key is in flight")
)

// IdempotentRequest identifies a POST made with an Idempotency-Key.
type IdempotentRequest struct {
	APIKeyID uuid.UUID
	Key      string
	Method   string
	Path     string
	Hash     []byte // of the method, path and body
}

// IdempotentResponse is the answer to an idempotent request, stored for
// replay.
type IdempotentResponse struct {
	Status  int
	Headers JSON // the replayed headers, as a JSON object of name → value
	Body    []byte
}

// Idempotent runs write exactly once per key (docs/api.md), the design of
// Stripe's idempotency keys: one transaction locks the key, runs write
// with a context that makes every store method join the transaction, and
// stores write's response with the key, so the write and its stored
// response commit together or not at all.
//
// If the key was used before, Idempotent returns the stored response to
// replay without calling write, or ErrIdempotencyMismatch if that use was
// a different request. While another transaction holds the key it returns
// ErrIdempotencyInFlight; the lock is a transaction-scoped advisory lock,
// so a request that died (client gone, connection lost, server restarted)
// frees its key the moment PostgreSQL ends its transaction, and nothing of
// it remains. Records expire after 24 hours.
//
// An error from write rolls everything back and is returned as is; so is
// any other failure, and a COMMIT whose outcome is unknown returns
// ErrOutcomeUnknown: a retry then replays (it committed) or writes (it did
// not).
func (s *Store) Idempotent(ctx context.Context, req IdempotentRequest, write func(context.Context) (IdempotentResponse, error)) (replay *IdempotentResponse, err error) {
	err = s.inPipeTx(ctx, func(t *pipeTx) error {
		// BEGIN, the lock and the lookup share a round trip. The lookup runs
		// whether or not the lock was taken; without it, it only waits when
		// the holder has just cleared an expired record of the key, until
		// the holder's transaction ends.
		var locked bool
		var prev []IdempotencyKey
		b := &pgx.Batch{}
		b.Queue(idempotencyLockStatement.sql, idempotencyLock(req)).QueryRow(func(row pgx.Row) error {
			return row.Scan(&locked)
		})
		b.Queue(idempotencyRecordStatement.sql, req.APIKeyID, req.Key).Query(func(rows pgx.Rows) error {
			_, err := collect(s.db, rows, idempotencyRecordStatement.sql, &prev)
			return err
		})
		if err := t.pipeline(ctx, b); err != nil {
			return fmt.Errorf("idempotency key: %w", err)
		}
		if !locked {
			return ErrIdempotencyInFlight
		}
		if len(prev) == 1 {
			p := prev[0]
			if p.Method != req.Method || p.Path != req.Path || !bytes.Equal(p.RequestHash, req.Hash) {
				return ErrIdempotencyMismatch
			}
			replay = &IdempotentResponse{Status: *p.StatusCode, Headers: p.ResponseHeaders, Body: p.ResponseBody}
			return nil
		}
		tx, err := t.gormTx(ctx, s.db)
		if err != nil {
			return err
		}
		resp, err := write(withTx(ctx, tx))
		if err != nil {
			return err
		}
		rec := IdempotencyKey{
			APIKeyID: req.APIKeyID, Key: req.Key, Method: req.Method, Path: req.Path, RequestHash: req.Hash,
			StatusCode: &resp.Status, ResponseHeaders: resp.Headers, ResponseBody: resp.Body,
		}
		if err := tx.Create(&rec).Error; err != nil {
			return fmt.Errorf("create idempotency key: %w", classify(err))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return replay, nil
}

// idempotencyLockStatement takes a key's lock ($1) for the transaction,
// if no other transaction holds it: one boolean.
var idempotencyLockStatement = statement{name: "idempotency key lock", sql: `SELECT pg_try_advisory_xact_lock($1)`}

// idempotencyRecordStatement returns the settled, unexpired record of the
// key $2 of the API key $1. Expired records, and unsettled claims left by
// a version of Waybill that claimed keys before writing, make way; the
// SELECT sees the snapshot before the DELETE, hence its own filter.
var idempotencyRecordStatement = statement{name: "idempotency record", sql: `
WITH stale AS (
    DELETE FROM idempotency_keys WHERE api_key_id = $1 AND key = $2 AND (expires_at <= now() OR status_code IS NULL))
SELECT * FROM idempotency_keys WHERE api_key_id = $1 AND key = $2 AND expires_at > now() AND status_code IS NOT NULL`}

// purgeIdempotencyStatement deletes up to $1 expired records, skipping
// those another purge is deleting.
var purgeIdempotencyStatement = statement{name: "purge idempotency keys", sql: `
DELETE FROM idempotency_keys WHERE id IN (
    SELECT id FROM idempotency_keys WHERE expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`}

// idempotencyLock is the advisory lock of a key: 64 bits of a hash of the
// API key and the key. Two keys sharing it would only make one wait for
// the other's transaction (a 409 to retry), never share a response.
func idempotencyLock(req IdempotentRequest) int64 {
	h := sha256.New()
	h.Write(req.APIKeyID[:])
	h.Write([]byte(req.Key))
	return int64(binary.BigEndian.Uint64(h.Sum(nil)))
}

// PurgeIdempotencyKeys deletes up to limit records past their 24 hours and
// returns how many it deleted. Records are otherwise only cleared when
// their key is used again, so without a purge the table would keep every
// key ever sent. Rows another purge is deleting are skipped, so instances
// purging at once neither wait for nor deadlock with each other.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, limit int) (int64, error) {
	n, err := execCount(ctx, s.conn(ctx).Statement.ConnPool, purgeIdempotencyStatement, limit)
	if err != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", classify(err))
	}
	return n, nil
}
