package jsonenc

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/waybill/waybill/models"
)

// The corpus is what the hot routes write: one shipment with every field
// set and every nested object expanded, and a list page of 20 of them in
// the wrapper the handlers build (pageResponse: a map with the items,
// has_more and the cursors). The jsonb documents are in PostgreSQL's text
// form, with the spaces encoding/json strips when it compacts them.

func ptr[T any](v T) *T { return &v }

func fullAddress(n int, at time.Time) *models.Address {
	return &models.Address{
		ID:              uuid.MustParse(fmt.Sprintf("0b7e5c1a-8f1e-4c53-9a43-%012d", n)),
		EasyPostID:      ptr(fmt.Sprintf("adr_%032d", n)),
		Name:            ptr("Jane Doe"),
		Company:         ptr("Acme & Sons <Shipping>"),
		Street1:         "417 Montgomery Street",
		Street2:         ptr("Floor 5"),
		City:            "San Francisco",
		State:           ptr("CA"),
		Zip:             "94104",
		Country:         "US",
		Phone:           ptr("415-528-7555"),
		Email:           ptr("jane.doe@example.com"),
		Residential:     ptr(false),
		Verifications:   models.JSON(`{"delivery": {"errors": [], "details": {"latitude": 37.79342, "longitude": -122.40288, "time_zone": "America/Los_Angeles"}, "success": true}, "zip4": {"errors": [], "details": null, "success": true}}`),
		CarrierFacility: ptr("SFO1"),
		FederalTaxID:    ptr("12-3456789"),
		StateTaxID:      ptr("CA-998877"),
		CreatedAt:       models.Time{Time: at},
		UpdatedAt:       models.Time{Time: at.Add(time.Minute)},
	}
}

func fullShipment(n int) models.Shipment {
	at := time.Date(2026, 11, 28, 17, 39, 55, 123456000, time.UTC).Add(-time.Duration(n) * time.Hour)
	id := func(k int) uuid.UUID { return uuid.MustParse(fmt.Sprintf("5f0c2d3e-1b2a-4c3d-8e4f-%06d%06d", n, k)) }
	from, to, ret, buyer := fullAddress(4*n, at), fullAddress(4*n+1, at), fullAddress(4*n+2, at), fullAddress(4*n+3, at)
	parcel := &models.Parcel{
		ID: id(1), EasyPostID: ptr("prcl_c4e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5"),
		Length: ptr(20.2), Width: ptr(10.9), Height: ptr(5.0), Weight: 65.9,
		PredefinedPackage: ptr("Parcel"), MassUnit: "oz", DistanceUnit: "in",
		CreatedAt: models.Time{Time: at}, UpdatedAt: models.Time{Time: at},
	}
	customs := &models.CustomsInfo{
		ID: id(2), EasyPostID: ptr("cstinfo_9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
		ContentsType: "merchandise", ContentsExplanation: ptr("Hand-made ceramics"),
		CustomsCertify: true, CustomsSigner: ptr("Jane Doe"), NonDeliveryOption: "return",
		RestrictionType: "none", RestrictionComments: ptr("none"),
		CustomsItems: models.JSON(`[{"value": 23.25, "weight": 21.5, "currency": "USD", "quantity": 2, "description": "Ceramic mug", "hs_tariff_number": "691200", "origin_country": "US"}, {"value": 10.00, "weight": 8, "currency": "USD", "quantity": 1, "description": "Tea towel", "hs_tariff_number": "630260", "origin_country": "US"}]`),
		EELPFC:       ptr("NOEEI 30.37(a)"),
		CreatedAt:    models.Time{Time: at}, UpdatedAt: models.Time{Time: at},
	}
	return models.Shipment{
		ID: id(0), EasyPostID: ptr("shp_0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
		Mode: "test", Reference: ptr(fmt.Sprintf("order-%06d", n)), Status: models.StatusInTransit,
		TrackingCode: ptr("9400100000000000000000"), Carrier: ptr("USPS"), Service: ptr("Priority"),
		FromAddressID: from.ID, ToAddressID: to.ID, ReturnAddressID: &ret.ID, BuyerAddressID: &buyer.ID,
		ParcelID: &parcel.ID, CustomsInfoID: &customs.ID, SelectedRateID: ptr("rate_5d4c3b2a19087f6e"),
		Rates:           models.JSON(`[{"id": "rate_5d4c3b2a19087f6e", "rate": "7.58", "carrier": "USPS", "service": "Priority", "currency": "USD", "delivery_days": 2}, {"id": "rate_6e5d4c3b2a19087f", "rate": "26.35", "carrier": "USPS", "service": "Express", "currency": "USD", "delivery_days": 1}, {"id": "rate_7f6e5d4c3b2a1908", "rate": "5.93", "carrier": "USPS", "service": "GroundAdvantage", "currency": "USD", "delivery_days": 4}]`),
		BaseCost:        ptr(models.Money(758)),
		TotalCost:       ptr(models.Money(812)),
		Currency:        "USD",
		DeliveryDays:    ptr(2),
		DeliveryDate:    &models.Time{Time: at.Add(48 * time.Hour)},
		EstDeliveryDate: &models.Time{Time: at.Add(40 * time.Hour)},
		TrackingDetails: models.JSON(`[{"status": "pre_transit", "message": "Pre-Shipment Info Sent to USPS", "datetime": "2026-11-28T17:39:55Z", "tracking_location": {"city": null, "state": null, "country": null, "zip": null}}, {"status": "in_transit", "message": "Arrived at USPS Facility", "datetime": "2026-11-29T07:12:00Z", "tracking_location": {"city": "SAN FRANCISCO", "state": "CA", "country": "US", "zip": "94107"}}]`),
		Weight:          ptr(65.9),
		SignedBy:        ptr("J. Doe"),
		BatchID:         ptr("batch_0123456789abcdef"),
		BatchStatus:     ptr("created"),
		Metadata:        models.JSON(`{"channel": "web", "order_id": 12345, "gift": false}`),
		CreatedAt:       models.Time{Time: at},
		UpdatedAt:       models.Time{Time: at.Add(time.Minute)},
		FromAddress:     from, ToAddress: to, ReturnAddress: ret, BuyerAddress: buyer,
		Parcel: parcel, CustomsInfo: customs,
	}
}

// listPage is a page of 20 expanded shipments as pageResponse builds it.
func listPage() map[string]any {
	items := make([]models.Shipment, 20)
	for i := range items {
		items[i] = fullShipment(i)
	}
	return map[string]any{
		"shipments":       items,
		"has_more":        true,
		"next_cursor":     "b2AAYBUkiH0hX5DCMFS0bSaVg8eS4S8",
		"previous_cursor": "bgAGBHs3zD1cXwwtPhsqTD2OTwAAAAA",
	}
}
