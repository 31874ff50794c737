package handlers

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

// decode reads the request's JSON body into dst, a pointer to the model
// (or, for a body that is not a resource, the type) the route fills, as
// the route's request schema in the document says (see bodyContract):
// keys the schema lacks are refused, and properties the body leaves out
// take the schema's default. It answers
//   - 415 unless the body is application/json;
//   - 400 for invalid UTF-8, malformed JSON, trailing data, a body that is
//     not an object, a key given twice in one object (named by its JSON
//     path), and values of the wrong type;
//   - 422 for unknown fields, read-only fields and keys that differ from
//     a field name only in case, null for a field that cannot be null,
//     and values that break their type's own rules (money's two decimals,
//     dates, UUIDs), each named by its JSON path.
func decode(c echo.Context, dst any) error {
	_, err := decodeRequest(c, dst, false)
	return err
}

// mergePatch is a decoded JSON merge patch (RFC 7396) of a T: value holds
// the members it sets (null clears a nullable field), fields their indexes
// in T. A document field (models.JSON) is replaced whole.
type mergePatch[T any] struct {
	value  T
	fields []int
}

// decodePatch reads a merge patch of a T (application/merge-patch+json or
// application/json) as decode does, but without defaults.
func decodePatch[T any](c echo.Context) (mergePatch[T], error) {
	var p mergePatch[T]
	fields, err := decodeRequest(c, &p.value, true)
	p.fields = fields
	return p, err
}

// apply writes the patch's members into dst and returns the names of the
// fields it changed, for the store to write.
func (p mergePatch[T]) apply(dst *T) []string {
	src, to := reflect.ValueOf(&p.value).Elem(), reflect.ValueOf(dst).Elem()
	names := make([]string, 0, len(p.fields))
	for _, i := range p.fields {
		to.Field(i).Set(src.Field(i))
		names = append(names, to.Type().Field(i).Name)
	}
	return names
}

// decodeRequest is decode, and decodePatch when mergePatch; it returns
// the indexes of dst's fields the body gives.
func decodeRequest(c echo.Context, dst any, mergePatch bool) ([]int, error) {
	bc, err := contractFor(c, dst)
	if err != nil {
		return nil, err
	}
	if err := checkContentType(c, mergePatch); err != nil {
		return nil, err
	}
	body, err := readBody(c)
	if err != nil {
		return nil, err
	}
	return decodeBytes(body, bc, dst, mergePatch)
}

// readBody reads the whole request body. A body over BODY_LIMIT is 413
// payload_too_large (however it was sent, chunked included), one that did
// not arrive before the request's deadline 408 request_timeout, and one
// that could not be read for another reason 400.
func readBody(c echo.Context) ([]byte, error) {
	body, err := io.ReadAll(c.Request().Body)
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return body, nil
	case errors.As(err, &tooLarge):
		return nil, errTooLarge(tooLarge.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, errBodyTimeout()
	}
	return nil, newError("bad_request", "the request body could not be read")
}

func checkContentType(c echo.Context, mergePatch bool) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || (mergePatch && mt == "application/merge-patch+json")) {
		return nil
	}
	want := "application/json"
	if mergePatch {
		want += " or application/merge-patch+json"
	}
	return newError("unsupported_media", "Content-Type must be %s", want)
}

// decodeBytes is decodeRequest without the HTTP: the body's bytes into
// dst, following bc.
func decodeBytes(body []byte, bc *bodyContract, dst any, mergePatch bool) ([]int, error) {
	if !utf8.Valid(body) {
		return nil, newError("bad_request", "the body is not valid UTF-8")
	}
	// First pass: well-formed JSON, one value, an object.
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, newError("bad_request", "malformed JSON: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, newError("bad_request", "unexpected data after the JSON value")
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, newError("bad_request", "the body must be a JSON object")
	}
	// Bodies are strict: a key given twice in one object would otherwise
	// be settled silently (the last one wins).
	if path := duplicateKey(body); path != "" {
		return nil, newError("bad_request", "%s: the key is given more than once in its object", path)
	}
	// Second pass: every key is in the contract, spelled exactly; values
	// with rules of their own (money, times) follow them; defaults are set.
	fc := fieldCheck{mergePatch: mergePatch}
	fields := fc.object(obj, bc, reflect.ValueOf(dst).Elem(), "")
	if fc.typeErr != nil {
		return nil, fc.typeErr
	}
	if err := fc.v.Err(); err != nil {
		return nil, err
	}
	// Third pass: types.
	if err := json.Unmarshal(body, dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return nil, newError("bad_request", "%s: must be %s", typeErr.Field, jsonTypeName(typeErr.Type))
		}
		return nil, newError("bad_request", "invalid value: %s", jsonProblem(err))
	}
	if len(fc.bounds.Errors) > 0 {
		var more *models.ValidationError
		if m, ok := dst.(interface{ Validate() error }); ok && !mergePatch && errors.As(m.Validate(), &more) {
			for _, e := range more.Errors {
				fc.bounds.Add(e.Field, "%s", e.Message)
			}
		}
		return nil, &fc.bounds
	}
	return fields, nil
}

// duplicateKey returns the path of the first key that the well-formed
// JSON text body gives twice in one object (nested objects and arrays
// included, paths written as walk writes them), or "" if none is.
func duplicateKey(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	path, _ := findDuplicate(dec, "")
	return path
}

