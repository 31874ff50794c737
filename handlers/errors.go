package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"

	"github.com/waybill/waybill/models"
)

// problemType describes one error code: its HTTP status, title, and the
// text GET /problems/<code> serves.
type problemType struct {
	status      int
	title       string
	description string
}

// problems maps every error code the API uses to its status: the one place
// where errors become HTTP.
var problems = map[string]problemType{
	"bad_request":            {http.StatusBadRequest, "Bad request", "The request is malformed: invalid JSON, trailing data, a value of the wrong type, a malformed id in the path, or an unknown or invalid query parameter."},
	"unauthorized":           {http.StatusUnauthorized, "Unauthorized", "The request needs a valid API key: send Authorization: Bearer <key>. Missing, unknown and revoked keys all get this answer."},
	"forbidden":              {http.StatusForbidden, "Forbidden", "The API key's scope does not allow this request: read keys may only use GET."},
	"not_found":              {http.StatusNotFound, "Not found", "There is no such resource, or no such route."},
	"method_not_allowed":     {http.StatusMethodNotAllowed, "Method not allowed", "The route exists but does not accept this method; the Allow header lists the ones it does."},
	"conflict":               {http.StatusConflict, "Conflict", "The change conflicts with existing data: a unique value is taken, or the resource is still referenced."},
	"precondition_failed":    {http.StatusPreconditionFailed, "Precondition failed", "If-Match does not match the resource's current ETag: it changed since you read it."},
	"payload_too_large":      {http.StatusRequestEntityTooLarge, "Payload too large", "The request body is larger than the server's BODY_LIMIT."},
	"unsupported_media":      {http.StatusUnsupportedMediaType, "Unsupported media type", "The request body must be JSON: Content-Type: application/json."},
	"idempotency_key_reused": {http.StatusUnprocessableEntity, "Idempotency key reused", "The Idempotency-Key was already used, with this API key, for a request with a different method, path or body. Use a new key for a new request."},
	"idempotency_in_flight":  {http.StatusConflict, "Request in flight", "The first request with this Idempotency-Key has not finished yet. Retry after a moment to get its response."},
	"validation_failed":      {http.StatusUnprocessableEntity, "Validation failed", "The JSON is well-formed but some fields are invalid; errors lists each field and what is wrong with it."},
	"rate_limited":           {http.StatusTooManyRequests, "Too many requests", "The rate limit was exceeded; retry after the number of seconds in Retry-After."},
	"database_unavailable":   {http.StatusServiceUnavailable, "Database unavailable", "The database is not configured, cannot be reached, or did not answer before the request's deadline. Nothing was changed; retry after the number of seconds in Retry-After."},
	"outcome_unknown":        {http.StatusServiceUnavailable, "Outcome unknown", "The connection to the database was lost while the change was being committed: it may or may not have been applied. Retry with the same Idempotency-Key to get the original answer if it was applied, or to apply it once if it was not; without a key, read the resource before retrying."},
	"request_timeout":        {http.StatusRequestTimeout, "Request timeout", "The request body did not arrive before the request's deadline (REQUEST_TIMEOUT). Nothing was changed."},
	"client_closed_request":  {statusClientClosedRequest, "Client closed request", "The client went away before the answer was ready (nginx's 499). Only the log and the metrics show this code; any change the request made was rolled back unless it had already committed."},
	"internal_error":         {http.StatusInternalServerError, "Internal error", "A bug in Waybill. The log has the details under the request id; the response says no more."},
}

// statusClientClosedRequest is nginx's 499: the client hung up first.
const statusClientClosedRequest = 499

// ErrShutdown is the cause with which the server cancels the requests
// still running when SHUTDOWN_TIMEOUT ends; they are logged as cut by the
// shutdown, not as errors.
var ErrShutdown = errors.New("request cut by server shutdown")

// unavailableRetry is what a 503 (and a 429 that knows no better) asks
// clients to wait: the database-health monitor re-checks a database that
// is down at least this often (dbhealth: backoff from 100 ms) and every
// request re-dials on demand, so a client retrying after it finds service
// back within one retry of recovery.
const unavailableRetry = 2 * time.Second

// setRetryAfter sets Retry-After to wait in whole seconds, rounded up, at
// least 1. Every Retry-After the server sends is set here.
func setRetryAfter(h http.Header, wait time.Duration) {
	h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
}

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail,omitempty"`
	Code      string              `json:"code"`
	RequestID string              `json:"request_id"`
	Errors    []models.FieldError `json:"errors,omitempty"`
}

// apiError is an error the handlers raise themselves, with its code and a
// detail safe to show the client.
type apiError struct {
	code   string
	detail string
	// retryAfter is how long the client should wait before retrying, for
	// Retry-After; 0 leaves it to the error handler (unavailableRetry on a
	// 429 or 503).
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.code + ": " + e.detail }

func newError(code, format string, args ...any) error {
	return &apiError{code: code, detail: fmt.Sprintf(format, args...)}
}

