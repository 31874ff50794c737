package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"

	"github.com/waybill/waybill/metrics"
	"github.com/waybill/waybill/models"
)

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

// maxRequestIDLen is the longest X-Request-Id accepted from a client.
const maxRequestIDLen = 128

// validRequestID reports whether a client's X-Request-Id may be used as
// the request's id: 1 to 128 characters of [A-Za-z0-9._:-], which covers
// UUIDs, hex and most tracing ids and can forge nothing in a log line.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := range len(id) {
		switch b := id[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9',
			b == '.', b == '_', b == ':', b == '-':
		default:
			return false
		}
	}
	return true
}

// assignRequestID gives every request its id: the client's X-Request-Id
// when validRequestID accepts it, otherwise a new one. The id is set on
// the response (where requestID reads it) and replaces the request's
// header, so a refused id is kept nowhere: not logged, not echoed.
func assignRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		id := h.Get(echo.HeaderXRequestID)
		if !validRequestID(id) || len(h.Values(echo.HeaderXRequestID)) > 1 {
			id = newRequestID()
		}
		h.Set(echo.HeaderXRequestID, id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

// accessLog writes one line per request: id, method, route (the pattern,
// never the raw URL with its query), status and latency; and counts it in
// the request metrics. Method and route are the metrics' bounded labels
// (metrics.MethodLabel, "unmatched" for any path no route matched).
func accessLog(log *logrus.Logger, m *metrics.Metrics) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				// Run the error handler now so the logged status is the
				// one the client gets.
				c.Error(err)
			}
			elapsed := time.Since(start)
			// Labels and log fields take bounded values whatever the
			// client sent: the route is a registered template (Echo sets
			// none for a 404) and the method one of a few.
			route := c.Path()
			if route == "" || c.Response().Status == http.StatusNotFound && route == "/*" {
				route = metrics.Unmatched
			}
			method := metrics.MethodLabel(c.Request().Method)
			m.ObserveRequest(method, route, c.Response().Status, elapsed)
			log.WithFields(logrus.Fields{
				"request_id": requestID(c),
				"method":     method,
				"route":      route,
				"status":     c.Response().Status,
				"latency_ms": float64(elapsed.Microseconds()) / 1000,
				"bytes_out":  c.Response().Size,
			}).Info("request")
			return nil
		}
	}
}

// recoverPanic turns a panic into a 500 whose cause goes to the log, not
// to the client.
func recoverPanic(log *logrus.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			defer func() {
				if r := recover(); r != nil {
					if r == http.ErrAbortHandler {
						panic(r)
					}
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			return next(c)
		}
	}
}

// deadline gives every request a context that ends after d; queries take
// that context, so no request outlives it. The request body must arrive
// by then too: the connection's read deadline is set to the same instant,
// and a body cut by it is answered 408 request_timeout, whatever the
// handler made of the failed read.
func deadline(d time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			ctx, cancel := context.WithTimeout(req.Context(), d)
			defer cancel()
			r := req.WithContext(ctx)
			var body *deadlineBody
			if req.Body != nil && req.Body != http.NoBody {
				// Only when a body is expected. Without one, net/http is
				// already reading ahead to notice a client that hangs up,
				// and a deadline would end that read and cancel the
				// request as if the client had gone; after a body it
				// clears the deadline itself before reading ahead.
				until, _ := ctx.Deadline()
				if http.NewResponseController(c.Response()).SetReadDeadline(until) == nil {
					body = &deadlineBody{ReadCloser: req.Body}
					r.Body = body
				}
			}
			c.SetRequest(r)
			err := next(c)
			// The error handler runs after this returns: it must see the
			// connection's context (client gone, server shutting down),
			// not this one, which cancel ends.
			c.SetRequest(req)
			if body != nil && body.timedOut.Load() {
				// net/http cancels the connection's context when a read
				// fails, as if the client had gone; it is still there,
				// waiting for this answer.
				c.SetRequest(req.WithContext(context.WithoutCancel(req.Context())))
				return errBodyTimeout()
			}
			return err
		}
	}
}

// errBodyTimeout is the answer to a body that did not arrive before the
// request's deadline.
func errBodyTimeout() error {
	return newError("request_timeout", "the request body did not arrive within the request's deadline (REQUEST_TIMEOUT)")
}

// deadlineBody is a request body read under the connection's read
// deadline; it notes a read cut by that deadline.
type deadlineBody struct {
	io.ReadCloser
	timedOut atomic.Bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		b.timedOut.Store(true)
	}
	return n, err
}

// bodyLimit answers 413 for a request body over limit bytes (or the
// route's own, larger limit in routeBodyLimits), whether its
// Content-Length says so up front or a body without one (chunked) grows
// past it while read; readBody turns the latter's error into the 413.
// net/http closes the connection after such a body rather than read the
// rest.
func bodyLimit(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			limit := max(limit, routeBodyLimits[req.Method+" "+c.Path()])
			if req.ContentLength > limit {
				return errTooLarge(limit)
			}
			if req.Body != nil && req.Body != http.NoBody {
				req.Body = http.MaxBytesReader(c.Response().Writer, req.Body, limit)
			}
			return next(c)
		}
	}
}

// errTooLarge is the answer to a body over limit bytes.
func errTooLarge(limit int64) error {
	return newError("payload_too_large", "the request body is larger than %d bytes (BODY_LIMIT)", limit)
}

// requireDatabase answers 503 on data routes when no database is
// configured, before authentication (which needs the database).
func requireDatabase(store *models.Store) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if store == nil {
				return newError("database_unavailable", "no database is configured (DATABASE_URL is unset)")
			}
			return next(c)
		}
	}
}
