package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

// addressPatch is the body of PATCH /v1/addresses/{id}.
type addressPatch struct {
	EasyPostID      Optional[string]      `json:"easypost_id"`
	Name            Optional[string]      `json:"name"`
	Company         Optional[string]      `json:"company"`
	Street1         Optional[string]      `json:"street1"`
	Street2         Optional[string]      `json:"street2"`
	City            Optional[string]      `json:"city"`
	State           Optional[string]      `json:"state"`
	Zip             Optional[string]      `json:"zip"`
	Country         Optional[string]      `json:"country"`
	Phone           Optional[string]      `json:"phone"`
	Email           Optional[string]      `json:"email"`
	Residential     Optional[bool]        `json:"residential"`
	Verifications   Optional[models.JSON] `json:"verifications"`
	CarrierFacility Optional[string]      `json:"carrier_facility"`
	FederalTaxID    Optional[string]      `json:"federal_tax_id"`
	StateTaxID      Optional[string]      `json:"state_tax_id"`
}

func (in *addressPatch) apply(a *models.Address) ([]string, error) {
	var p patch
	nullable(&p, in.EasyPostID, &a.EasyPostID, "easypost_id")
	nullable(&p, in.Name, &a.Name, "name")
	nullable(&p, in.Company, &a.Company, "company")
	required(&p, in.Street1, &a.Street1, "street1", "street1")
	nullable(&p, in.Street2, &a.Street2, "street2")
	required(&p, in.City, &a.City, "city", "city")
	nullable(&p, in.State, &a.State, "state")
	required(&p, in.Zip, &a.Zip, "zip", "zip")
	required(&p, in.Country, &a.Country, "country", "country")
	nullable(&p, in.Phone, &a.Phone, "phone")
	nullable(&p, in.Email, &a.Email, "email")
	nullable(&p, in.Residential, &a.Residential, "is_residential")
	document(&p, in.Verifications, &a.Verifications, "verifications")
	nullable(&p, in.CarrierFacility, &a.CarrierFacility, "carrier_facility")
	nullable(&p, in.FederalTaxID, &a.FederalTaxID, "federal_tax_id")
	nullable(&p, in.StateTaxID, &a.StateTaxID, "state_tax_id")
	return p.result()
}

// createAddress serves POST /v1/addresses.
func createAddress(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in addressInput
		if err := decode(c, &in, false); err != nil {
			return err
		}
		a := in.model()
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
		var in addressPatch
		if err := decode(c, &in, true); err != nil {
			return err
		}
		a, err := store.UpdateAddress(c.Request().Context(), id, func(cur models.AddressUsage, a *models.Address) ([]string, error) {
			if err := checkIfMatch(c.Request(), cur); err != nil {
				return nil, err
			}
			return in.apply(a)
		})
		if err != nil {
			return err
		}
		return writeTagged(c, http.StatusOK, a)
	}
}
