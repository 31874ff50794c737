package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// API key scopes: read may use GET; write may use everything but the
// audit trail; admin may use everything.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
	ScopeAdmin = "admin"
)

// ValidScope reports whether scope is one of the three.
func ValidScope(scope string) bool {
	return scope == ScopeRead || scope == ScopeWrite || scope == ScopeAdmin
}

// CanWrite reports whether the key may change data (write or admin).
func (k APIKey) CanWrite() bool { return k.Scope == ScopeWrite || k.Scope == ScopeAdmin }

// keyPrefix marks Waybill keys, so that a leaked one is recognisable (and
// findable by secret scanners).
const keyPrefix = "wb_"

// HashKey returns the SHA-256 of an API key, the only form stored.
func HashKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// CreateAPIKey makes a new key with name and scope and returns the stored
// record and the key itself, which exists nowhere else afterwards.
func (s *Store) CreateAPIKey(ctx context.Context, name, scope string) (APIKey, string, error) {
	var v ValidationError
	if name == "" {
		v.Add("name", "is required")
	}
	if !ValidScope(scope) {
		v.Add("scope", "must be read, write or admin")
	}
	if err := v.Err(); err != nil {
		return APIKey{}, "", err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return APIKey{}, "", fmt.Errorf("random: %w", err)
	}
	key := keyPrefix + base64.RawURLEncoding.EncodeToString(secret)
	k := APIKey{Name: name, Scope: scope, KeyHash: HashKey(key)}
	if err := s.db.WithContext(ctx).Clauses(clause.Returning{}).Create(&k).Error; err != nil {
		return APIKey{}, "", fmt.Errorf("create api key: %w", classify(err))
	}
	return k, key, nil
}

// keyState is the Store's part for API keys: the revocation listener's
// connection settings and the count of key lookups.
type keyState struct {
	// listen is nil behind PgBouncer, where LISTEN cannot work.
	listen  *pgx.ConnConfig
	lookups atomic.Int64
}

// listenConfig is the revocation listener's connection: the pool's
// settings under an application_name of its own, so that it is told apart
// in pg_stat_activity. Behind PgBouncer there is none.
func listenConfig(cfg *pgx.ConnConfig, o PoolOptions) *pgx.ConnConfig {
	if o.PgBouncer {
		return nil
	}
	c := cfg.Copy()
	c.RuntimeParams["application_name"] = "waybill-listen"
	return c
}

// APIKeyByHash returns the key whose hash is hash, revoked or not. It
// returns ErrNotFound if there is none.
func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (APIKey, error) {
	s.keys.lookups.Add(1)
	var k APIKey
	err := s.db.WithContext(ctx).Where("key_hash = ?", hash).Take(&k).Error
	if err != nil {
		return APIKey{}, fmt.Errorf("api key: %w", classify(err))
	}
	return k, nil
}

// APIKeys lists every key, newest first.
func (s *Store) APIKeys(ctx context.Context) ([]APIKey, error) {
	var keys []APIKey
	if err := s.db.WithContext(ctx).Order("created_at DESC, id DESC").Find(&keys).Error; err != nil {
		return nil, fmt.Errorf("api keys: %w", classify(err))
	}
	return keys, nil
}

// RevokeAPIKey marks the key revoked (now, by the database's clock) and,
// in the same transaction, notifies every process listening with
// ListenKeyRevocations, so that none trusts the key a moment longer than
// it takes the notification to arrive. It returns ErrNotFound if there is
// no such key or it is already revoked. Every revocation must go through
// here: a key revoked by hand in SQL is only forgotten when caches expire.
// With an actor in ctx it records the activity api_key.revoke.
func (s *Store) RevokeAPIKey(ctx context.Context, id uuid.UUID) (APIKey, error) {
	var k APIKey
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&k).Clauses(clause.Returning{}).
			Where("id = ? AND revoked_at IS NULL", id).
			Update("revoked_at", clause.Expr{SQL: "now()"})
		if res.Error != nil {
			return classify(res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		err := recordActivity(ctx, tx.Statement.ConnPool, AuditEvent{Action: "api_key.revoke", ResourceType: "api_key",
			ResourceID: id.String(), Metadata: map[string]any{"name": k.Name}})
		if err != nil {
			return err
		}
		return classify(exec(ctx, tx.Statement.ConnPool, notifyRevocation, keyRevocations, id.String()))
	})
	if err != nil {
		return APIKey{}, fmt.Errorf("revoke api key %s: %w", id, err)
	}
	return k, nil
}

// APIKeyLookups is how many times APIKeyByHash and APIKeyOnHealthConn
// have asked the database.
func (s *Store) APIKeyLookups() int64 { return s.keys.lookups.Load() }

// Active reports whether the key may still be used.
func (k APIKey) Active() bool { return k.RevokedAt == nil }

// TouchAPIKey records that the key was used now (the database's clock).
func (s *Store) TouchAPIKey(ctx context.Context, id uuid.UUID) error {
	return classify(s.db.WithContext(ctx).Model(&APIKey{}).Where("id = ?", id).
		Update("last_used_at", clause.Expr{SQL: "now()"}).Error)
}

// apiKeyByHashStatement reads what authenticating needs of the key whose
// hash is $1.
var apiKeyByHashStatement = statement{name: "api key by hash",
	sql: `SELECT id, scope, key_hash, revoked_at FROM api_keys WHERE key_hash = $1`}

// notifyRevocation tells every instance listening on the channel $1 that
// the key $2 is revoked, when the transaction commits.
var notifyRevocation = statement{name: "notify revocation", sql: `SELECT pg_notify($1, $2)`}

// APIKeyOnHealthConn is APIKeyByHash on the health connection, for the
// health route, which must answer even when the pool is exhausted.
func (s *Store) APIKeyOnHealthConn(ctx context.Context, hash []byte) (APIKey, error) {
	s.keys.lookups.Add(1)
	var k APIKey
	n, err := s.find(ctx, s.health, apiKeyByHashStatement, &k, hash)
	switch {
	case err != nil:
		return APIKey{}, fmt.Errorf("api key: %w", classify(err))
	case n == 0:
		return APIKey{}, fmt.Errorf("api key: %w", ErrNotFound)
	}
	return k, nil
}
