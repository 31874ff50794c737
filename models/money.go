package models

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
)

// Money is an exact amount in hundredths of the currency unit (cents). It
// is stored as numeric(12,2) and written in JSON as a number with two
// decimals (12.10), so sums never pick up floating-point error.
type Money int64

// ErrMoneyPrecision is returned for an amount with more than two decimals.
var ErrMoneyPrecision = errors.New("must have at most two decimal places")

// ParseMoney parses a decimal string such as "12.1", "-3", "0.05". It
// rejects more than two decimals rather than rounding silently.
func ParseMoney(s string) (Money, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	// numeric's text form may carry trailing zeros beyond two places
	// ("12.1000" from a sum); they are exact, so drop them.
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 2 {
		return 0, ErrMoneyPrecision
	}
	frac += strings.Repeat("0", 2-len(frac))
	if whole == "" {
		whole = "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > math.MaxInt64/100-1 {
		return 0, fmt.Errorf("%q is not a number in range", s)
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	m := Money(w*100 + f)
	if neg {
		m = -m
	}
	return m, nil
}

// String formats m with exactly two decimals.
func (m Money) String() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// MarshalJSON writes m as a JSON number with two decimals.
func (m Money) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalJSON reads a JSON number (not a string) exactly.
func (m *Money) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if strings.ContainsAny(s, `"eE`) {
		return errors.New("must be a plain JSON number such as 12.10")
	}
	v, err := ParseMoney(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Value implements driver.Valuer: numeric accepts the decimal text.
func (m Money) Value() (driver.Value, error) { return m.String(), nil }

// Scan implements sql.Scanner for numeric (text from the driver), integers
// and, for a database not yet migrated off double precision, floats.
func (m *Money) Scan(src any) error {
	switch v := src.(type) {
	case string:
		p, err := ParseMoney(v)
		*m = p
		return err
	case []byte:
		p, err := ParseMoney(string(v))
		*m = p
		return err
	case int64:
		*m = Money(v * 100)
		return nil
	case float64:
		*m = Money(math.Round(v * 100))
		return nil
	}
	return fmt.Errorf("money: cannot scan %T", src)
}

// ScanNumeric implements pgx's NumericScanner: an exact amount with at
// most two decimals, without the decimal text database/sql goes through.
func (m *Money) ScanNumeric(v pgtype.Numeric) error {
	switch {
	case !v.Valid:
		return errors.New("money: cannot scan NULL")
	case v.NaN || v.InfinityModifier != pgtype.Finite:
		return errors.New("money: cannot scan NaN or infinity")
	}
	if v.Exp == -2 && v.Int.IsInt64() {
		// numeric(12,2), the columns' type, mostly comes with that scale:
		// v.Int is then the cents.
		*m = Money(v.Int.Int64())
		return nil
	}
	// Any other scale (trailing zeros trimmed, an integer): through the
	// decimal text, by ParseMoney's rules.
	text, err := v.Value()
	if err != nil {
		return err
	}
	return m.Scan(text)
}
