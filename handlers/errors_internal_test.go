package handlers

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"

	"github.com/waybill/waybill/models"
)

// TestProblemOfEveryError is the one table from error values to the status
// and code a client gets. Whatever step met it (BEGIN, a statement,
// COMMIT), a database that cannot be used is 503.
func TestProblemOfEveryError(t *testing.T) {
	pg := func(code string) error { return &pgconn.PgError{Severity: "FATAL", Code: code, Message: "m"} }
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"connection failure 08006", pg("08006"), 503, "database_unavailable"},
		{"connection does not exist 08003", pg("08003"), 503, "database_unavailable"},
		{"cannot connect 08001", pg("08001"), 503, "database_unavailable"},
		{"admin shutdown 57P01", pg("57P01"), 503, "database_unavailable"},
		{"crash shutdown 57P02", pg("57P02"), 503, "database_unavailable"},
		{"cannot connect now 57P03", pg("57P03"), 503, "database_unavailable"},
		{"too many connections 53300", pg("53300"), 503, "database_unavailable"},
		{"statement timeout 57014", pg("57014"), 503, "database_unavailable"},
		{"connection refused", dial, 503, "database_unavailable"},
		{"connection reset", reset, 503, "database_unavailable"},
		{"EOF mid-statement", io.ErrUnexpectedEOF, 503, "database_unavailable"},
		{"EOF", io.EOF, 503, "database_unavailable"},
		{"connection closed by pgx", fmt.Errorf("commit: %w", pgconn.ErrConnClosed), 503, "database_unavailable"},
		{"bad connection", driver.ErrBadConn, 503, "database_unavailable"},
		{"connection done", sql.ErrConnDone, 503, "database_unavailable"},
		{"pool closed", errors.New("sql: database is closed"), 503, "database_unavailable"},
		{"pool wait past the deadline", context.DeadlineExceeded, 503, "database_unavailable"},
		{"begin failed, wrapped", fmt.Errorf("begin: %w", fmt.Errorf("%w: %w", models.ErrUnavailable, dial)), 503, "database_unavailable"},
		{"commit lost", fmt.Errorf("%w: %w", models.ErrOutcomeUnknown, io.ErrUnexpectedEOF), 503, "outcome_unknown"},
		{"not found", fmt.Errorf("shipment x: %w", models.ErrNotFound), 404, "not_found"},
		{"conflict", &models.ConflictError{Detail: "it is still used by one or more shipments"}, 409, "conflict"},
		{"validation", &models.ValidationError{Errors: []models.FieldError{{Field: "a", Message: "b"}}}, 422, "validation_failed"},
		{"a bug", errors.New("nil map"), 500, "internal_error"},
		{"a server error that is a bug", pg("42P01"), 500, "internal_error"},
	} {
		p := toProblem(tc.err)
		if p.Status != tc.status || p.Code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, p.Status, p.Code, tc.status, tc.code)
		}
	}
}

// TestErrorHandlerByRequestFate: a request whose client went away is 499
// and logged at info by the access log only; one cut by the shutdown is
// logged as such; neither is an "internal error".
func TestErrorHandlerByRequestFate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cancel  func(context.Context) (context.Context, func())
		status  int
		logWant string
	}{
		{"client gone", func(ctx context.Context) (context.Context, func()) {
			ctx, cancel := context.WithCancel(ctx)
			return ctx, cancel
		}, statusClientClosedRequest, ""},
		{"shutdown", func(ctx context.Context) (context.Context, func()) {
			ctx, cancel := context.WithCancelCause(ctx)
			return ctx, func() { cancel(ErrShutdown) }
		}, http.StatusServiceUnavailable, "request cut by the shutdown"},
	} {
		var logs strings.Builder
		log := logrus.New()
		log.SetOutput(&logs)
		ctx, cancel := tc.cancel(context.Background())
		cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/shipments", nil)
		rec := httptest.NewRecorder()
		e := echo.New()
		errorHandler(log)(fmt.Errorf("%w: %w", models.ErrUnavailable, context.Canceled), e.NewContext(req, rec))
		if rec.Code != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, rec.Code, tc.status)
		}
		if tc.name == "shutdown" {
			// Cut during COMMIT: the client must still learn the change
			// may have been applied.
			rec = httptest.NewRecorder()
			errorHandler(log)(fmt.Errorf("%w: %w", models.ErrOutcomeUnknown, context.Canceled), e.NewContext(req, rec))
			if !strings.Contains(rec.Body.String(), `"code":"outcome_unknown"`) {
				t.Errorf("shutdown during COMMIT: %d %s, want outcome_unknown", rec.Code, rec.Body)
			}
		}
		if strings.Contains(logs.String(), "internal error") || !strings.Contains(logs.String(), tc.logWant) {
			t.Errorf("%s: logged %q, want %q and no internal error", tc.name, logs.String(), tc.logWant)
		}
	}
}
