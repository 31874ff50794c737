package handlers

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

const ctxAPIKey = "waybill.api_key"

// authenticate requires Authorization: Bearer <key> with a known,
// unrevoked key (401 otherwise, the same answer for all three cases), and a
// write-scoped key for anything but GET and HEAD (403).
func authenticate(store *models.Store) echo.MiddlewareFunc {
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
