package handlers

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

// exportPageRows is how many shipments the CSV export reads at a time:
// its memory is one page, whatever the number of rows.
const exportPageRows = 500

// exportPageTimeout bounds each page's query and write: an export runs
// past REQUEST_TIMEOUT as long as every page keeps within this.
const exportPageTimeout = 30 * time.Second

// csvOr serves GET /v1/shipments: as CSV (exportShipments) when the
// client asks for text/csv in Accept, else as JSON (list).
func csvOr(export, list echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if acceptsCSV(c.Request().Header.Values(echo.HeaderAccept)) {
			return export(c)
		}
		return list(c)
	}
}

// acceptsCSV reports whether Accept names text/csv (with a non-zero q)
// and ranks it above application/json.
func acceptsCSV(accept []string) bool {
	csvQ, jsonQ := -1.0, -1.0
	for _, h := range accept {
		for part := range strings.SplitSeq(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if v, ok := params["q"]; ok {
				if _, err := fmt.Sscanf(v, "%g", &q); err != nil {
					continue
				}
			}
			switch mt {
			case "text/csv":
				csvQ = max(csvQ, q)
			case "application/json":
				jsonQ = max(jsonQ, q)
			}
		}
	}
	return csvQ > 0 && csvQ >= jsonQ
}

// exportShipments serves GET /v1/shipments as CSV (Accept: text/csv) and
// GET /v1/shipments.csv: every shipment the list's filters select, newest
// first, in the import's columns. It reads them page by page (keyset) and
// streams each page, so its memory does not grow with the rows. An error
// before the first row is a problem answer; one after it aborts the
// connection (the status is already sent), so that the client sees a
// body cut short rather than a complete file.
func exportShipments(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		q := newQuery(c.QueryParams(), "start_datetime", "end_datetime", "status", "carrier", "service",
			"tracking_code", "reference", "mode")
		f := models.ShipmentFilter{
			Page: models.Page{
				Size:  exportPageRows,
				Start: q.time("start_datetime"),
				End:   q.time("end_datetime"),
			},
			Statuses:     q.listOf("status", models.Statuses),
			Carrier:      q.str("carrier"),
			Service:      q.str("service"),
			TrackingCode: q.str("tracking_code"),
			Reference:    q.str("reference"),
			Mode:         q.oneOf("mode", models.Modes),
		}
		if f.Start != nil && f.End != nil && !f.Start.Before(*f.End) {
			q.fail("start_datetime must be before end_datetime")
		}
		if err := q.Err(); err != nil {
			return err
		}
		// Each page has a deadline of its own, not the request's: a large
		// export takes longer than REQUEST_TIMEOUT. A client that goes
		// away ends it at the next write.
		base := context.WithoutCancel(c.Request().Context())
		rc := http.NewResponseController(c.Response().Writer)
		page := func() ([]models.Shipment, bool, error) {
			ctx, cancel := context.WithTimeout(base, exportPageTimeout)
			defer cancel()
			_ = rc.SetWriteDeadline(time.Now().Add(exportPageTimeout))
			return store.Shipments(ctx, f)
		}
		rows, more, err := page()
		if err != nil {
			return err
		}
		res := c.Response()
		res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		res.Header().Set("Content-Disposition", `attachment; filename="shipments.csv"`)
		res.WriteHeader(http.StatusOK)
		if c.Request().Method == http.MethodHead {
			return nil
		}
		w := newCSVWriter(res)
		if err := w.writeHeader(); err != nil {
			return nil
		}
		for {
			for i := range rows {
				if err := w.write(&rows[i]); err != nil {
					panic(http.ErrAbortHandler)
				}
			}
			if err := w.flush(); err != nil {
				return nil // the client went away
			}
			res.Flush()
			if !more {
				return nil
			}
			last := rows[len(rows)-1].ListKey()
			f.Before, f.BeforeID = &last, nil
			if rows, more, err = page(); err != nil {
				panic(http.ErrAbortHandler)
			}
		}
	}
}
