package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"

	"github.com/waybill/waybill/models"
)

// SignatureHeader carries a carrier webhook's signature: EasyPost's
// "hmac-sha256-hex=" and the hex HMAC-SHA256 of the raw body.
const (
	SignatureHeader = "X-Hmac-Signature"
	signaturePrefix = "hmac-sha256-hex="
)

// Sign returns the X-Hmac-Signature value of body under secret, as
// EasyPost computes it.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return signaturePrefix + hex.EncodeToString(m.Sum(nil))
}

// verifySignature reports whether header is body's signature under one of
// secrets. Every secret is tried (no early exit) and each comparison is
// constant-time, so the answer's timing says nothing about the signature.
func verifySignature(secrets []string, header string, body []byte) bool {
	sent, ok := strings.CutPrefix(strings.TrimSpace(header), signaturePrefix)
	if !ok {
		return false
	}
	mac, err := hex.DecodeString(sent)
	if err != nil || len(mac) != sha256.Size {
		return false
	}
	match := 0
	for _, s := range secrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write(body)
		if hmac.Equal(m.Sum(nil), mac) {
			match = 1
		}
	}
	return match == 1
}

// webhookReceipt is the answer to a webhook the server accepted.
type webhookReceipt struct {
	ID          string `json:"id"`
	EventID     string `json:"event_id"`
	Outcome     string `json:"outcome"`
	EventsAdded int    `json:"events_added"`
	Detail      string `json:"detail"`
}

// receiveWebhook serves POST /v1/webhooks/easypost. It needs no API key:
// the body's signature under one of secrets is the authentication. A
// missing or wrong signature is 401 and writes nothing, and takes a token
// from the client address's budget of failures (the one bad API keys take
// from: past it, 429). A signed body that is not JSON is 400, one that is
// not an event Waybill can record 422, an event already received 409; any
// other is stored and answered 200 with what became of it, also when it
// names an event type or a tracking code Waybill does not know (the
// carrier must not retry those; the log and `waybill webhooks list` show
// them).
func receiveWebhook(store *models.Store, secrets []string, limit *failureLimiter, log *logrus.Logger) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		body, err := readBody(c)
		if err != nil {
			return err
		}
		if !verifySignature(secrets, req.Header.Get(SignatureHeader), body) {
			if _, wait := limit.take(clientAddress(req)); wait > 0 {
				return rateLimited(wait, "too many webhooks with bad signatures from this address")
			}
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `HMAC-SHA256 header="`+SignatureHeader+`"`)
			if len(secrets) == 0 {
				return newError("unauthorized", "webhooks are off: the server has no WEBHOOK_SECRET")
			}
			return newError("unauthorized", "a valid %s (%s<hex HMAC-SHA256 of the body>) is required", SignatureHeader, signaturePrefix)
		}
		if err := checkContentType(c, false); err != nil {
			return err
		}
		d, err := store.ReceiveWebhook(req.Context(), body)
		if errors.Is(err, models.ErrInvalidJSON) {
			return newError("bad_request", "the body is not a JSON object in UTF-8")
		}
		if err != nil {
			return err
		}
		entry := log.WithFields(logrus.Fields{
			"request_id": c.Response().Header().Get(echo.HeaderXRequestID),
			"webhook":    d.ID, "event_id": d.EventID, "description": d.Description,
			"outcome": d.Outcome, "events_added": d.EventsAdded,
		})
		switch d.Outcome {
		case models.WebhookApplied, models.WebhookNoChange:
			entry.Info("webhook: " + d.Detail)
		default:
			entry.Warn("webhook acknowledged, not applied: " + d.Detail)
		}
		return c.JSON(http.StatusOK, webhookReceipt{ID: d.ID.String(), EventID: d.EventID, Outcome: d.Outcome,
			EventsAdded: d.EventsAdded, Detail: d.Detail})
	}
}

// addressRateLimit allows each client address rps requests per second on
// average, with bursts of one second's worth; past that it answers 429
// with Retry-After. rps 0 turns it off. It guards routes without an API
// key to count by.
func addressRateLimit(rps float64) echo.MiddlewareFunc {
	if rps <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	wait := time.Duration(float64(time.Second) / rps)
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate: rate.Limit(rps), ExpiresIn: 3 * time.Minute,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) {
			return clientAddress(c.Request()).String(), nil
		},
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			return rateLimited(wait, "this address sent more than %g requests per second", rps)
		},
	})
}

// maxTrackingCode is the length of shipments.tracking_code.
const maxTrackingCode = 100

// getTracker serves GET /v1/trackers/{tracking_code}: the shipment with
// that tracking code (and, with ?carrier=, that carrier; the newest if
// several) and its tracking events, oldest first.
func getTracker(store *models.Store) echo.HandlerFunc {
	return func(c echo.Context) error {
		code, err := url.PathUnescape(c.Param("tracking_code"))
		if err != nil || code == "" || !utf8.ValidString(code) || strings.ContainsRune(code, 0) ||
			utf8.RuneCountInString(code) > maxTrackingCode {
			return newError("bad_request", "the tracking code must be 1 to %d characters", maxTrackingCode)
		}
		q := newQuery(c.QueryParams(), "carrier")
		carrier := q.str("carrier")
		if err := q.Err(); err != nil {
			return err
		}
		var cr string
		if carrier != nil {
			cr = *carrier
		}
		t, err := store.TrackerByCode(c.Request().Context(), code, cr)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, t)
	}
}
