// Package jsonenc writes JSON byte for byte as encoding/json does, with
// less work for the shapes the API answers with most: structs of plain
// fields, pointers, the models' MarshalJSON and MarshalText types and the
// maps that wrap list pages.
//
// It plans each type once (its fields, their names already escaped, the
// encoder of each) and appends to one buffer. The time it saves is mostly
// in what encoding/json does with a MarshalJSON result: it runs it through
// its general scanner, one byte at a time, to check and compact it, and
// the models' jsonb documents are most of a shipment's bytes. Here a small
// recursive-descent pass does the same check and the same compaction.
//
// Anything the plan does not cover (embedded structs, ",string" and
// "omitzero" options, []byte, maps with keys other than strings,
// json.Number) is encoded by encoding/json itself, and on any error the
// whole value is encoded again by encoding/json, so that errors are
// exactly encoding/json's too.
package jsonenc

import (
	"encoding"
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Marshal returns v's JSON as json.Marshal does.
func Marshal(v any) ([]byte, error) {
	buf := getBuffer()
	defer putBuffer(buf)
	b, err := appendValue((*buf)[:0], v)
	*buf = b
	if err != nil {
		return json.Marshal(v)
	}
	return slices.Clone(b), nil
}

// Encode writes v's JSON and a newline to w as a json.Encoder with its
// default settings does: one Write, nothing written on error.
func Encode(w io.Writer, v any) error {
	buf := getBuffer()
	defer putBuffer(buf)
	b, err := appendValue((*buf)[:0], v)
	*buf = b
	if err != nil {
		return json.NewEncoder(w).Encode(v)
	}
	b = append(b, '\n')
	*buf = b
	_, err = w.Write(b)
	return err
}

var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuffer() *[]byte { return buffers.Get().(*[]byte) }

// putBuffer keeps a buffer for the next call unless an unusually large
// answer grew it: the pool should not pin megabytes.
func putBuffer(b *[]byte) {
	if cap(*b) <= 1<<20 {
		buffers.Put(b)
	}
}

func appendValue(dst []byte, v any) ([]byte, error) {
	if v == nil {
		return append(dst, "null"...), nil
	}
	rv := reflect.ValueOf(v)
	return typeEncoder(rv.Type())(dst, rv, 0)
}

// An encoderFunc appends v's JSON. depth counts the pointers, maps,
// slices and interfaces above v: past maxDepth the plan gives up and
// encoding/json, which detects cycles there, takes over.
type encoderFunc func(dst []byte, v reflect.Value, depth int) ([]byte, error)

const maxDepth = 1000

var (
	errFallback = errors.New("jsonenc: left to encoding/json")

	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	numberType        = reflect.TypeFor[json.Number]()
)

var encoders sync.Map // reflect.Type → encoderFunc

// typeEncoder returns t's encoder, planning it on first use. A recursive
// type gets, while its plan is built, an encoder that waits for it.
func typeEncoder(t reflect.Type) encoderFunc {
	if f, ok := encoders.Load(t); ok {
		return f.(encoderFunc)
	}
	var (
		wg sync.WaitGroup
		f  encoderFunc
	)
	wg.Add(1)
	indirect := encoderFunc(func(dst []byte, v reflect.Value, depth int) ([]byte, error) {
		wg.Wait()
		return f(dst, v, depth)
	})
	if got, loaded := encoders.LoadOrStore(t, indirect); loaded {
		return got.(encoderFunc)
	}
	f = newTypeEncoder(t, true)
	wg.Done()
	encoders.Store(t, f)
	return f
}

// newTypeEncoder follows encoding/json's order: MarshalJSON before
// MarshalText before the kind, and a method with a pointer receiver only
// where the value is addressable (allowAddr).
func newTypeEncoder(t reflect.Type, allowAddr bool) encoderFunc {
	if t.Kind() != reflect.Pointer && allowAddr && reflect.PointerTo(t).Implements(marshalerType) {
		return condAddrEncoder(addrMarshalerEncoder, newTypeEncoder(t, false))
	}
	if t.Implements(marshalerType) {
		return marshalerEncoder
	}
	if t.Kind() != reflect.Pointer && allowAddr && reflect.PointerTo(t).Implements(textMarshalerType) {
		return condAddrEncoder(addrTextMarshalerEncoder, newTypeEncoder(t, false))
	}
	if t.Implements(textMarshalerType) {
		return textMarshalerEncoder
	}
	switch t.Kind() {
	case reflect.Bool:
		return boolEncoder
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return intEncoder
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return uintEncoder
	case reflect.Float32:
		return float32Encoder
	case reflect.Float64:
		return float64Encoder
	case reflect.String:
		if t == numberType {
			return fallbackEncoder
		}
		return stringEncoder
	case reflect.Interface:
		return interfaceEncoder
	case reflect.Struct:
		return newStructEncoder(t)
	case reflect.Map:
		return newMapEncoder(t)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return fallbackEncoder // base64, or bytes with their own methods
		}
		return newSliceEncoder(t)
	case reflect.Array:
		return newArrayEncoder(t)
	case reflect.Pointer:
		return newPointerEncoder(t)
	}
	return fallbackEncoder
}

