package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"

	"github.com/waybill/waybill/models"
)

// Batch imports (POST /v1/batches; docs/api.md, "Batches").
const (
	// maxBatchRows is the most shipments one batch may hold.
	maxBatchRows = 10_000
	// inlineBatchRows is the most shipments a batch may hold to be
	// imported within its request (201); a larger one is imported by the
	// worker (202).
	inlineBatchRows = 100
	// batchChunkRows is how many rows one transaction imports.
	batchChunkRows = 1000
	// batchLease is how long a worker holds a batch without renewing
	// (every chunk renews it): a batch whose worker died is taken over by
	// another, or by the next start, once it ends.
	batchLease = 30 * time.Second
	// batchBodyLimit is the body limit of POST /v1/batches, above
	// BODY_LIMIT: 10,000 shipments as JSON take about 7 MB.
	batchBodyLimit = 32 << 20
)

// routeBodyLimits are the body limits of the routes that take more than
// BODY_LIMIT, by "METHOD /route".
var routeBodyLimits = map[string]int64{"POST /v1/batches": batchBodyLimit}

// createBatch serves POST /v1/batches: a JSON {"shipments": [...]} or a
// text/csv body. The file is checked as a whole first (format, header,
// size); then each row is imported or refused on its own. A batch of up
// to inlineBatchRows rows is imported before the answer (201); a larger
// one is recorded and left to the worker (202), and GET /v1/batches/{id},
// named by Location, shows its progress.
func createBatch(store *models.Store, worker *BatchWorker) echo.HandlerFunc {
	return func(c echo.Context) error {
		mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
		if mt != "application/json" && mt != "text/csv" {
			return newError("unsupported_media", "Content-Type must be application/json or text/csv")
		}
		body, err := readBody(c)
		if err != nil {
			return err
		}
		nb := models.NewBatch{Source: "json"}
		if mt == "text/csv" {
			nb.Source = "csv"
			nb.Items, nb.Errors, nb.Total, err = csvBatch(body, maxBatchRows)
		} else {
			nb.Items, nb.Total, err = jsonBatch(body, maxBatchRows)
		}
		if err != nil {
			return err
		}
		if key, err := requestAPIKey(c); err == nil {
			nb.UserID = key.ID.String()
		}
		nb.Claim = nb.Total <= inlineBatchRows
		ctx := c.Request().Context()
		id, claim, err := store.CreateBatch(ctx, nb, batchLease)
		if err != nil {
			return err
		}
		status := http.StatusAccepted
		if claim != nil {
			claim.Source = nb.Source
			for done := false; !done; {
				if done, err = store.ImportBatchChunk(ctx, claim, batchChunkRows, shipmentDecoder(claim.Source)); err != nil {
					return err
				}
			}
			status = http.StatusCreated
		} else if worker != nil {
			worker.Wake()
		}
		b, err := store.Batch(ctx, id)
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderLocation, "/v1/batches/"+id.String())
		return c.JSON(status, b)
	}
}

// getBatch serves GET /v1/batches/{id}.
func getBatch(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		b, err := store.Batch(c.Request().Context(), id)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, b)
	}
}

// jsonBatch reads {"shipments": [...]} into batch rows, each element's
// JSON text as it came (row 1 is the first element). The body as a whole
// is refused for invalid UTF-8, malformed JSON, trailing data, another key
// than shipments or a shipments that is not an array (400), no shipment
// (422) and more than limit (413).
func jsonBatch(body []byte, limit int) ([]models.BatchItem, int, error) {
	if !utf8.Valid(body) {
		return nil, 0, newError("bad_request", "the body is not valid UTF-8")
	}
	// One pass, so that a large batch is held in memory once more, not
	// twice: each item's text is copied out of the body as it is read.
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var doc struct {
		Shipments *[]json.RawMessage `json:"shipments"`
	}
	if err := dec.Decode(&doc); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field == "shipments":
			return nil, 0, newError("bad_request", "shipments: must be an array")
		case errors.As(err, &typeErr):
			return nil, 0, newError("bad_request", "the body must be a JSON object")
		}
		if key, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			var v models.ValidationError
			v.Add(strings.Trim(key, `"`), "is not a known field")
			return nil, 0, &v
		}
		return nil, 0, newError("bad_request", "malformed JSON: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, 0, newError("bad_request", "unexpected data after the JSON value")
	}
	var v models.ValidationError
	switch {
	case doc.Shipments == nil:
		v.Add("shipments", "is required")
		return nil, 0, &v
	case len(*doc.Shipments) == 0:
		v.Add("shipments", "must hold at least one shipment")
		return nil, 0, &v
	case len(*doc.Shipments) > limit:
		return nil, 0, errTooManyRows(limit)
	}
	rows := *doc.Shipments
	items := make([]models.BatchItem, len(rows))
	for i, r := range rows {
		items[i] = models.BatchItem{Row: i + 1, Shipment: models.JSON(r)}
	}
	return items, len(rows), nil
}