// rateLimited is the 429 rate_limited error, asking the client to wait
// wait before retrying.
func rateLimited(wait time.Duration, format string, args ...any) error {
	return &apiError{code: "rate_limited", detail: fmt.Sprintf(format, args...), retryAfter: wait}
}

// errorHandler is Echo's HTTPErrorHandler: it maps every error to a problem
// details response. Only internal errors are logged here with their cause;
// the client sees their request id and nothing else. A request whose
// client went away is answered 499 (nginx's convention: logged and
// counted, never a 500), and one cut by the server's shutdown is logged
// as such.
func errorHandler(log *logrus.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		p := toProblem(err)
		p.RequestID = requestID(c)
		ctx := c.Request().Context()
		switch {
		case context.Cause(ctx) == ErrShutdown:
			log.WithFields(logrus.Fields{"request_id": p.RequestID, "route": c.Path()}).Warn("request cut by the shutdown (SHUTDOWN_TIMEOUT)")
			if p.Code != "outcome_unknown" { // cut during COMMIT: that stays the answer
				p = problemFor("database_unavailable", "the server is shutting down; retry later")
				p.RequestID = requestID(c)
			}
		case errors.Is(ctx.Err(), context.Canceled):
			// The client hung up: nobody reads an answer.
			c.Response().WriteHeader(statusClientClosedRequest)
			return
		case p.Status == http.StatusInternalServerError:
			log.WithFields(logrus.Fields{"request_id": p.RequestID, "route": c.Path(), "error": err.Error()}).Error("internal error")
		}
		h := c.Response().Header()
		var api *apiError
		switch {
		case p.Code == "rate_limited" && errors.As(err, &api) && api.retryAfter > 0:
			setRetryAfter(h, api.retryAfter)
		case p.Status == http.StatusServiceUnavailable || p.Status == http.StatusTooManyRequests:
			setRetryAfter(h, unavailableRetry)
		}
		h.Set(echo.HeaderContentType, "application/problem+json")
		c.Response().WriteHeader(p.Status)
		if c.Request().Method != http.MethodHead {
			enc := json.NewEncoder(c.Response())
			enc.SetEscapeHTML(false)
			_ = enc.Encode(p)
		}
	}
}

func toProblem(err error) Problem {
	var (
		api      *apiError
		val      *models.ValidationError
		he       *echo.HTTPError
		conflict *models.ConflictError
	)
	code, detail := "internal_error", "internal error"
	var fields []models.FieldError
	switch {
	case errors.As(err, &api):
		code, detail = api.code, api.detail
	case errors.As(err, &val):
		code, fields = "validation_failed", val.Errors
		detail = fmt.Sprintf("%d fields are invalid", len(fields))
		if len(fields) == 1 {
			detail = "1 field is invalid"
		}
	case errors.Is(err, models.ErrNotFound):
		code, detail = "not_found", "no such resource"
	case errors.As(err, &conflict):
		code, detail = "conflict", conflict.Detail
	case errors.Is(err, models.ErrConflict):
		code, detail = "conflict", "the change conflicts with existing data"
	case errors.Is(err, models.ErrInvalidCursor):
		code, detail = "bad_request", "before_id or after_id names no row of this list"
	case errors.Is(err, models.ErrOutcomeUnknown):
		code, detail = "outcome_unknown", "the connection to the database was lost while the change was being committed: it may have been applied. Retry with the same Idempotency-Key, or read the resource before retrying"
	case models.Unavailable(err), errors.Is(err, context.DeadlineExceeded):
		code, detail = "database_unavailable", "the database is unavailable; nothing was changed; retry later"
	case errors.As(err, &he):
		if c, ok := echoCodes[he.Code]; ok {
			code, detail = c, http.StatusText(he.Code)
		}
	}
	p := problemFor(code, detail)
	p.Errors = fields
	return p
}

// problemFor is the problem of a code, with detail.
func problemFor(code, detail string) Problem {
	pt := problems[code]
	return Problem{Type: "/problems/" + code, Title: pt.title, Status: pt.status, Detail: detail, Code: code}
}

// echoCodes names the problem for a status Echo itself raises (routing,
// body limit, binding).
var echoCodes = map[int]string{
	http.StatusBadRequest:            "bad_request",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusRequestEntityTooLarge: "payload_too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media",
	http.StatusTooManyRequests:       "rate_limited",
	http.StatusServiceUnavailable:    "database_unavailable",
}

// problemDoc serves GET /problems/:code, the human-readable page a
// problem's type URI points to.
func problemDoc(c echo.Context) error {
	code := c.Param("code")
	p, ok := problems[code]
	if !ok {
		return newError("not_found", "no such problem type")
	}
	return c.JSON(http.StatusOK, map[string]any{
		"type": "/problems/" + code, "code": code, "title": p.title, "status": p.status, "description": p.description,
	})
}
