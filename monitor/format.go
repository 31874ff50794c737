package monitor

import (
	"fmt"
	"math"
	"strings"
	"time"
)

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func trimFloat(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0") }

// FormatDuration writes seconds as Go writes a duration, to the second
// ("7m12s"), or to the millisecond below a second.
func FormatDuration(seconds float64) string {
	d := time.Duration(seconds * float64(time.Second))
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// PrettySize writes n bytes with one decimal in 1024-based units, as
// PostgreSQL names them: "512 bytes", "100.0 kB", "2.1 MB".
func PrettySize(n int64) string {
	if n < 1024 && n > -1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	f := float64(n)
	for _, unit := range []string{"kB", "MB", "GB", "TB"} {
		f /= 1024
		if math.Abs(f) < 1024 || unit == "TB" {
			return fmt.Sprintf("%.1f %s", f, unit)
		}
	}
	panic("unreachable")
}

// QuoteIdent quotes a PostgreSQL identifier when it needs quotes (not all
// lower-case letters, digits and underscores).
func QuoteIdent(s string) string {
	plain := s != "" && !(s[0] >= '0' && s[0] <= '9')
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			plain = false
		}
	}
	if plain {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
