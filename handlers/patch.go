package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/jsonenc"
)

// etag is a strong ETag over a resource's JSON representation: it changes
// whenever anything a client can see changes, nested objects included.
func etag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// representation returns v's JSON (as json.Marshal writes it) and its ETag.
func representation(v any) ([]byte, string, error) {
	body, err := jsonenc.Marshal(v)
	if err != nil {
		return nil, "", err
	}
	return body, etag(body), nil
}

// writeTagged writes v as JSON with its ETag.
func writeTagged(c echo.Context, status int, v any) error {
	body, tag, err := representation(v)
	if err != nil {
		return err
	}
	c.Response().Header().Set("ETag", tag)
	return c.JSONBlob(status, body)
}

// checkIfMatch answers 412 unless the If-Match header (if any) lists the
// current representation's ETag or is "*".
func checkIfMatch(r *http.Request, current any) error {
	header := r.Header.Get("If-Match")
	if header == "" {
		return nil
	}
	_, tag, err := representation(current)
	if err != nil {
		return err
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || t == tag {
			return nil
		}
	}
	return newError("precondition_failed", "If-Match does not match the current ETag %s", tag)
}
