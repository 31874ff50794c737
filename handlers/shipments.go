package handlers

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

// addressInput is an address in a request body.
type addressInput struct {
	EasyPostID      *string     `json:"easypost_id"`
	Name            *string     `json:"name"`
	Company         *string     `json:"company"`
	Street1         string      `json:"street1"`
	Street2         *string     `json:"street2"`
	City            string      `json:"city"`
	State           *string     `json:"state"`
	Zip             string      `json:"zip"`
	Country         *string     `json:"country"`
	Phone           *string     `json:"phone"`
	Email           *string     `json:"email"`
	Residential     *bool       `json:"residential"`
	Verifications   models.JSON `json:"verifications"`
	CarrierFacility *string     `json:"carrier_facility"`
	FederalTaxID    *string     `json:"federal_tax_id"`
	StateTaxID      *string     `json:"state_tax_id"`
}

func (in *addressInput) model() *models.Address {
	if in == nil {
		return nil
	}
	return &models.Address{
		EasyPostID: in.EasyPostID, Name: in.Name, Company: in.Company, Street1: in.Street1, Street2: in.Street2,
		City: in.City, State: in.State, Zip: in.Zip, Country: deref(in.Country, "US"), Phone: in.Phone,
		Email: in.Email, Residential: in.Residential, Verifications: in.Verifications,
		CarrierFacility: in.CarrierFacility, FederalTaxID: in.FederalTaxID, StateTaxID: in.StateTaxID,
	}
}

// parcelInput is a parcel in a request body.
type parcelInput struct {
	EasyPostID        *string  `json:"easypost_id"`
	Length            *float64 `json:"length"`
	Width             *float64 `json:"width"`
	Height            *float64 `json:"height"`
	Weight            float64  `json:"weight"`
	PredefinedPackage *string  `json:"predefined_package"`
	MassUnit          *string  `json:"mass_unit"`
	DistanceUnit      *string  `json:"distance_unit"`
}

func (in *parcelInput) model() *models.Parcel {
	if in == nil {
		return nil
	}
	return &models.Parcel{
		EasyPostID: in.EasyPostID, Length: in.Length, Width: in.Width, Height: in.Height, Weight: in.Weight,
		PredefinedPackage: in.PredefinedPackage, MassUnit: deref(in.MassUnit, "oz"), DistanceUnit: deref(in.DistanceUnit, "in"),
	}
}

// customsInput is a customs declaration in a request body.
type customsInput struct {
	EasyPostID          *string     `json:"easypost_id"`
	ContentsType        *string     `json:"contents_type"`
	ContentsExplanation *string     `json:"contents_explanation"`
	CustomsCertify      *bool       `json:"customs_certify"`
	CustomsSigner       *string     `json:"customs_signer"`
	NonDeliveryOption   *string     `json:"non_delivery_option"`
	RestrictionType     *string     `json:"restriction_type"`
	RestrictionComments *string     `json:"restriction_comments"`
	CustomsItems        models.JSON `json:"customs_items"`
	EELPFC              *string     `json:"eel_pfc"`
}

func (in *customsInput) model() *models.CustomsInfo {
	if in == nil {
		return nil
	}
	return &models.CustomsInfo{
		EasyPostID: in.EasyPostID, ContentsType: deref(in.ContentsType, "merchandise"),
		ContentsExplanation: in.ContentsExplanation, CustomsCertify: deref(in.CustomsCertify, true),
		CustomsSigner: in.CustomsSigner, NonDeliveryOption: deref(in.NonDeliveryOption, "return"),
		RestrictionType: deref(in.RestrictionType, "none"), RestrictionComments: in.RestrictionComments,
		CustomsItems: in.CustomsItems, EELPFC: in.EELPFC,
	}
}

