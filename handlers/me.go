package handlers

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// Me is GET /v1/me's answer: the API key the request was made with, so a
// client (the console) can tell what it may do. It never holds the key's
// secret, nor its hash.
type Me struct {
	ID    uuid.UUID `json:"id"`
	Name  string    `json:"name"`
	Scope string    `json:"scope"`
}

// me serves GET /v1/me: the id, name and scope of the request's API key,
// for any scope; it takes no query parameter.
func me(c echo.Context) error {
	if err := newQuery(c.QueryParams()).Err(); err != nil {
		return err
	}
	key, err := requestAPIKey(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, Me{ID: key.ID, Name: key.Name, Scope: key.Scope})
}
