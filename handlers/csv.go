package handlers

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/waybill/waybill/models"
)

// Shipments as CSV: the columns are the create body's (ShipmentCreate in
// the document) flattened, in the model's field order: a shipment's own
// fields by their JSON names, and each nested object's fields with the
// first word of the object's name as a prefix (from_street1, to_zip,
// parcel_weight, customs_contents_type; a field already starting with the
// prefix keeps its name: customs_signer). The import takes these columns
// and the export writes them, so one round-trips through the other. An
// empty cell is a field left out (its default applies, or null); JSON
// documents (rates, metadata, customs_items, ...) are written as JSON
// text in their cell.

// csvKind is how a column's cell maps to its JSON value.
type csvKind int

const (
	csvText   csvKind = iota // a JSON string
	csvNumber                // a JSON number, written as is
	csvBool                  // true or false
	csvJSON                  // any JSON value, as its text
)

// csvColumn is one column of the shipments CSV.
type csvColumn struct {
	name string
	// path is the JSON path in the create body: one key, or an object's
	// key and its field's.
	path []string
	// index is the field's index path in models.Shipment.
	index []int
	kind  csvKind
	// object is, for a *_address_id column, the index of the address
	// object's field in models.Shipment, else -1: the export leaves the
	// id empty when the object is written out.
	object int
}

// shipmentCSV is the shipments CSV's columns, built once from the
// document's create schema and the model.
var shipmentCSV = mustShipmentColumns()

type csvColumns struct {
	cols []csvColumn
	// byName maps a header to its column's index.
	byName map[string]int
	// byPath maps a JSON path ("from_address.street1") to its column's name.
	byPath map[string]string
}

func mustShipmentColumns() csvColumns {
	bc := bodyContracts["POST /v1/shipments"]
	if bc == nil {
		panic("openapi.yaml: no request body for POST /v1/shipments")
	}
	out := csvColumns{byName: map[string]int{}, byPath: map[string]string{}}
	add := func(c csvColumn) {
		if _, dup := out.byName[c.name]; dup {
			panic(fmt.Sprintf("shipments CSV: two fields make the column %q", c.name))
		}
		out.byName[c.name] = len(out.cols)
		out.byPath[strings.Join(c.path, ".")] = c.name
		out.cols = append(out.cols, c)
	}
	t := reflect.TypeFor[models.Shipment]()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		prop, ok := bc.props[name]
		if !ok {
			continue
		}
		if prop.object == nil {
			obj := -1
			if role, ok := strings.CutSuffix(name, "_id"); ok && bc.props[role].object != nil {
				sf, _ := t.FieldByName(fieldNameOf(t, role))
				obj = sf.Index[0]
			}
			add(csvColumn{name: name, path: []string{name}, index: []int{i}, kind: kindOf(f.Type), object: obj})
			continue
		}
		prefix, _, _ := strings.Cut(name, "_")
		prefix += "_"
		st := f.Type.Elem()
		for j := range st.NumField() {
			sf := st.Field(j)
			sub, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if _, ok := prop.object.props[sub]; !ok {
				continue
			}
			col := sub
			if !strings.HasPrefix(sub, prefix) {
				col = prefix + sub
			}
			add(csvColumn{name: col, path: []string{name, sub}, index: []int{i, j}, kind: kindOf(sf.Type), object: -1})
		}
	}
	return out
}

// fieldNameOf returns the Go name of the field of struct t whose JSON name
// is name.
func fieldNameOf(t reflect.Type, name string) string {
	for i := range t.NumField() {
		if n, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); n == name {
			return t.Field(i).Name
		}
	}
	panic(fmt.Sprintf("%s has no field %q", t, name))
}

// kindOf is the CSV kind of a model field's type.
func kindOf(t reflect.Type) csvKind {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[models.JSON]():
		return csvJSON
	case t == reflect.TypeFor[models.Money]():
		return csvNumber
	case t.Kind() == reflect.Bool:
		return csvBool
	case t.Kind() == reflect.Int, t.Kind() == reflect.Int64, t.Kind() == reflect.Float64:
		return csvNumber
	}
	return csvText
}