// shipmentDecoder returns the decoder of a batch's rows: each row is a
// shipment create's body, judged as POST /v1/shipments judges one, and
// what is wrong with it is a ValidationError whose fields are JSON paths,
// or, for a CSV batch, column names where one column holds the field.
func shipmentDecoder(source string) models.ShipmentDecoder {
	bc := bodyContracts["POST /v1/shipments"]
	return func(body []byte) (*models.Shipment, error) {
		var sh models.Shipment
		_, err := decodeBytes(body, bc, &sh, false)
		if err == nil {
			err = sh.Validate()
		}
		if err == nil {
			return &sh, nil
		}
		v := asValidation(err)
		if source == "csv" {
			for i := range v.Errors {
				v.Errors[i].Field = shipmentCSV.columnOf(v.Errors[i].Field)
			}
		}
		return nil, v
	}
}

// asValidation turns a decoding's complaint into a ValidationError: a
// 400's detail ("parcel.weight: must be a number in range") is split into
// its field and message.
func asValidation(err error) *models.ValidationError {
	var v *models.ValidationError
	if errors.As(err, &v) {
		return v
	}
	var ae *apiError
	if errors.As(err, &ae) {
		field, msg, ok := strings.Cut(ae.detail, ": ")
		if !ok || strings.ContainsAny(field, " ") {
			field, msg = "", ae.detail
		}
		return &models.ValidationError{Errors: []models.FieldError{{Field: field, Message: msg}}}
	}
	return &models.ValidationError{Errors: []models.FieldError{{Field: "", Message: "could not be read"}}}
}

// BatchWorker imports the batches recorded for the background: on start
// it takes up every batch waiting (pending, or processing with an expired
// lease, as a restart leaves one), then each one Wake announces, and polls
// for those other instances left. A batch is imported chunk by chunk, each
// chunk in a transaction of its own that also records the progress, so
// nothing is lost or imported twice whenever the process stops.
type BatchWorker struct {
	store *models.Store
	log   *logrus.Logger
	wake  chan struct{}
	// Poll is how often it looks for batches when not woken.
	Poll time.Duration
	// Lease is how long it holds a batch between chunks.
	Lease time.Duration
}

// NewBatchWorker returns a worker of store's batches that logs to log.
func NewBatchWorker(store *models.Store, log *logrus.Logger) *BatchWorker {
	return &BatchWorker{store: store, log: log, wake: make(chan struct{}, 1), Poll: 5 * time.Second, Lease: batchLease}
}

// Wake tells the worker a batch was recorded. The request's transaction
// may not have committed yet: the worker looks a few times over the
// following seconds.
func (w *BatchWorker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run imports batches until ctx ends. A batch it is importing then is
// released, to be resumed by the next worker from its next chunk.
func (w *BatchWorker) Run(ctx context.Context) {
	tick := time.NewTicker(w.Poll)
	defer tick.Stop()
	for {
		w.drain(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-w.wake:
			// The batch commits with its request, just after the wake.
			for wait := 5 * time.Millisecond; wait < 3*time.Second && ctx.Err() == nil; wait *= 2 {
				if w.drain(ctx) {
					break
				}
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
			}
		}
	}
}

// drain imports batches while there are any to claim, and reports
// whether it imported one.
func (w *BatchWorker) drain(ctx context.Context) bool {
	found := false
	for ctx.Err() == nil {
		claim, err := w.store.ClaimBatch(ctx, w.Lease)
		if err != nil {
			if ctx.Err() == nil {
				w.logger().WithError(err).Warn("batches: could not claim a batch")
			}
			return found
		}
		if claim == nil {
			return found
		}
		found = true
		if !w.Import(ctx, claim) {
			// Tried again at the next poll, not at once.
			return found
		}
	}
	return found
}

// Import imports the claimed batch to its end, or until ctx ends or the
// database fails, when it releases the batch (or leaves its lease to
// expire) for a later attempt; it reports whether the batch finished.
func (w *BatchWorker) Import(ctx context.Context, claim *models.BatchClaim) bool {
	log := w.logger().WithField("batch", claim.ID.String())
	start := time.Now()
	decode := shipmentDecoder(claim.Source)
	for {
		done, err := w.store.ImportBatchChunk(ctx, claim, batchChunkRows, decode)
		switch {
		case done:
			log.WithField("took", time.Since(start).Round(time.Millisecond).String()).Info("batches: imported")
			return true
		case errors.Is(err, models.ErrLeaseLost):
			log.Warn("batches: lost the batch's lease to another worker")
			return false
		case err != nil:
			release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			rerr := w.store.ReleaseBatch(release, claim)
			cancel()
			if ctx.Err() != nil {
				log.Info("batches: stopped; the batch resumes at its next chunk")
				return false
			}
			log.WithError(err).WithField("release_error", rerr).Warn("batches: import interrupted; it resumes at its next chunk")
			return false
		}
	}
}

func (w *BatchWorker) logger() *logrus.Logger {
	if w.log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		return l
	}
	return w.log
}
