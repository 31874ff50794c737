package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"

	"github.com/waybill/waybill/models"
)

// replayedHeaders are the response headers an idempotent replay repeats.
var replayedHeaders = []string{echo.HeaderContentType, echo.HeaderLocation, "ETag"}

// idempotent implements Idempotency-Key on POST (SPEC 4.3): the first
// completed response is stored for 24 hours and replayed for a retry with
// the same key and body; the same key with a different body is 422; a
// retry while the first is still running is 409. Keys are scoped to the
// API key. Only successes are stored: after any error (validation, a
// conflict, the database being away) nothing remains of the request, and
// a corrected or later retry runs afresh.
func idempotent(store *models.Store, staleAfter time.Duration, log *logrus.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			key := req.Header.Get("Idempotency-Key")
			if req.Method != http.MethodPost || key == "" {
				return next(c)
			}
			if !validIdempotencyKey(key) {
				return newError("bad_request", "Idempotency-Key must be 1 to 255 printable ASCII characters")
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				var tooLarge *http.MaxBytesError
				if errors.As(err, &tooLarge) {
					return echo.ErrStatusRequestEntityTooLarge
				}
				return newError("bad_request", "the request body could not be read")
			}
			req.Body = io.NopCloser(bytes.NewReader(body))

			h := sha256.New()
			for _, part := range [][]byte{[]byte(req.Method), []byte(req.URL.RequestURI()), body} {
				h.Write(part)
				h.Write([]byte{0})
			}
			apiKey := c.Get(ctxAPIKey).(models.APIKey)
			claim, replay, err := store.ClaimIdempotencyKey(req.Context(), models.IdempotentRequest{
				APIKeyID: apiKey.ID, Key: key, Method: req.Method, Path: req.URL.RequestURI(), Hash: h.Sum(nil),
			}, staleAfter)
			switch {
			case errors.Is(err, models.ErrIdempotencyMismatch):
				return newError("idempotency_key_reused", "this Idempotency-Key was used for a different request")
			case errors.Is(err, models.ErrIdempotencyInFlight):
				return newError("idempotency_in_flight", "the first request with this Idempotency-Key is still running; retry later")
			case err != nil:
				return err
			case replay != nil:
				return writeReplay(c, replay)
			}

			capture := &captureWriter{ResponseWriter: c.Response().Writer}
			c.Response().Writer = capture
			if err := next(c); err != nil {
				c.Error(err) // render now, to see what the client gets
			}
			// The claim is settled even if the client has gone.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), 5*time.Second)
			defer cancel()
			status := c.Response().Status
			if status < 300 {
				headers := map[string]string{}
				for _, name := range replayedHeaders {
					if v := c.Response().Header().Get(name); v != "" {
						headers[name] = v
					}
				}
				raw, _ := json.Marshal(headers)
				err = store.CompleteIdempotencyKey(ctx, claim.ID, status, raw, capture.body.Bytes())
			} else {
				err = store.ReleaseIdempotencyKey(ctx, claim.ID)
			}
			if err != nil {
				// The response is sent; a retry will find the key in
				// flight until it is stale, then run afresh.
				log.WithFields(logrus.Fields{"request_id": requestID(c), "error": err.Error()}).Warn("idempotency record not settled")
			}
			return nil
		}
	}
}

func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for i := range len(k) {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

func writeReplay(c echo.Context, rec *models.IdempotencyKey) error {
	var headers map[string]string
	_ = json.Unmarshal(rec.ResponseHeaders, &headers)
	h := c.Response().Header()
	for name, v := range headers {
		h.Set(name, v)
	}
	h.Set("Idempotent-Replayed", "true")
	c.Response().WriteHeader(*rec.StatusCode)
	_, err := c.Response().Write(rec.ResponseBody)
	return err
}

// captureWriter keeps a copy of the response body.
type captureWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (w *captureWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}
