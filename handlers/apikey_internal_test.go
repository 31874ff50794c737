package handlers

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"
)

// TestMiddlewareWithoutAPIKey: the middleware that read the authenticated
// API key answer 500 internal_error, not a panic, when authenticate did not
// run before them (a wiring mistake). No recoverPanic here: a panic fails
// the test.
func TestMiddlewareWithoutAPIKey(t *testing.T) {
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	for name, mw := range map[string]echo.MiddlewareFunc{
		"rateLimit":  rateLimit(10),
		"idempotent": idempotent(nil),
	} {
		t.Run(name, func(t *testing.T) {
			e := echo.New()
			e.HTTPErrorHandler = errorHandler(quiet)
			reached := false
			e.POST("/x", func(c echo.Context) error { reached = true; return c.NoContent(http.StatusNoContent) }, mw)
			req := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(`{}`))
			req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
			req.Header.Set("Idempotency-Key", "k1")
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"internal_error"`) || reached {
				t.Errorf("without authenticate: %d %s (handler reached: %v), want 500 internal_error", rec.Code, rec.Body, reached)
			}
		})
	}
}