// deref returns *p, or def when p is nil: the column default, applied
// here so validation sees the value that will be stored.
func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// shipmentCreate is the body of POST /v1/shipments.
type shipmentCreate struct {
	EasyPostID      *string       `json:"easypost_id"`
	Mode            *string       `json:"mode"`
	Reference       *string       `json:"reference"`
	Status          *string       `json:"status"`
	TrackingCode    *string       `json:"tracking_code"`
	Carrier         *string       `json:"carrier"`
	Service         *string       `json:"service"`
	FromAddress     *addressInput `json:"from_address"`
	FromAddressID   *uuid.UUID    `json:"from_address_id"`
	ToAddress       *addressInput `json:"to_address"`
	ToAddressID     *uuid.UUID    `json:"to_address_id"`
	ReturnAddress   *addressInput `json:"return_address"`
	ReturnAddressID *uuid.UUID    `json:"return_address_id"`
	BuyerAddress    *addressInput `json:"buyer_address"`
	BuyerAddressID  *uuid.UUID    `json:"buyer_address_id"`
	Parcel          *parcelInput  `json:"parcel"`
	CustomsInfo     *customsInput `json:"customs_info"`
	SelectedRateID  *string       `json:"selected_rate_id"`
	Rates           models.JSON   `json:"rates"`
	BaseCost        *models.Money `json:"base_cost"`
	TotalCost       *models.Money `json:"total_cost"`
	Currency        *string       `json:"currency"`
	DeliveryDays    *int          `json:"delivery_days"`
	DeliveryDate    *models.Time  `json:"delivery_date"`
	EstDeliveryDate *models.Time  `json:"est_delivery_date"`
	TrackingDetails models.JSON   `json:"tracking_details"`
	Weight          *float64      `json:"weight"`
	SignedBy        *string       `json:"signed_by"`
	BatchID         *string       `json:"batch_id"`
	BatchStatus     *string       `json:"batch_status"`
	Metadata        models.JSON   `json:"metadata"`
}

func (in *shipmentCreate) model() *models.Shipment {
	return &models.Shipment{
		EasyPostID: in.EasyPostID, Mode: deref(in.Mode, "test"), Reference: in.Reference,
		Status: deref(in.Status, models.StatusUnknown), TrackingCode: in.TrackingCode, Carrier: in.Carrier,
		Service: in.Service, FromAddress: in.FromAddress.model(), FromAddressID: deref(in.FromAddressID, uuid.Nil),
		ToAddress: in.ToAddress.model(), ToAddressID: deref(in.ToAddressID, uuid.Nil),
		ReturnAddress: in.ReturnAddress.model(), ReturnAddressID: in.ReturnAddressID,
		BuyerAddress: in.BuyerAddress.model(), BuyerAddressID: in.BuyerAddressID,
		Parcel: in.Parcel.model(), CustomsInfo: in.CustomsInfo.model(), SelectedRateID: in.SelectedRateID,
		Rates: in.Rates, BaseCost: in.BaseCost, TotalCost: in.TotalCost, Currency: deref(in.Currency, "USD"),
		DeliveryDays: in.DeliveryDays, DeliveryDate: in.DeliveryDate, EstDeliveryDate: in.EstDeliveryDate,
		TrackingDetails: in.TrackingDetails, Weight: in.Weight, SignedBy: in.SignedBy, BatchID: in.BatchID,
		BatchStatus: in.BatchStatus, Metadata: in.Metadata,
	}
}

// shipmentPatch is the body of PATCH /v1/shipments/{id}: a JSON merge
// patch of the shipment's own fields (nested objects change through their
// own routes).
type shipmentPatch struct {
	EasyPostID      Optional[string]       `json:"easypost_id"`
	Mode            Optional[string]       `json:"mode"`
	Reference       Optional[string]       `json:"reference"`
	Status          Optional[string]       `json:"status"`
	TrackingCode    Optional[string]       `json:"tracking_code"`
	Carrier         Optional[string]       `json:"carrier"`
	Service         Optional[string]       `json:"service"`
	FromAddressID   Optional[uuid.UUID]    `json:"from_address_id"`
	ToAddressID     Optional[uuid.UUID]    `json:"to_address_id"`
	ReturnAddressID Optional[uuid.UUID]    `json:"return_address_id"`
	BuyerAddressID  Optional[uuid.UUID]    `json:"buyer_address_id"`
	SelectedRateID  Optional[string]       `json:"selected_rate_id"`
	Rates           Optional[models.JSON]  `json:"rates"`
	BaseCost        Optional[models.Money] `json:"base_cost"`
	TotalCost       Optional[models.Money] `json:"total_cost"`
	Currency        Optional[string]       `json:"currency"`
	DeliveryDays    Optional[int]          `json:"delivery_days"`
	DeliveryDate    Optional[models.Time]  `json:"delivery_date"`
	EstDeliveryDate Optional[models.Time]  `json:"est_delivery_date"`
	TrackingDetails Optional[models.JSON]  `json:"tracking_details"`
	Weight          Optional[float64]      `json:"weight"`
	SignedBy        Optional[string]       `json:"signed_by"`
	BatchID         Optional[string]       `json:"batch_id"`
	BatchStatus     Optional[string]       `json:"batch_status"`
	Metadata        Optional[models.JSON]  `json:"metadata"`
}

