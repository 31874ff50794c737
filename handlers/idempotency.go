package handlers

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

// replayedHeaders are the response headers an idempotent replay repeats.
var replayedHeaders = []string{echo.HeaderContentType, echo.HeaderLocation, "ETag"}

// idempotent implements Idempotency-Key on POST (docs/api.md): the first
// successful response is stored for 24 hours and replayed for a retry with
// the same key and body; the same key with a different body is 422; a
// retry while the first is still running is 409. Keys are scoped to the
// API key.
//
// The handler runs inside the transaction that stores its response
// (models.Store.Idempotent), and its response is held back until that
// transaction commits: a client never sees a 2xx for a write that did not
// commit, and a committed write always has its stored response. Errors and
// other non-2xx answers roll everything back and are not stored, so a
// corrected or later retry runs afresh.
func idempotent(store *models.Store) echo.MiddlewareFunc {
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
			body, err := readBody(c)
			if err != nil {
				return err
			}
			req.Body = io.NopCloser(bytes.NewReader(body))

			h := sha256.New()
			for _, part := range [][]byte{[]byte(req.Method), []byte(req.URL.RequestURI()), body} {
				h.Write(part)
				h.Write([]byte{0})
			}
			apiKey, err := requestAPIKey(c)
			if err != nil {
				return err
			}
			res := c.Response()
			sent := res.Writer
			held := &heldResponse{header: http.Header{}}
			res.Writer = held
			replay, err := store.Idempotent(req.Context(), models.IdempotentRequest{
				APIKeyID: apiKey.ID, Key: key, Method: req.Method, Path: req.URL.RequestURI(), Hash: h.Sum(nil),
			}, func(ctx context.Context) (models.IdempotentResponse, error) {
				c.SetRequest(req.WithContext(ctx))
				if err := next(c); err != nil {
					return models.IdempotentResponse{}, err
				}
				if res.Status >= 300 {
					return models.IdempotentResponse{}, errNotStored
				}
				headers := map[string]string{}
				for _, name := range replayedHeaders {
					if v := held.header.Get(name); v != "" {
						headers[name] = v
					}
				}
				raw, err := json.Marshal(headers)
				return models.IdempotentResponse{Status: res.Status, Headers: raw, Body: held.body.Bytes()}, err
			})
			c.SetRequest(req)
			res.Writer = sent
			switch {
			case errors.Is(err, errNotStored):
				return held.sendTo(sent)
			case err != nil:
				// Whatever the handler wrote is void: the error handler
				// answers instead.
				res.Committed, res.Status, res.Size = false, http.StatusOK, 0
				switch {
				case errors.Is(err, models.ErrIdempotencyMismatch):
					return newError("idempotency_key_reused", "this Idempotency-Key was used for a different request")
				case errors.Is(err, models.ErrIdempotencyInFlight):
					return newError("idempotency_in_flight", "the first request with this Idempotency-Key is still running; retry later")
				}
				return err
			case replay != nil:
				res.Committed, res.Status, res.Size = false, http.StatusOK, 0
				return writeReplay(c, replay)
			}
			return held.sendTo(sent)
		}
	}
}

// errNotStored rolls back a request whose handler answered other than
// 2xx without an error: its answer is sent, not stored.
var errNotStored = errors.New("response not stored")

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

func writeReplay(c echo.Context, rec *models.IdempotentResponse) error {
	var headers map[string]string
	_ = json.Unmarshal(rec.Headers, &headers)
	h := c.Response().Header()
	for name, v := range headers {
		h.Set(name, v)
	}
	h.Set("Idempotent-Replayed", "true")
	c.Response().WriteHeader(rec.Status)
	_, err := c.Response().Write(rec.Body)
	return err
}

// heldResponse holds a response back (headers, status, body) until it
// may be sent.
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *heldResponse) Header() http.Header         { return w.header }
func (w *heldResponse) WriteHeader(status int)      { w.status = status }
func (w *heldResponse) Write(b []byte) (int, error) { return w.body.Write(b) }

// sendTo sends the held response through w.
func (w *heldResponse) sendTo(dst http.ResponseWriter) error {
	h := dst.Header()
	for name, v := range w.header {
		h[name] = v
	}
	dst.WriteHeader(cmp.Or(w.status, http.StatusOK))
	_, err := dst.Write(w.body.Bytes())
	return err
}