// header is the CSV's header row.
func (cs csvColumns) header() []string {
	h := make([]string, len(cs.cols))
	for i, c := range cs.cols {
		h[i] = c.name
	}
	return h
}

// columnOf names, for an error's JSON path, the CSV column it is in; a
// path of no single column (an address as a whole) stays as it is.
func (cs csvColumns) columnOf(path string) string {
	if name, ok := cs.byPath[path]; ok {
		return name
	}
	return path
}

// utf8BOM is the byte order mark some spreadsheets write first.
var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// csvBatch reads a shipments CSV into batch rows: each data record
// becomes the JSON body of a shipment create (row 1 is the first record
// after the header). A cell that cannot be its column's JSON value (a
// JSON column that is not JSON) is that row's error. The file as a whole
// is refused, with nothing written, for invalid UTF-8 (400), a malformed
// record (400, naming its line), a header with an unknown, empty or
// repeated column (422), no header, and more than limit records (413).
func csvBatch(body []byte, limit int) (items []models.BatchItem, rowErrs []models.BatchError, total int, err error) {
	if !utf8.Valid(body) {
		return nil, nil, 0, newError("bad_request", "the CSV is not valid UTF-8: save it as UTF-8")
	}
	body = bytes.TrimPrefix(body, utf8BOM)
	r := csv.NewReader(bytes.NewReader(body))
	r.ReuseRecord = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, 0, newError("bad_request", "the CSV is empty: it needs a header row and at least one shipment")
	}
	if err != nil {
		return nil, nil, 0, csvProblem(err)
	}
	cols := make([]int, len(header))
	var hv models.ValidationError
	seen := map[string]bool{}
	for i, h := range header {
		idx, ok := shipmentCSV.byName[h]
		switch {
		case h == "":
			hv.Errors = append(hv.Errors, models.FieldError{Field: "header", Message: fmt.Sprintf("column %d has no name", i+1)})
		case !ok:
			hv.Errors = append(hv.Errors, models.FieldError{Field: "header", Message: fmt.Sprintf("column %d (%q) is not a known column", i+1, h)})
		case seen[h]:
			hv.Errors = append(hv.Errors, models.FieldError{Field: "header", Message: fmt.Sprintf("column %d (%q) is given twice", i+1, h)})
		}
		seen[h] = true
		cols[i] = idx
	}
	if len(hv.Errors) > 0 {
		return nil, nil, 0, &hv
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, 0, csvProblem(err)
		}
		total++
		if total > limit {
			return nil, nil, 0, errTooManyRows(limit)
		}
		obj := map[string]map[string]json.RawMessage{"": {}}
		var bad []models.BatchError
		for i, cell := range rec {
			if cell == "" {
				continue
			}
			c := shipmentCSV.cols[cols[i]]
			v, ok := c.value(cell)
			if !ok {
				bad = append(bad, models.BatchError{Row: total, Field: c.name, Message: "must be JSON text"})
				continue
			}
			if len(c.path) == 1 {
				obj[""][c.path[0]] = v
				continue
			}
			if obj[c.path[0]] == nil {
				obj[c.path[0]] = map[string]json.RawMessage{}
			}
			obj[c.path[0]][c.path[1]] = v
		}
		if len(bad) > 0 {
			rowErrs = append(rowErrs, bad...)
			continue
		}
		top := obj[""]
		for key, sub := range obj {
			if key != "" {
				raw, err := json.Marshal(sub)
				if err != nil {
					return nil, nil, 0, err
				}
				top[key] = raw
			}
		}
		raw, err := json.Marshal(top)
		if err != nil {
			return nil, nil, 0, err
		}
		items = append(items, models.BatchItem{Row: total, Shipment: raw})
	}
	if total == 0 {
		return nil, nil, 0, newError("bad_request", "the CSV has a header but no shipment")
	}
	return items, rowErrs, total, nil
}

