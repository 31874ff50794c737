package handlers

import (
	"context"
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
// write-scoped key for anything but GET and HEAD (403).
func authenticate(store *models.Store, log *logrus.Logger) echo.MiddlewareFunc {
	touched := &lastUse{store: store, log: log, seen: map[uuid.UUID]time.Time{}}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			key, err := apiKey(c, store)
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
func apiKey(c echo.Context, store *models.Store) (models.APIKey, error) {
	unauthorized := newError("unauthorized", "a valid API key is required: Authorization: Bearer <key>")
	scheme, token, ok := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return models.APIKey{}, unauthorized
	}
	hash := models.HashKey(strings.TrimSpace(token))
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
	return k, nil
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
