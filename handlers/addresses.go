package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

// createAddress serves POST /v1/addresses.
func createAddress(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		a := new(models.Address)
		if err := decode(c, a); err != nil {
			return err
		}
		if err := store.CreateAddress(c.Request().Context(), a); err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderLocation, "/v1/addresses/"+a.ID.String())
		return writeTagged(c, http.StatusCreated, models.AddressUsage{Address: *a})
	}
}

// listAddresses serves GET /v1/addresses.
func listAddresses(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		q := newQuery(c.QueryParams(), append(listParams, "country", "state", "city")...)
		f := models.AddressFilter{Page: q.page(), Country: q.str("country"), State: q.str("state"), City: q.str("city")}
		if err := q.Err(); err != nil {
			return err
		}
		rows, more, err := store.Addresses(c.Request().Context(), f)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, pageResponse("addresses", rows, more, f.Page))
	}
}

// patchAddress serves PATCH /v1/addresses/{id}: a JSON merge patch,
// conditional on If-Match against the address with its usage.
func patchAddress(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		in, err := decodePatch[models.Address](c)
		if err != nil {
			return err
		}
		a, err := store.UpdateAddress(c.Request().Context(), id, func(cur models.AddressUsage, a *models.Address) ([]string, error) {
			if err := checkIfMatch(c.Request(), cur); err != nil {
				return nil, err
			}
			return in.apply(a), nil
		})
		if err != nil {
			return err
		}
		return writeTagged(c, http.StatusOK, a)
	}
}
