package handlers

import (
	"context"
	"net/http"
	"net/url"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// pathID parses the :id path parameter, percent-decoded (Echo hands over
// the segment as sent), as a canonical UUID; a malformed one is 400.
func pathID(c echo.Context) (uuid.UUID, error) {
	raw, err := url.PathUnescape(c.Param("id"))
	id := uuid.Nil
	if err == nil {
		id, err = parseUUID(raw)
	}
	if err != nil {
		return uuid.Nil, newError("bad_request", "the id in the path must be a UUID")
	}
	return id, nil
}

// getOne serves GET …/{id}: the resource load returns, with its ETag.
func getOne[T any](load func(context.Context, uuid.UUID) (T, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		row, err := load(c.Request().Context(), id)
		if err != nil {
			return err
		}
		return writeTagged(c, http.StatusOK, row)
	}
}

// deleteOne serves DELETE …/{id}: 204 once del succeeded.
func deleteOne(del func(context.Context, uuid.UUID) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		if err := del(c.Request().Context(), id); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}

// patchOne serves PATCH …/{id}: it decodes a merge patch of a T and lets
// update apply it to the locked row, after checking If-Match against the
// row as it is.
func patchOne[T any](update func(context.Context, uuid.UUID, func(*T) ([]string, error)) (T, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		in, err := decodePatch[T](c)
		if err != nil {
			return err
		}
		row, err := update(c.Request().Context(), id, func(cur *T) ([]string, error) {
			if err := checkIfMatch(c.Request(), cur); err != nil {
				return nil, err
			}
			return in.apply(cur), nil
		})
		if err != nil {
			return err
		}
		return writeTagged(c, http.StatusOK, row)
	}
}
