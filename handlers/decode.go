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
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

// readOnly names the fields a client may read but never send.
var readOnly = map[string]bool{"id": true, "created_at": true, "updated_at": true}

// decode reads the request's JSON body into dst, a request type (never a
// model). It answers
//   - 415 unless the body is JSON (application/json, or
//     application/merge-patch+json when mergePatch);
//   - 400 for invalid UTF-8, malformed JSON, trailing data, a body that is
//     not an object, a key given twice in one object (named by its JSON
//     path), and values of the wrong type;
//   - 422 for unknown fields, read-only fields and keys that differ from
//     a field name only in case, each named by its JSON path.
func decode(c echo.Context, dst any, mergePatch bool) error {
	if err := checkContentType(c, mergePatch); err != nil {
		return err
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	return decodeBytes(body, dst)
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

// decodeBytes is decode without the HTTP: the body's bytes into dst.
func decodeBytes(body []byte, dst any) error {
	if !utf8.Valid(body) {
		return newError("bad_request", "the body is not valid UTF-8")
	}
	// First pass: well-formed JSON, one value, an object.
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return newError("bad_request", "malformed JSON: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return newError("bad_request", "unexpected data after the JSON value")
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return newError("bad_request", "the body must be a JSON object")
	}
	// Bodies are strict: a key given twice in one object would otherwise
	// be settled silently (the last one wins).
	if path := duplicateKey(body); path != "" {
		return newError("bad_request", "%s: the key is given more than once in its object", path)
	}
	// Second pass: every key is a field of the request type, spelled
	// exactly, and values with rules of their own (money, times) follow them.
	var fc fieldCheck
	fc.walk(obj, reflect.TypeOf(dst), "")
	if fc.typeErr != nil {
		return fc.typeErr
	}
	if err := fc.v.Err(); err != nil {
		return err
	}
	// Third pass: types.
	if err := json.Unmarshal(body, dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return newError("bad_request", "%s: must be %s", typeErr.Field, jsonTypeName(typeErr.Type))
		}
		return newError("bad_request", "invalid value: %s", jsonProblem(err))
	}
	return nil
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

// fieldCheck collects what walk finds: the first value of a wrong JSON
// type (400) and the invalid fields (422).
type fieldCheck struct {
	typeErr error
	v       models.ValidationError
}

// walk follows a decoded JSON value alongside the Go type it will decode
// into, recording unknown and read-only keys with their paths (encoding/json
// would silently ignore the first and match keys case-insensitively) and
// the complaints of values that decode themselves.
func (fc *fieldCheck) walk(val any, t reflect.Type, path string) {
	v := &fc.v
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		// A value with its own rules (money, times, dates): its complaint
		// is about the value, so it is reported with its path.
		if val == nil {
			return
		}
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
		case err != nil && t == optionalUUIDType, t == optionalUUIDType && !canonicalUUID(val):
			v.Add(path, "must be a UUID")
		case err != nil:
			v.Add(path, "%s", err.Error())
		}
		return
	}
	if str, ok := val.(string); ok && reflect.PointerTo(t).Implements(textUnmarshalerType) {
		err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(str))
		switch {
		case t == uuidType && (err != nil || !canonicalUUID(str)):
			// Not the library's text ("invalid UUID length: 7").
			v.Add(path, "must be a UUID")
		case err != nil:
			v.Add(path, "is not valid: %s", err.Error())
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := val.(map[string]any)
		if !ok {
			return // a type error, reported by the third pass
		}
		fields := jsonFields(t)
		for key, sub := range obj {
			f, ok := fields[key]
			switch {
			case ok:
				fc.walk(sub, f, join(path, key))
			case readOnly[key]:
				v.Add(join(path, key), "is read-only")
			default:
				v.Add(join(path, key), "is not a known field")
			}
		}
	case reflect.Slice:
		if arr, ok := val.([]any); ok && t.Elem().Kind() != reflect.Uint8 {
			for i, sub := range arr {
				fc.walk(sub, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
}

// canonicalUUID reports whether val, a decoded JSON value, is a string
// parseUUID accepts (null and other types are judged elsewhere).
func canonicalUUID(val any) bool {
	str, ok := val.(string)
	if !ok {
		return true
	}
	_, err := parseUUID(str)
	return err == nil
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	uuidType            = reflect.TypeFor[uuid.UUID]()
	optionalUUIDType    = reflect.TypeFor[Optional[uuid.UUID]]()
)

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// jsonFields maps a struct's JSON names to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

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
