package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
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

// accessLog writes one line per request: id, method, route (the pattern,
// never the raw URL with its query), status and latency; and counts it in
// the request metrics.
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
			route := c.Path()
			if route == "" || c.Response().Status == http.StatusNotFound && route == "/*" {
				route = "unmatched"
			}
			m.ObserveRequest(c.Request().Method, route, c.Response().Status, elapsed)
			log.WithFields(logrus.Fields{
				"request_id": requestID(c),
				"method":     c.Request().Method,
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
// that context, so no request outlives it.
func deadline(d time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			ctx, cancel := context.WithTimeout(req.Context(), d)
			defer cancel()
			c.SetRequest(req.WithContext(ctx))
			err := next(c)
			// The error handler runs after this returns: it must see the
			// connection's context (client gone, server shutting down),
			// not this one, which cancel ends.
			c.SetRequest(req)
			return err
		}
	}
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
