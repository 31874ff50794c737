package models

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// TimeFormat is how the API writes instants: RFC 3339, UTC, microseconds.
const TimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// Time is an instant as PostgreSQL's timestamptz holds it (microsecond
// precision). It is written in JSON in UTC with exactly six fractional
// digits and read from any RFC 3339 offset.
type Time struct{ time.Time }

// MarshalJSON writes t as "2026-11-28T17:39:55.123456Z".
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format(TimeFormat) + `"`), nil
}

// UnmarshalJSON reads an RFC 3339 string with any offset.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("must be an RFC 3339 date-time string")
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return errors.New("must be an RFC 3339 date-time such as 2026-11-28T17:39:55Z")
	}
	t.Time = v.UTC().Truncate(time.Microsecond)
	return nil
}

// Value implements driver.Valuer.
func (t Time) Value() (driver.Value, error) { return t.UTC(), nil }

// Scan implements sql.Scanner.
func (t *Time) Scan(src any) error {
	v, ok := src.(time.Time)
	if !ok {
		return fmt.Errorf("time: cannot scan %T", src)
	}
	t.Time = v.UTC()
	return nil
}

// Date is a calendar day (PostgreSQL date), written as "2026-11-28".
type Date struct{ time.Time }

// DateFormat is how the API writes and reads a Date.
const DateFormat = "2006-01-02"

// MarshalJSON writes d as "2026-11-28".
func (d Date) MarshalJSON() ([]byte, error) { return []byte(`"` + d.Format(DateFormat) + `"`), nil }

// UnmarshalJSON reads "YYYY-MM-DD".
func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("must be a date string such as 2026-11-28")
	}
	v, err := time.Parse(DateFormat, s)
	if err != nil {
		return errors.New("must be a date such as 2026-11-28")
	}
	d.Time = v
	return nil
}

// Value implements driver.Valuer.
func (d Date) Value() (driver.Value, error) { return d.Format(DateFormat), nil }

// Scan implements sql.Scanner.
func (d *Date) Scan(src any) error {
	v, ok := src.(time.Time)
	if !ok {
		return fmt.Errorf("date: cannot scan %T", src)
	}
	d.Time = time.Date(v.Year(), v.Month(), v.Day(), 0, 0, 0, 0, time.UTC)
	return nil
}

// JSON is a jsonb value kept as its text, so that what a client sent (a
// rate amount written as the string "12.10", say) comes back unchanged.
// The empty value is SQL NULL and JSON null.
type JSON json.RawMessage

// MarshalJSON writes the stored document, or null.
func (j JSON) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	return j, nil
}

// UnmarshalJSON keeps the document's text; null becomes empty.
func (j *JSON) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*j = nil
		return nil
	}
	*j = append((*j)[:0], b...)
	return nil
}

// Value implements driver.Valuer: the document as text, or NULL.
func (j JSON) Value() (driver.Value, error) {
	if len(j) == 0 {
		return nil, nil
	}
	return string(j), nil
}

// Scan implements sql.Scanner.
func (j *JSON) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*j = nil
	case []byte:
		*j = append((*j)[:0], v...)
	case string:
		*j = JSON(v)
	default:
		return fmt.Errorf("json: cannot scan %T", src)
	}
	return nil
}

// ScanTimestamptz implements pgx's TimestamptzScanner, so that pgx fills
// a Time without going through database/sql's values.
func (t *Time) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid || v.InfinityModifier != pgtype.Finite {
		return fmt.Errorf("time: cannot scan %s", describeTimestamptz(v))
	}
	t.Time = v.Time.UTC()
	return nil
}

func describeTimestamptz(v pgtype.Timestamptz) string {
	if !v.Valid {
		return "NULL"
	}
	return "an infinite timestamp"
}

// ScanBytes implements pgx's BytesScanner: the document's text, copied
// (pgx reuses its buffer).
func (j *JSON) ScanBytes(v []byte) error {
	if v == nil {
		*j = nil
		return nil
	}
	*j = append((*j)[:0], v...)
	return nil
}