// findDuplicate reads the next value from dec, whose path is path, and
// returns the path of the first key repeated within one of its objects.
// The depth is bounded by the decoder's, which refused deeper bodies
// before this runs.
func findDuplicate(dec *json.Decoder, path string) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return "", err
			}
			key, _ := tok.(string)
			if seen[key] {
				return join(path, key), nil
			}
			seen[key] = true
			if dup, err := findDuplicate(dec, join(path, key)); dup != "" || err != nil {
				return dup, err
			}
		}
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if dup, err := findDuplicate(dec, fmt.Sprintf("%s[%d]", path, i)); dup != "" || err != nil {
				return dup, err
			}
		}
	default:
		return "", nil
	}
	_, err = dec.Token() // the closing delimiter
	return "", err
}

// fieldCheck collects what the second pass finds: the first value of a
// wrong JSON type (400) and the invalid fields (422).
type fieldCheck struct {
	mergePatch bool
	typeErr    error
	v          models.ValidationError
	// bounds are the numbers outside the document's bounds: reported
	// with the model's own complaints, so that one 422 lists them all.
	bounds models.ValidationError
}

// object checks the decoded JSON object obj, at path, against its
// contract bc and v, the struct it will decode into: unknown and read-only
// keys are recorded with their paths (encoding/json would silently ignore
// the first and match keys case-insensitively), nested objects are
// checked in turn, null is refused for a field that cannot hold it, and,
// except in a merge patch, the defaults of the properties obj leaves out
// are written into v (the decoding that follows leaves them be). It
// returns the indexes of v's fields that obj gives.
func (fc *fieldCheck) object(obj map[string]any, bc *bodyContract, v reflect.Value, path string) []int {
	fields := jsonFields(v.Type())
	given := make([]int, 0, len(obj))
	for key, val := range obj {
		prop, ok := bc.props[key]
		switch {
		case ok:
			i := fields[key] // contractFor checked that it exists
			given = append(given, i)
			fv := v.Field(i)
			switch sub, isObject := val.(map[string]any); {
			case val == nil && !canBeNull(fv.Type()):
				fc.v.Add(join(path, key), "must not be null")
			case prop.object != nil && isObject:
				if fv.Kind() == reflect.Pointer {
					if fv.IsNil() {
						fv.Set(reflect.New(fv.Type().Elem()))
					}
					fv = fv.Elem()
				}
				fc.object(sub, prop.object, fv, join(path, key))
			default:
				fc.value(val, fv.Type(), join(path, key))
				fc.bounded(val, prop.bounds, join(path, key))
			}
		case bc.readOnly[key]:
			fc.v.Add(join(path, key), "is read-only")
		default:
			fc.v.Add(join(path, key), "is not a known field")
		}
	}
	if !fc.mergePatch {
		for key, prop := range bc.props {
			if _, given := obj[key]; prop.def != nil && !given {
				if err := json.Unmarshal(prop.def, v.Field(fields[key]).Addr().Interface()); err != nil {
					fc.v.Add(join(path, key), "the documented default does not fit")
				}
			}
		}
	}
	return given
}

// value checks a decoded JSON value that decodes into a type with rules of
// its own (money, times, dates, UUIDs): its complaint is about the value,
// so it is reported with its path. Other values are judged by the
// decoding (their JSON type) and the model (their column's limits).
func (fc *fieldCheck) value(val any, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if val == nil {
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		raw, err := json.Marshal(val)
		if err == nil {
			err = reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(raw)
		}
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			if fc.typeErr == nil {
				fc.typeErr = newError("bad_request", "%s: must be %s", path, jsonTypeName(typeErr.Type))
			}
		case err != nil:
			fc.v.Add(path, "%s", err.Error())
		}
		return
	}
	if str, ok := val.(string); ok && reflect.PointerTo(t).Implements(textUnmarshalerType) {
		err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(str))
		switch {
		case t == uuidType && (err != nil || !canonicalUUID(str)):
			// Not the library's text ("invalid UUID length: 7").
			fc.v.Add(path, "must be a UUID")
		case err != nil:
			fc.v.Add(path, "is not valid: %s", err.Error())
		}
	}
}

// bounded records, for a number, the first of its bounds it breaks.
func (fc *fieldCheck) bounded(val any, bounds []bound, path string) {
	n, ok := val.(json.Number)
	if !ok || len(bounds) == 0 {
		return
	}
	x, err := n.Float64()
	if err != nil {
		return // out of float64's range: a type error, reported by the decoding
	}
	for _, b := range bounds {
		if msg := b.breaks(x); msg != "" {
			fc.bounds.Add(path, "%s", msg)
			return
		}
	}
}

// canBeNull reports whether a Go value of type t can hold a JSON null: a
// pointer, or a slice such as models.JSON.
func canBeNull(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return true
	}
	return false
}

// valueType reports whether t decodes as one value rather than an object
// of fields: anything but a struct, or a struct that decodes itself (a
// time, a date).
func valueType(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(unmarshalerType) ||
		reflect.PointerTo(t).Implements(textUnmarshalerType)
}

// canonicalUUID reports whether str is a UUID parseUUID accepts.
func canonicalUUID(str string) bool {
	_, err := parseUUID(str)
	return err == nil
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	uuidType            = reflect.TypeFor[uuid.UUID]()
)

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// jsonFields maps a struct's JSON names to their fields' indexes, read
// once per type (the map is shared: callers must not change it).
func jsonFields(t reflect.Type) map[string]int {
	if f, ok := jsonFieldCache.Load(t); ok {
		return f.(map[string]int)
	}
	fields := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = i
	}
	jsonFieldCache.Store(t, fields)
	return fields
}

// jsonFieldCache maps a struct type to its jsonFields.
var jsonFieldCache sync.Map

// jsonProblem says what is wrong with a body encoding/json refused, in
// the API's words rather than the library's.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("unexpected character at byte %d", syn.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the body ends too early"
	}
	return "a value does not have the expected type"
}

func jsonTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == uuidType {
		return "a UUID"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number in range"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a different type"
}