// fallbackEncoder has encoding/json encode v, through a pointer where v
// is addressable so that methods with pointer receivers apply as they
// would have.
func fallbackEncoder(dst []byte, v reflect.Value, _ int) ([]byte, error) {
	x := v.Interface()
	if v.CanAddr() {
		x = v.Addr().Interface()
	}
	b, err := json.Marshal(x)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

func condAddrEncoder(addr, other encoderFunc) encoderFunc {
	return func(dst []byte, v reflect.Value, depth int) ([]byte, error) {
		if v.CanAddr() {
			return addr(dst, v, depth)
		}
		return other(dst, v, depth)
	}
}

func marshalerEncoder(dst []byte, v reflect.Value, _ int) ([]byte, error) {
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return append(dst, "null"...), nil
	}
	m, ok := reflect.TypeAssert[json.Marshaler](v)
	if !ok {
		return append(dst, "null"...), nil
	}
	return appendMarshaled(dst, m)
}

func addrMarshalerEncoder(dst []byte, v reflect.Value, _ int) ([]byte, error) {
	m, _ := reflect.TypeAssert[json.Marshaler](v.Addr())
	return appendMarshaled(dst, m)
}

func appendMarshaled(dst []byte, m json.Marshaler) ([]byte, error) {
	b, err := m.MarshalJSON()
	if err != nil {
		return dst, err
	}
	out, ok := appendCompact(dst, b)
	if !ok {
		return dst, errFallback
	}
	return out, nil
}

func textMarshalerEncoder(dst []byte, v reflect.Value, _ int) ([]byte, error) {
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return append(dst, "null"...), nil
	}
	m, ok := reflect.TypeAssert[encoding.TextMarshaler](v)
	if !ok {
		return append(dst, "null"...), nil
	}
	return appendText(dst, m)
}

func addrTextMarshalerEncoder(dst []byte, v reflect.Value, _ int) ([]byte, error) {
	m, _ := reflect.TypeAssert[encoding.TextMarshaler](v.Addr())
	return appendText(dst, m)
}

func appendText(dst []byte, m encoding.TextMarshaler) ([]byte, error) {
	b, err := m.MarshalText()
	if err != nil {
		return dst, err
	}
	return appendString(dst, b), nil
}

func boolEncoder(dst []byte, v reflect.Value, _ int) ([]byte, error) {
	return strconv.AppendBool(dst, v.Bool()), nil
}

func intEncoder(dst []byte, v reflect.Value, _ int) ([]byte, error) {
	return strconv.AppendInt(dst, v.Int(), 10), nil
}

func uintEncoder(dst []byte, v reflect.Value, _ int) ([]byte, error) {
	return strconv.AppendUint(dst, v.Uint(), 10), nil
}

func float32Encoder(dst []byte, v reflect.Value, _ int) ([]byte, error) {
	return appendFloat(dst, v.Float(), 32)
}

func float64Encoder(dst []byte, v reflect.Value, _ int) ([]byte, error) {
	return appendFloat(dst, v.Float(), 64)
}

// appendFloat formats f as encoding/json does: like ES6, shortest
// representation, exponent only below 1e-6 or from 1e21, "e-7" not
// "e-07". NaN and infinities are errors.
func appendFloat(dst []byte, f float64, bits int) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, errFallback
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}

func stringEncoder(dst []byte, v reflect.Value, _ int) ([]byte, error) {
	return appendString(dst, v.String()), nil
}

func interfaceEncoder(dst []byte, v reflect.Value, depth int) ([]byte, error) {
	if v.IsNil() {
		return append(dst, "null"...), nil
	}
	e := v.Elem()
	return typeEncoder(e.Type())(dst, e, depth+1)
}

func newPointerEncoder(t reflect.Type) encoderFunc {
	elem := typeEncoder(t.Elem())
	return func(dst []byte, v reflect.Value, depth int) ([]byte, error) {
		if v.IsNil() {
			return append(dst, "null"...), nil
		}
		if depth > maxDepth {
			return dst, errFallback
		}
		return elem(dst, v.Elem(), depth+1)
	}
}

