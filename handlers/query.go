package handlers

import (
	"errors"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/waybill/waybill/models"
)

// query reads a request's query parameters against an allow-list: an
// unknown, repeated or malformed parameter is a 400 naming it. Values are
// only ever bound as SQL parameters, never spliced into SQL.
type query struct {
	values url.Values
	err    error
}

// listParams are the parameters every list accepts (docs/api.md, "Lists").
var listParams = []string{"page_size", "before_id", "after_id", "cursor", "start_datetime", "end_datetime"}

// newQuery checks that every parameter in v is one of allowed, given
// once, as text: valid UTF-8 without NUL bytes (which PostgreSQL's text
// cannot hold).
func newQuery(v url.Values, allowed ...string) *query {
	q := &query{values: v}
	for _, name := range slices.Sorted(maps.Keys(v)) {
		vals := v[name]
		switch {
		case !slices.Contains(allowed, name):
			q.fail("unknown query parameter %q", name)
		case len(vals) > 1:
			q.fail("query parameter %s is given more than once", name)
		case len(vals) == 1 && !isText(vals[0]):
			q.fail("query parameter %s must be valid UTF-8 text without NUL bytes", name)
		}
	}
	return q
}

// isText reports whether s is valid UTF-8 without NUL bytes.
func isText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

func (q *query) fail(format string, args ...any) {
	if q.err == nil {
		q.err = newError("bad_request", format, args...)
	}
}

// Err returns the first problem found.
func (q *query) Err() error { return q.err }

func (q *query) raw(name string) (string, bool) {
	vals, ok := q.values[name]
	if !ok || len(vals) == 0 {
		return "", false
	}
	return vals[0], true
}

// str returns a parameter's value, or nil if it is absent. An empty value
// is a mistake, not "no filter".
func (q *query) str(name string) *string {
	v, ok := q.raw(name)
	if !ok {
		return nil
	}
	if v == "" {
		q.fail("query parameter %s is empty", name)
	}
	return &v
}

func (q *query) id(name string) *uuid.UUID {
	v := q.str(name)
	if v == nil {
		return nil
	}
	id, err := parseUUID(*v)
	if err != nil {
		q.fail("%s must be a UUID", name)
		return nil
	}
	return &id
}

// parseUUID parses a UUID in its canonical text form only: 32 hex digits,
// in either case, grouped 8-4-4-4-12 by dashes, as RFC 9562 writes it and
// JSON Schema's "uuid" format accepts it. uuid.Parse alone would also take
// braces, a urn:uuid: prefix or no dashes, which the document refuses.
func parseUUID(s string) (uuid.UUID, error) {
	if len(s) != 36 {
		return uuid.Nil, errNotUUID
	}
	return uuid.Parse(s)
}

var errNotUUID = errors.New("not a UUID in its canonical form")

func (q *query) time(name string) *time.Time {
	v := q.str(name)
	if v == nil {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, *v)
	if err != nil {
		q.fail("%s must be an RFC 3339 date-time such as 2026-11-28T17:39:55Z", name)
		return nil
	}
	return &t
}

func (q *query) date(name string) *models.Date {
	v := q.str(name)
	if v == nil {
		return nil
	}
	t, err := time.Parse(models.DateFormat, *v)
	if err != nil {
		q.fail("%s must be a date such as 2026-11-28", name)
		return nil
	}
	return &models.Date{Time: t}
}

func (q *query) int(name string, def, min, max int) int {
	v := q.str(name)
	if v == nil {
		return def
	}
	n, err := strconv.Atoi(*v)
	if err != nil || n < min || n > max {
		q.fail("%s must be an integer from %d to %d", name, min, max)
		return def
	}
	return n
}

// oneOf returns a parameter that must be one of allowed.
func (q *query) oneOf(name string, allowed []string) *string {
	v := q.str(name)
	if v != nil && !slices.Contains(allowed, *v) {
		q.fail("%s must be one of %s", name, strings.Join(allowed, ", "))
	}
	return v
}

// page reads the list parameters: page_size (1–100, default 20), one of
// before_id, after_id or cursor, and the window start_datetime
// (inclusive) to end_datetime (exclusive), start before end.
func (q *query) page() models.Page {
	p := models.Page{
		Size:     q.int("page_size", 20, 1, 100),
		BeforeID: q.id("before_id"),
		AfterID:  q.id("after_id"),
		Start:    q.time("start_datetime"),
		End:      q.time("end_datetime"),
	}
	q.cursor(&p)
	switch {
	case p.BeforeID != nil && p.AfterID != nil:
		q.fail("give before_id or after_id, not both")
	case (p.BeforeID != nil || p.AfterID != nil) && (p.Before != nil || p.After != nil):
		q.fail("give cursor or before_id or after_id, not two of them")
	}
	if p.Start != nil && p.End != nil && !p.Start.Before(*p.End) {
		q.fail("start_datetime must be before end_datetime")
	}
	return p
}

// listOf returns a comma-separated parameter whose items must be in
// allowed.
func (q *query) listOf(name string, allowed []string) []string {
	v := q.str(name)
	if v == nil {
		return nil
	}
	items := strings.Split(*v, ",")
	for _, it := range items {
		if !slices.Contains(allowed, it) {
			q.fail("%s: %q is not one of %s", name, it, strings.Join(allowed, ", "))
		}
	}
	return items
}

// listResponse is the body of every list: {"<plural>": [...], "has_more": …}.
// An empty page is [], never null.
func listResponse[T any](plural string, items []T, more bool) map[string]any {
	if items == nil {
		items = []T{}
	}
	return map[string]any{plural: items, "has_more": more}
}
