package handlers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"

	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

const ctxAPIKey = "waybill.api_key"

// authenticate requires Authorization: Bearer <key> with a known,
// unrevoked key (401 otherwise, the same answer for all three cases), and a
// write-scoped key for anything but GET and HEAD (403). A valid key is
// remembered for cacheTTL, so most requests cost no lookup.
func authenticate(store *models.Store, log *logrus.Logger, cacheTTL time.Duration) echo.MiddlewareFunc {
	touched := &lastUse{store: store, log: log, seen: map[uuid.UUID]time.Time{}}
	keys := &keyCache{ttl: cacheTTL, keys: map[[sha256.Size]byte]cachedKey{}}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			key, err := apiKey(c, store, keys)
			if err != nil {
				return err
			}
			m := c.Request().Method
			if key.Scope != models.ScopeWrite && m != http.MethodGet && m != http.MethodHead {
				return newError("forbidden", "this API key's scope is %s; %s needs write", key.Scope, m)
			}
			c.Set(ctxAPIKey, key)
			touched.record(key.ID)
			return next(c)
		}
	}
}

// apiKey returns the request's valid API key, or an unauthorized error.
// Store errors other than "not found" (the database being down) pass
// through, so they become 503, not 401.
func apiKey(c echo.Context, store *models.Store, keys *keyCache) (models.APIKey, error) {
	unauthorized := newError("unauthorized", "a valid API key is required: Authorization: Bearer <key>")
	scheme, token, ok := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return models.APIKey{}, unauthorized
	}
	hash := models.HashKey(strings.TrimSpace(token))
	if k, ok := keys.get(hash); ok {
		return k, nil
	}
	k, err := store.APIKeyByHash(c.Request().Context(), hash)
	if errors.Is(err, models.ErrNotFound) {
		return models.APIKey{}, unauthorized
	}
	if err != nil {
		return models.APIKey{}, err
	}
	// The lookup matched on the hash already; compare again in constant
	// time so no code path depends on how much of a hash matched.
	if subtle.ConstantTimeCompare(k.KeyHash, hash) != 1 || !k.Active() {
		return models.APIKey{}, unauthorized
	}
	keys.put(hash, k)
	return k, nil
}

// keyCache remembers valid keys by hash for ttl. Only keys the database
// confirmed are kept, so unknown keys cannot fill it, and a revoked key
// stops working in this process at most ttl after its revocation.
type keyCache struct {
	ttl  time.Duration
	mu   sync.Mutex
	keys map[[sha256.Size]byte]cachedKey
}

type cachedKey struct {
	key   models.APIKey
	until time.Time
}

func (kc *keyCache) get(hash []byte) (models.APIKey, bool) {
	if kc.ttl <= 0 {
		return models.APIKey{}, false
	}
	kc.mu.Lock()
	defer kc.mu.Unlock()
	e, ok := kc.keys[[sha256.Size]byte(hash)]
	if !ok || time.Now().After(e.until) {
		return models.APIKey{}, false
	}
	return e.key, true
}

func (kc *keyCache) put(hash []byte, k models.APIKey) {
	if kc.ttl <= 0 {
		return
	}
	now := time.Now()
	kc.mu.Lock()
	defer kc.mu.Unlock()
	for h, e := range kc.keys { // expired entries go, so the map stays as small as the keys in use
		if now.After(e.until) {
			delete(kc.keys, h)
		}
	}
	kc.keys[[sha256.Size]byte(hash)] = cachedKey{key: k, until: now.Add(kc.ttl)}
}

// lastUse keeps api_keys.last_used_at current to the minute without a
// write per request: each process writes a key's time at most once a
// minute, in the background.
type lastUse struct {
	store *models.Store
	log   *logrus.Logger
	mu    sync.Mutex
	seen  map[uuid.UUID]time.Time
}

func (l *lastUse) record(id uuid.UUID) {
	now := time.Now()
	l.mu.Lock()
	due := now.Sub(l.seen[id]) >= time.Minute
	if due {
		l.seen[id] = now
	}
	l.mu.Unlock()
	if !due {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.store.TouchAPIKey(ctx, id); err != nil {
			l.log.WithField("error", err.Error()).Debug("api key last_used_at not recorded")
		}
	}()
}
