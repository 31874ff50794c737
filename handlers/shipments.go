package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

// createShipment serves POST /v1/shipments.
func createShipment(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in models.Shipment
		if err := decode(c, &in); err != nil {
			return err
		}
		sh, err := store.CreateShipment(c.Request().Context(), &in)
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

// addEvent serves POST /v1/shipments/{id}/events.
func addEvent(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		var ev models.ShipmentEvent
		if err := decode(c, &ev); err != nil {
			return err
		}
		ev.ShipmentID = id
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
		q := newQuery(c.QueryParams(), "page_size", "after_id", "cursor")
		p := models.EventPage{Size: q.int("page_size", 100, 1, 100), AfterID: q.id("after_id")}
		q.forwardCursor(&p.After)
		if p.AfterID != nil && p.After != nil {
			q.fail("give cursor or after_id, not both")
		}
		if err := q.Err(); err != nil {
			return err
		}
		evs, more, err := store.Events(c.Request().Context(), id, p)
		if err != nil {
			return err
		}
		body := listResponse("events", evs, more)
		if more {
			body["next_cursor"] = encodeCursor(cursorNewer, evs[len(evs)-1].ListKey())
		}
		return c.JSON(http.StatusOK, body)
	}
}

// putMetrics serves PUT /v1/shipments/{id}/metrics: 201 when it created
// the row, 200 when it replaced it.
func putMetrics(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		var m models.ShipmentMetrics
		if err := decode(c, &m); err != nil {
			return err
		}
		m.ShipmentID = id
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