func newSliceEncoder(t reflect.Type) encoderFunc {
	elems := newArrayEncoder(t)
	return func(dst []byte, v reflect.Value, depth int) ([]byte, error) {
		if v.IsNil() {
			return append(dst, "null"...), nil
		}
		if depth > maxDepth {
			return dst, errFallback
		}
		return elems(dst, v, depth+1)
	}
}

func newArrayEncoder(t reflect.Type) encoderFunc {
	elem := typeEncoder(t.Elem())
	return func(dst []byte, v reflect.Value, depth int) ([]byte, error) {
		dst = append(dst, '[')
		var err error
		for i := range v.Len() {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = elem(dst, v.Index(i), depth); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	}
}

// newMapEncoder handles maps with string keys, written in the order of
// their keys' bytes as encoding/json sorts them.
func newMapEncoder(t reflect.Type) encoderFunc {
	if t.Key().Kind() != reflect.String {
		return fallbackEncoder
	}
	elem := typeEncoder(t.Elem())
	type entry struct {
		key string
		val reflect.Value
	}
	return func(dst []byte, v reflect.Value, depth int) ([]byte, error) {
		if v.IsNil() {
			return append(dst, "null"...), nil
		}
		if depth > maxDepth {
			return dst, errFallback
		}
		entries := make([]entry, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			entries = append(entries, entry{it.Key().String(), it.Value()})
		}
		slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
		dst = append(dst, '{')
		var err error
		for i, e := range entries {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, e.key)
			dst = append(dst, ':')
			if dst, err = elem(dst, e.val, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	}
}

type field struct {
	index     int
	name      []byte // `"name":`, escaped as encoding/json escapes it
	omitEmpty bool
	encode    encoderFunc
}

// newStructEncoder plans a struct whose fields are all named and tagged
// plainly; any other struct is left to encoding/json, whose rules for
// embedded fields and conflicting names are not worth repeating here.
func newStructEncoder(t reflect.Type) encoderFunc {
	var fields []field
	seen := map[string]bool{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous {
			return fallbackEncoder
		}
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if !validTagName(name) {
			name = sf.Name
		}
		omitEmpty := false
		for opt := range strings.SplitSeq(opts, ",") {
			switch opt {
			case "omitempty":
				omitEmpty = true
			case "string", "omitzero":
				return fallbackEncoder
			}
		}
		if seen[name] {
			return fallbackEncoder
		}
		seen[name] = true
		fields = append(fields, field{
			index:     i,
			name:      append(appendString(nil, name), ':'),
			omitEmpty: omitEmpty,
			encode:    typeEncoder(sf.Type),
		})
	}
	return func(dst []byte, v reflect.Value, depth int) ([]byte, error) {
		next := byte('{')
		var err error
		for i := range fields {
			f := &fields[i]
			fv := v.Field(f.index)
			if f.omitEmpty && isEmptyValue(fv) {
				continue
			}
			dst = append(dst, next)
			next = ','
			dst = append(dst, f.name...)
			if dst, err = f.encode(dst, fv, depth); err != nil {
				return dst, err
			}
		}
		if next == '{' {
			return append(dst, "{}"...), nil
		}
		return append(dst, '}'), nil
	}
}

// validTagName is encoding/json's isValidTag.
func validTagName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

const hex = "0123456789abcdef"

// htmlSafe[b] reports whether ASCII byte b is written unchanged inside a
// string: not a control character, quote or backslash, nor <, > and &,
// which encoding/json escapes so that JSON is safe inside HTML.
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for b := range utf8.RuneSelf {
		t[b] = b >= 0x20 && !strings.ContainsRune(`"\<>&`, rune(b))
	}
	return t
}()

// appendString is encoding/json's appendString with HTML escaping: short
// escapes for \b \f \n \r \t, \u00XX for other control characters and
// <, > and &, \ufffd for each byte of invalid UTF-8, and U+2028 and
// U+2029 escaped.
func appendString[S []byte | string](dst []byte, src S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(src); {
		if b := src[i]; b < utf8.RuneSelf {
			if htmlSafe[b] {
				i++
				continue
			}
			dst = append(dst, src[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		n := min(len(src)-i, utf8.UTFMax)
		c, size := utf8.DecodeRuneInString(string(src[i : i+n]))
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, src[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, src[start:]...)
	return append(dst, '"')
}