func (in *shipmentPatch) apply(sh *models.Shipment) ([]string, error) {
	var p patch
	nullable(&p, in.EasyPostID, &sh.EasyPostID, "easypost_id")
	required(&p, in.Mode, &sh.Mode, "mode", "mode")
	nullable(&p, in.Reference, &sh.Reference, "reference")
	required(&p, in.Status, &sh.Status, "status", "status")
	nullable(&p, in.TrackingCode, &sh.TrackingCode, "tracking_code")
	nullable(&p, in.Carrier, &sh.Carrier, "carrier")
	nullable(&p, in.Service, &sh.Service, "service")
	required(&p, in.FromAddressID, &sh.FromAddressID, "from_address_id", "from_address_id")
	required(&p, in.ToAddressID, &sh.ToAddressID, "to_address_id", "to_address_id")
	nullable(&p, in.ReturnAddressID, &sh.ReturnAddressID, "return_address_id")
	nullable(&p, in.BuyerAddressID, &sh.BuyerAddressID, "buyer_address_id")
	nullable(&p, in.SelectedRateID, &sh.SelectedRateID, "selected_rate_id")
	document(&p, in.Rates, &sh.Rates, "rates_data")
	nullable(&p, in.BaseCost, &sh.BaseCost, "base_cost")
	nullable(&p, in.TotalCost, &sh.TotalCost, "total_cost")
	required(&p, in.Currency, &sh.Currency, "currency", "currency")
	nullable(&p, in.DeliveryDays, &sh.DeliveryDays, "delivery_days")
	nullable(&p, in.DeliveryDate, &sh.DeliveryDate, "delivery_date")
	nullable(&p, in.EstDeliveryDate, &sh.EstDeliveryDate, "est_delivery_date")
	document(&p, in.TrackingDetails, &sh.TrackingDetails, "tracking_details")
	nullable(&p, in.Weight, &sh.Weight, "weight")
	nullable(&p, in.SignedBy, &sh.SignedBy, "signed_by")
	nullable(&p, in.BatchID, &sh.BatchID, "batch_id")
	nullable(&p, in.BatchStatus, &sh.BatchStatus, "batch_status")
	document(&p, in.Metadata, &sh.Metadata, "extra_metadata")
	return p.result()
}

// createShipment serves POST /v1/shipments.
func createShipment(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in shipmentCreate
		if err := decode(c, &in, false); err != nil {
			return err
		}
		sh, err := store.CreateShipment(c.Request().Context(), in.model())
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderLocation, "/v1/shipments/"+sh.ID.String())
		return writeTagged(c, http.StatusCreated, sh)
	}
}

// listShipments serves GET /v1/shipments.
func listShipments(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		q := newQuery(c.QueryParams(), append(listParams, "status", "carrier", "service", "tracking_code", "reference", "mode")...)
		f := models.ShipmentFilter{
			Page:         q.page(),
			Statuses:     q.listOf("status", models.Statuses),
			Carrier:      q.str("carrier"),
			Service:      q.str("service"),
			TrackingCode: q.str("tracking_code"),
			Reference:    q.str("reference"),
			Mode:         q.oneOf("mode", models.Modes),
		}
		if err := q.Err(); err != nil {
			return err
		}
		rows, more, err := store.Shipments(c.Request().Context(), f)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, pageResponse("shipments", rows, more, f.Page))
	}
}

// eventInput is the body of POST /v1/shipments/{id}/events.
type eventInput struct {
	Status           string       `json:"status"`
	Message          *string      `json:"message"`
	Description      *string      `json:"description"`
	CarrierStatus    *string      `json:"carrier_status"`
	TrackingLocation models.JSON  `json:"tracking_location"`
	EventDatetime    *models.Time `json:"event_datetime"`
}

