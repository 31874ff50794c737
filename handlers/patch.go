package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

// Optional is one member of a JSON merge patch (RFC 7396): absent (Set is
// false), null (Null), or a value.
type Optional[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON is called only for members present in the patch.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

// patch applies Optional members to a model, collecting the columns it
// changed and the members that may not be null.
type patch struct {
	cols []string
	v    models.ValidationError
}

// nullable applies o to a nullable column.
func nullable[T any](p *patch, o Optional[T], dst **T, col string) {
	if !o.Set {
		return
	}
	if o.Null {
		*dst = nil
	} else {
		val := o.Value
		*dst = &val
	}
	p.cols = append(p.cols, col)
}

// required applies o to a NOT NULL column: null is invalid.
func required[T any](p *patch, o Optional[T], dst *T, col, field string) {
	if !o.Set {
		return
	}
	if o.Null {
		p.v.Add(field, "must not be null")
		return
	}
	*dst = o.Value
	p.cols = append(p.cols, col)
}

// document applies o to a jsonb column; null clears it.
func document(p *patch, o Optional[models.JSON], dst *models.JSON, col string) {
	if !o.Set {
		return
	}
	*dst = nil
	if !o.Null {
		*dst = o.Value
	}
	p.cols = append(p.cols, col)
}

// result returns the changed columns, or the validation error.
func (p *patch) result() ([]string, error) {
	if err := p.v.Err(); err != nil {
		return nil, err
	}
	return p.cols, nil
}

// etag is a strong ETag over a resource's JSON representation: it changes
// whenever anything a client can see changes, nested objects included.
func etag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// representation returns v's JSON and its ETag.
func representation(v any) ([]byte, string, error) {
	body, err := json.Marshal(v)
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
