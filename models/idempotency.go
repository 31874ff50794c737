package models

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
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

// ClaimIdempotencyKey records req as in flight and returns its record, or,
// when the key was used before, returns the stored response to replay
// (claimed is nil), ErrIdempotencyMismatch if that use was a different
// request, or ErrIdempotencyInFlight while it is still running. Expired
// records (24 h) are replaced, and so is an in-flight record untouched for
// staleAfter: its request died without finishing.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, req IdempotentRequest, staleAfter time.Duration) (claimed, replay *IdempotencyKey, err error) {
	db := s.db.WithContext(ctx)
	// A Session makes the condition safe to reuse for several statements.
	match := db.Where("api_key_id = ? AND key = ?", req.APIKeyID, req.Key).Session(&gorm.Session{})
	if err := match.Where("expires_at < now()").Delete(&IdempotencyKey{}).Error; err != nil {
		return nil, nil, classify(err)
	}
	rec := IdempotencyKey{APIKeyID: req.APIKeyID, Key: req.Key, Method: req.Method, Path: req.Path, RequestHash: req.Hash}
	res := db.Clauses(clause.OnConflict{DoNothing: true}, clause.Returning{}).Create(&rec)
	if res.Error != nil {
		return nil, nil, fmt.Errorf("claim idempotency key: %w", classify(res.Error))
	}
	if res.RowsAffected == 1 {
		return &rec, nil, nil
	}
	var prev IdempotencyKey
	if err := match.Take(&prev).Error; err != nil {
		return nil, nil, fmt.Errorf("idempotency key: %w", classify(err))
	}
	switch {
	case prev.Method != req.Method || prev.Path != req.Path || !bytes.Equal(prev.RequestHash, req.Hash):
		return nil, nil, ErrIdempotencyMismatch
	case prev.StatusCode != nil:
		return nil, &prev, nil
	}
	// Still in flight, unless it was abandoned: then take it over.
	take := db.Model(&prev).Clauses(clause.Returning{}).
		Where("status_code IS NULL AND updated_at < now() - make_interval(secs => ?)", staleAfter.Seconds()).
		Update("request_hash", req.Hash)
	if take.Error != nil {
		return nil, nil, classify(take.Error)
	}
	if take.RowsAffected == 1 {
		return &prev, nil, nil
	}
	return nil, nil, ErrIdempotencyInFlight
}

// CompleteIdempotencyKey stores the response of a claimed request, for
// replay.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, id uuid.UUID, status int, headers JSON, body []byte) error {
	err := s.db.WithContext(ctx).Model(&IdempotencyKey{}).Where("id = ?", id).
		Updates(map[string]any{"status_code": status, "response_headers": headers, "response_body": body}).Error
	return classify(err)
}

// ReleaseIdempotencyKey forgets a claimed request that did not complete
// (or whose answer is not worth keeping), so that a retry runs afresh.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, id uuid.UUID) error {
	return classify(s.db.WithContext(ctx).Where("id = ? AND status_code IS NULL", id).Delete(&IdempotencyKey{}).Error)
}
