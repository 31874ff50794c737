package models

import (
	"bytes"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

var varcharType = regexp.MustCompile(`^varchar\((\d+)\)$`)

// maxMoney is numeric(12,2)'s largest value, in cents.
const maxMoney = Money(999_999_999_999)

// checkColumns checks every field of the model m (a pointer to a struct of
// this package) against its column's limits, read from the gorm type tag:
// the length of a varchar(n), the range of an integer or a numeric(12,2),
// and the NUL character PostgreSQL text and jsonb cannot hold. Problems are
// recorded under path + the field's JSON name. Checking here, from the same
// tags the schema-drift test compares with the database, means a value
// never reaches the database only to fail there.
func checkColumns(m any, path string, v *ValidationError) {
	rv := reflect.ValueOf(m).Elem()
	for _, c := range columnRules(rv.Type()) {
		fv := rv.Field(c.index)
		if fv.Kind() == reflect.Pointer {
			if fv.IsNil() {
				continue
			}
			fv = fv.Elem()
		}
		switch val := fv.Interface().(type) {
		case string:
			if n := c.varchar; n > 0 && len(val) > n && utf8.RuneCountInString(val) > n {
				v.Add(join(path, c.name), "must be at most %d characters", n)
			}
			if strings.ContainsRune(val, 0) {
				v.Add(join(path, c.name), "must not contain NUL characters")
			}
		case int:
			if val > math.MaxInt32 || val < math.MinInt32 {
				v.Add(join(path, c.name), "is out of range")
			}
		case float64:
			if math.IsNaN(val) || math.IsInf(val, 0) || math.Abs(val) > 1e15 {
				v.Add(join(path, c.name), "is out of range")
			}
		case Money:
			if val > maxMoney || val < -maxMoney {
				v.Add(join(path, c.name), "must be less than 10000000000.00 in absolute value")
			}
		case JSON:
			if bytes.Contains(val, []byte(`\u0000`)) {
				v.Add(join(path, c.name), "must not contain NUL characters")
			}
		}
	}
}

// columnRule is a field of a model with a gorm type tag, as checkColumns
// reads it.
type columnRule struct {
	index   int
	name    string // JSON
	varchar int    // n of a varchar(n), else 0
}

// columnRuleCache maps a model's type to its columns, read once: parsing the
// tags on every check was a quarter of a batch import's time.
var columnRuleCache sync.Map // reflect.Type → []columnRule

func columnRules(rt reflect.Type) []columnRule {
	if cs, ok := columnRuleCache.Load(rt); ok {
		return cs.([]columnRule)
	}
	var cs []columnRule
	for i := range rt.NumField() {
		f := rt.Field(i)
		if typ := gormType(f.Tag.Get("gorm")); typ != "" {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			c := columnRule{index: i, name: name}
			if m := varcharType.FindStringSubmatch(typ); m != nil {
				c.varchar, _ = strconv.Atoi(m[1])
			}
			cs = append(cs, c)
		}
	}
	columnRuleCache.Store(rt, cs)
	return cs
}

// gormType returns the type: setting of a gorm struct tag.
func gormType(tag string) string {
	for _, part := range strings.Split(tag, ";") {
		if t, ok := strings.CutPrefix(part, "type:"); ok {
			return t
		}
	}
	return ""
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
