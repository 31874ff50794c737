package handlers

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

// pathID parses the :id path parameter; a malformed one is 400.
func pathID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, newError("bad_request", "id %q is not a UUID", c.Param("id"))
	}
	return id, nil
}

// getShipment serves GET /v1/shipments/:id.
func getShipment(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		sh, err := store.Shipment(c.Request().Context(), id)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, sh)
	}
}