// addEvent serves POST /v1/shipments/{id}/events.
func addEvent(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		var in eventInput
		if err := decode(c, &in, false); err != nil {
			return err
		}
		ev := models.ShipmentEvent{
			ShipmentID: id, Status: in.Status, Message: in.Message, Description: in.Description,
			CarrierStatus: in.CarrierStatus, TrackingLocation: in.TrackingLocation,
			EventDatetime: deref(in.EventDatetime, models.Time{}),
		}
		if err := store.AddEvent(c.Request().Context(), &ev); err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, ev)
	}
}

// listEvents serves GET /v1/shipments/{id}/events, oldest first.
func listEvents(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		q := newQuery(c.QueryParams(), "page_size", "after_id")
		size, after := q.int("page_size", 100, 1, 100), q.id("after_id")
		if err := q.Err(); err != nil {
			return err
		}
		evs, more, err := store.Events(c.Request().Context(), id, size, after)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, listResponse("events", evs, more))
	}
}

// metricsInput is the body of PUT /v1/shipments/{id}/metrics: the whole row.
type metricsInput struct {
	CreationToPurchaseTime *float64      `json:"creation_to_purchase_time"`
	PurchaseToLabelTime    *float64      `json:"purchase_to_label_time"`
	TotalProcessingTime    *float64      `json:"total_processing_time"`
	BaseRate               *models.Money `json:"base_rate"`
	FuelSurcharge          *models.Money `json:"fuel_surcharge"`
	InsuranceCost          *models.Money `json:"insurance_cost"`
	TrackingCost           *models.Money `json:"tracking_cost"`
	OtherFees              *models.Money `json:"other_fees"`
	TotalCost              *models.Money `json:"total_cost"`
	Currency               *string       `json:"currency"`
	EstimatedDeliveryDays  *int          `json:"estimated_delivery_days"`
	ActualDeliveryDays     *int          `json:"actual_delivery_days"`
	DeliveryDelayDays      *int          `json:"delivery_delay_days"`
	WasOnTime              *bool         `json:"was_on_time"`
	TrackingUpdatesCount   int           `json:"tracking_updates_count"`
	ExceptionEventsCount   int           `json:"exception_events_count"`
	DeliveryAttempts       int           `json:"delivery_attempts"`
	OriginCountry          *string       `json:"origin_country"`
	DestinationCountry     *string       `json:"destination_country"`
	DistanceKm             *float64      `json:"distance_km"`
	Carrier                *string       `json:"carrier"`
	Service                *string       `json:"service"`
	PackageType            *string       `json:"package_type"`
	WeightKg               *float64      `json:"weight_kg"`
}

// putMetrics serves PUT /v1/shipments/{id}/metrics: 201 when it created
// the row, 200 when it replaced it.
func putMetrics(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		var in metricsInput
		if err := decode(c, &in, false); err != nil {
			return err
		}
		m := models.ShipmentMetrics{
			ShipmentID: id, CreationToPurchaseTime: in.CreationToPurchaseTime, PurchaseToLabelTime: in.PurchaseToLabelTime,
			TotalProcessingTime: in.TotalProcessingTime, BaseRate: in.BaseRate, FuelSurcharge: in.FuelSurcharge,
			InsuranceCost: in.InsuranceCost, TrackingCost: in.TrackingCost, OtherFees: in.OtherFees, TotalCost: in.TotalCost,
			Currency: deref(in.Currency, "USD"), EstimatedDeliveryDays: in.EstimatedDeliveryDays,
			ActualDeliveryDays: in.ActualDeliveryDays, DeliveryDelayDays: in.DeliveryDelayDays, WasOnTime: in.WasOnTime,
			TrackingUpdatesCount: in.TrackingUpdatesCount, ExceptionEventsCount: in.ExceptionEventsCount,
			DeliveryAttempts: in.DeliveryAttempts, OriginCountry: in.OriginCountry, DestinationCountry: in.DestinationCountry,
			DistanceKm: in.DistanceKm, Carrier: in.Carrier, Service: in.Service, PackageType: in.PackageType, WeightKg: in.WeightKg,
		}
		created, err := store.PutMetrics(c.Request().Context(), &m)
		if err != nil {
			return err
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		return c.JSON(status, m)
	}
}