// value is the JSON value of a non-empty cell of c. A number or a boolean
// that is not one is passed on as a string, so that the shipment's
// decoding names the field and what it must be.
func (c csvColumn) value(cell string) (json.RawMessage, bool) {
	switch c.kind {
	case csvNumber:
		if isJSONNumber(cell) {
			return json.RawMessage(cell), true
		}
	case csvBool:
		if cell == "true" || cell == "false" {
			return json.RawMessage(cell), true
		}
	case csvJSON:
		if !json.Valid([]byte(cell)) {
			return nil, false
		}
		return json.RawMessage(cell), true
	}
	s, _ := json.Marshal(cell)
	return s, true
}

// isJSONNumber reports whether s is a number as JSON writes one.
func isJSONNumber(s string) bool {
	if s == "" || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) {
		return false
	}
	var n json.Number
	return json.Unmarshal([]byte(s), &n) == nil && json.Valid([]byte(s))
}

// csvProblem is the 400 for a CSV encoding/csv refused, naming the line.
func csvProblem(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		what := pe.Err.Error()
		switch {
		case errors.Is(pe.Err, csv.ErrBareQuote):
			what = `a quote (") inside an unquoted field: quote the field and double the quote`
		case errors.Is(pe.Err, csv.ErrQuote):
			what = "a quoted field is not closed, or text follows its closing quote"
		case errors.Is(pe.Err, csv.ErrFieldCount):
			what = "the record has a different number of fields than the header"
		}
		return newError("bad_request", "CSV line %d: %s", pe.Line, what)
	}
	return newError("bad_request", "the CSV could not be read")
}

// errTooManyRows is the answer to a batch of more than limit shipments.
func errTooManyRows(limit int) error {
	return newError("payload_too_large", "a batch holds at most %d shipments; split the file", limit)
}

// csvWriter writes shipments as CSV rows of shipmentCSV's columns.
type csvWriter struct {
	w   *csv.Writer
	rec []string
}

func newCSVWriter(w io.Writer) *csvWriter {
	cw := &csvWriter{w: csv.NewWriter(w), rec: make([]string, len(shipmentCSV.cols))}
	cw.w.UseCRLF = true
	return cw
}

// writeHeader writes the header row.
func (cw *csvWriter) writeHeader() error { return cw.w.Write(shipmentCSV.header()) }

// write writes sh's row. The *_address_id columns stay empty when the
// address is written out in its own columns, as an import needs.
func (cw *csvWriter) write(sh *models.Shipment) error {
	v := reflect.ValueOf(sh).Elem()
	for i, c := range shipmentCSV.cols {
		f := v.Field(c.index[0])
		if len(c.index) == 2 {
			if f.IsNil() {
				cw.rec[i] = ""
				continue
			}
			f = f.Elem().Field(c.index[1])
		} else if c.object >= 0 && !v.Field(c.object).IsNil() {
			cw.rec[i] = ""
			continue
		}
		s, err := cellOf(f)
		if err != nil {
			return fmt.Errorf("shipment %s, column %s: %w", sh.ID, c.name, err)
		}
		cw.rec[i] = s
	}
	return cw.w.Write(cw.rec)
}

// flush writes what is buffered.
func (cw *csvWriter) flush() error {
	cw.w.Flush()
	return cw.w.Error()
}

// cellOf is the CSV cell of a model field's value: empty for nil.
func cellOf(f reflect.Value) (string, error) {
	switch x := f.Interface().(type) {
	case string:
		return x, nil
	case *string:
		if x == nil {
			return "", nil
		}
		return *x, nil
	case uuid.UUID:
		if x == uuid.Nil {
			return "", nil
		}
		return x.String(), nil
	case *uuid.UUID:
		if x == nil {
			return "", nil
		}
		return x.String(), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case *float64:
		if x == nil {
			return "", nil
		}
		return strconv.FormatFloat(*x, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(x), nil
	case *int:
		if x == nil {
			return "", nil
		}
		return strconv.Itoa(*x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case *bool:
		if x == nil {
			return "", nil
		}
		return strconv.FormatBool(*x), nil
	case models.JSON:
		return string(x), nil
	}
	if f.Kind() == reflect.Pointer && f.IsNil() {
		return "", nil
	}
	b, err := json.Marshal(f.Interface())
	if err != nil {
		return "", err
	}
	if s, err := strconv.Unquote(string(b)); err == nil {
		return s, nil
	}
	return string(b), nil
}
