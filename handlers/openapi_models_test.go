package handlers

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/waybill/waybill/models"
)

// A resource's contract is written in the migration, the model (its gorm
// and json tags) and the document, whose request schemas decode follows
// (bodyContract). models.TestSchemaDrift holds the model to the migrated
// schema; TestSpecAgreesWithModels holds the document to the model, so
// that the three agree.

// resourceContract says where the document and this package describe one
// model. A location is "METHOD /path" for an operation's request body,
// "METHOD /path STATUS" for its JSON response, or "Schema.property" for a
// property of a component schema.
type resourceContract struct {
	resource string
	model    any
	// computed holds response properties no column stores: the fields of
	// a type that embeds the model (nil when there are none).
	computed any
	// expanded lists the expanded objects (omitempty in the model) that
	// the store always fills, so the response schema requires them.
	expanded []string
	response string
	create   string // "" for a resource no request creates
	patch    string // "" without a PATCH route
}

var resourceContracts = []resourceContract{
	{
		resource: "Address", model: models.Address{},
		// usage_count is counted by the list query (models.AddressUsage
		// embeds the Address); reads of one address return models.Address,
		// so the Address schema has it but does not require it
		// (AddressListItem does).
		computed: models.AddressUsage{},
		response: "GET /v1/addresses/{id} 200",
		create:   "POST /v1/addresses",
		patch:    "PATCH /v1/addresses/{id}",
	},
	{
		// A parcel has no route of its own: it is created with its
		// shipment and read expanded in it.
		resource: "Parcel", model: models.Parcel{},
		response: "Shipment.parcel",
		create:   "ShipmentCreate.parcel",
	},
	{
		resource: "CustomsInfo", model: models.CustomsInfo{},
		response: "Shipment.customs_info",
		create:   "ShipmentCreate.customs_info",
	},
	{
		resource: "Shipment", model: models.Shipment{},
		// Every read of a shipment joins its from and to addresses (both
		// NOT NULL); the other expanded objects are left out when the
		// shipment has none.
		expanded: []string{"from_address", "to_address"},
		response: "GET /v1/shipments/{id} 200",
		create:   "POST /v1/shipments",
		patch:    "PATCH /v1/shipments/{id}",
	},
	{
		// Events are not read one at a time: the answer to recording one
		// is the event as stored.
		resource: "ShipmentEvent", model: models.ShipmentEvent{},
		response: "POST /v1/shipments/{id}/events 201",
		create:   "POST /v1/shipments/{id}/events",
	},
	{
		// PUT replaces the whole row: it is the create body.
		resource: "ShipmentMetrics", model: models.ShipmentMetrics{},
		response: "GET /v1/shipments/{id}/metrics 200",
		create:   "PUT /v1/shipments/{id}/metrics",
	},
	{
		resource: "AnalyticsSummary", model: models.AnalyticsSummary{},
		response: "GET /v1/analytics/summaries/{id} 200",
		create:   "POST /v1/analytics/summaries",
		patch:    "PATCH /v1/analytics/summaries/{id}",
	},
	{
		resource: "CarrierPerformance", model: models.CarrierPerformance{},
		response: "GET /v1/analytics/carrier-performance/{id} 200",
		create:   "POST /v1/analytics/carrier-performance",
		patch:    "PATCH /v1/analytics/carrier-performance/{id}",
	},
	{
		resource: "SystemMetric", model: models.SystemMetric{},
		response: "GET /v1/system-metrics/{id} 200",
		create:   "POST /v1/system-metrics",
	},
	{
		// The audit trail is written by the store, never by a request
		// body (no create schema: every property is read-only), and read
		// only as the items of GET /v1/activity.
		resource: "UserActivity", model: models.UserActivity{},
		response: "Activity",
	},
}

// notExposed are the models the API does not serve.
var notExposed = map[string]string{
	"APIKey":          "managed by `waybill apikey`, never served",
	"IdempotencyKey":  "the idempotency middleware's own records",
	"WebhookDelivery": "listed and replayed by `waybill webhooks`; the webhook answers a WebhookReceipt",
}

// moneySchemas are the document's money schemas: an amount of
// numeric(12,2) is described by one of them and nothing else is.
var moneySchemas = map[string]bool{
	"Money": true, "NullableMoney": true, "MoneyNotNegative": true, "NullableMoneyNotNegative": true,
}

// TestSpecAgreesWithModels checks, for every resource the API serves, that
// the document, the model and the request types describe the same fields:
//   - the response schema's properties are the model's JSON fields (and its
//     computed ones); a field the model always writes is required; a field
//     that can be null (a pointer, a JSON document) is nullable and no
//     other is;
//   - a property is readOnly exactly when the create schema lacks it;
//   - types and formats follow the Go type: money is one of the money
//     schemas, uuid.UUID format uuid, models.Time format date-time,
//     models.Date format date, float64 format double, models.JSON any
//     value;
//   - a string column of varchar(n) is bounded by maxLength n in every
//     request schema (or by an enum or a fixed-length pattern no longer
//     than n), and a maxLength anywhere is the column's;
//   - every property of the create and patch schemas is a field of the
//     model, with the model's nullability; a create property's default is
//     the column's (the gorm tag's), and a column with a default has it
//     in the create schema; the patch schema has the create schema's
//     properties but the expanded objects, and no defaults;
//   - decode carries each property of those schemas into its field.
//
// Each mismatch names the resource, the field and what disagrees.
func TestSpecAgreesWithModels(t *testing.T) {
	for _, p := range specModelProblems(t, openAPIDocJSON, resourceContracts) {
		t.Error(p)
	}
}

// TestSpecAgreesWithModelsCatchesDrift proves the check is not vacuous:
// a model with a field the document lacks and a document edited out of
// step with the model each fail it.
func TestSpecAgreesWithModelsCatchesDrift(t *testing.T) {
	type shipmentWithFee struct {
		models.Shipment
		UndocumentedFee *models.Money `gorm:"type:numeric(12,2)" json:"undocumented_fee"`
	}
	var base resourceContract
	for _, c := range resourceContracts {
		if c.resource == "Shipment" {
			base = c
		}
	}
	tests := []struct {
		name string
		c    resourceContract
		want string
	}{
		{"model field missing from the spec", func() resourceContract {
			c := base
			c.model = shipmentWithFee{}
			return c
		}(), "Shipment.undocumented_fee: the model has it, the response schema (GET /v1/shipments/{id} 200) does not"},
	}
	for _, tt := range tests {
		got := specModelProblems(t, openAPIDocJSON, []resourceContract{tt.c})
		if !slices.Contains(got, tt.want) {
			t.Errorf("%s: problems\n  %s\nwant among them\n  %s", tt.name, strings.Join(got, "\n  "), tt.want)
		}
	}

	// The document edited: each edit is made once, on the text of
	// openapi.yaml, and must be reported as want.
	edits := []struct{ old, new, want string }{
		{
			"        id: {type: string, format: uuid, readOnly: true}\n        easypost_id: {type: [string, 'null']}\n        name:",
			"        id: {type: string, format: uuid}\n        easypost_id: {type: [string, 'null']}\n        name:",
			"Address.id: readOnly is false in the response schema (GET /v1/addresses/{id} 200), but the create schema (POST /v1/addresses) lacks it",
		},
		{
			"        street1: {type: string}\n",
			"        street1: {type: [string, 'null']}\n",
			"Address.street1: nullable is true in the response schema (GET /v1/addresses/{id} 200), but the model's string is never null",
		},
		{
			"        reference: {type: [string, 'null'], maxLength: 100}\n        status:\n",
			"        reference: {type: [string, 'null'], maxLength: 101}\n        status:\n",
			"Shipment.reference: maxLength 101 in the create schema (POST /v1/shipments), but the column is varchar(100)",
		},
		{
			"        street1: {type: string, minLength: 1, maxLength: 200}\n",
			"        street1: {type: string, minLength: 1}\n",
			"Address.street1: the create schema (POST /v1/addresses) has no maxLength, but the column is varchar(200)",
		},
		{
			"        base_cost: {$ref: '#/components/schemas/NullableMoney'}\n",
			"        base_cost: {type: [number, 'null'], format: double}\n",
			"Shipment.base_cost: the response schema (GET /v1/shipments/{id} 200): the model's *models.Money is money (numeric(12,2)), the property is not one of the money schemas (refs [])",
		},
		{
			"        signed_by: {type: [string, 'null'], maxLength: 100}\n        batch_id: {type: [string, 'null'], maxLength: 50}\n        batch_status: {type: [string, 'null'], maxLength: 20}\n        metadata: {description: \"Any JSON value, or null.\"}\n      allOf:",
			"        signed_by: {type: [string, 'null'], maxLength: 100}\n        batch_id: {type: [string, 'null'], maxLength: 50}\n        batch_status: {type: [string, 'null'], maxLength: 20}\n        metadata: {description: \"Any JSON value, or null.\"}\n        declared_value: {$ref: '#/components/schemas/NullableMoneyNotNegative'}\n      allOf:",
			"Shipment.declared_value: the create schema (POST /v1/shipments) has it, the model does not",
		},
		{
			"            country: {default: US}\n",
			"            country: {default: CA}\n",
			`Address.country: default "CA" in the create schema (POST /v1/addresses), but the column's is 'US'`,
		},
		{
			"        mass_unit: {type: string, maxLength: 10, default: oz}\n",
			"        mass_unit: {type: string, maxLength: 10}\n",
			`Parcel.mass_unit: no default in the create schema (ShipmentCreate.parcel), but the column's is 'oz'`,
		},
	}
	for _, e := range edits {
		if n := strings.Count(string(openAPIDoc), e.old); n != 1 {
			t.Errorf("the edit %q matches openapi.yaml %d times, want once", e.old, n)
			continue
		}
		doc := mustYAMLToJSON([]byte(strings.Replace(string(openAPIDoc), e.old, e.new, 1)))
		if got := specModelProblems(t, doc, resourceContracts); !slices.Contains(got, e.want) {
			t.Errorf("openapi.yaml edited to %q: problems\n  %s\nwant among them\n  %s", e.new, strings.Join(got, "\n  "), e.want)
		}
	}
}

// specModelProblems returns every disagreement between the document (as
// /openapi.json serves it) and the contracts cs, plus models.All's models
// that cs does not cover.
func specModelProblems(t *testing.T, docJSON []byte, cs []resourceContract) []string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(docJSON, &doc); err != nil {
		t.Fatal(err)
	}
	d := specDoc{root: doc}
	var problems []string
	covered := map[string]bool{}
	for _, c := range cs {
		covered[reflect.TypeOf(c.model).Name()] = true
		problems = append(problems, d.contractProblems(c)...)
	}
	if len(cs) == len(resourceContracts) {
		for _, m := range models.All() {
			name := reflect.TypeOf(m).Elem().Name()
			if !covered[name] && notExposed[name] == "" {
				problems = append(problems, fmt.Sprintf("%s: a model of models.All that no resourceContract covers", name))
			}
		}
	}
	return problems
}

func (d specDoc) contractProblems(c resourceContract) []string {
	var problems []string
	fail := func(field, format string, args ...any) {
		problems = append(problems, c.resource+"."+field+": "+fmt.Sprintf(format, args...))
	}
	model := goFields(reflect.TypeOf(c.model))
	computed := map[string]goField{}
	if c.computed != nil {
		for name, f := range goFields(reflect.TypeOf(c.computed)) {
			if _, ok := model[name]; !ok {
				computed[name] = f
			}
		}
	}
	response, err := d.locate(c.response)
	if err != nil {
		return []string{c.resource + ": " + err.Error()}
	}
	var create map[string]any
	if c.create != "" {
		if create, err = d.locate(c.create); err != nil {
			return []string{c.resource + ": " + err.Error()}
		}
	}
	createProps, _ := d.properties(create)

	// The response: the model's fields, as the model writes them.
	props, required := d.properties(response)
	where := "the response schema (" + c.response + ")"
	for _, name := range sortedKeys(model, computed, props) {
		f, inModel := model[name]
		cf, isComputed := computed[name]
		node, inSpec := props[name]
		switch {
		case !inSpec && inModel:
			fail(name, "the model has it, %s does not", where)
			continue
		case !inSpec:
			fail(name, "computed by %T, but %s does not have it", c.computed, where)
			continue
		case !inModel && !isComputed:
			fail(name, "%s has it, the model does not", where)
			continue
		case isComputed:
			f = cf
		}
		p := d.flatten(node)
		wantRequired := !f.omitempty || slices.Contains(c.expanded, name)
		if isComputed {
			wantRequired = false
		}
		if got := required[name]; got != wantRequired {
			fail(name, "required is %v in %s, want %v (%s)", got, where, wantRequired, requiredWhy(f, isComputed, c.expanded, name))
		}
		if got, want := p.nullable(), f.nullable(); got != want {
			fail(name, "nullable is %v in %s, but the model's %s %s", got, where, f.goType, map[bool]string{true: "can be null", false: "is never null"}[want])
		}
		_, writable := createProps[name]
		if got := p.readOnly; got != !writable {
			fail(name, "readOnly is %v in %s, but the create schema (%s) %s it", got, where, c.create, map[bool]string{true: "has", false: "lacks"}[writable])
		}
		for _, m := range d.kindProblems(p, f) {
			fail(name, "%s: %s", where, m)
		}
		if p.maxLength >= 0 && p.maxLength != f.varchar() {
			fail(name, "maxLength %d in %s, but the column is %s", p.maxLength, where, f.column())
		}
		if f.kind == "object" && !d.sameAsNested(p, f, func(o resourceContract) string { return o.response }) {
			fail(name, "%s does not describe it with the response schema of %s", where, f.elem.Name())
		}
	}

	// The request bodies: fields of the model, bounded as the columns.
	if c.create != "" {
		problems = append(problems, d.requestProblems(c, "create", c.create, create, model)...)
	}
	if c.patch == "" {
		return problems
	}
	patch, err := d.locate(c.patch)
	if err != nil {
		return append(problems, c.resource+": "+err.Error())
	}
	problems = append(problems, d.requestProblems(c, "patch", c.patch, patch, model)...)
	// A PATCH changes what a create sets, except the expanded objects,
	// which change through their own routes (addresses by id).
	patchProps, _ := d.properties(patch)
	for _, name := range sortedKeys(patchProps, createProps) {
		_, inPatch := patchProps[name]
		_, inCreate := createProps[name]
		switch {
		case !inCreate:
			fail(name, "the patch schema (%s) has it, the create schema (%s) does not", c.patch, c.create)
		case !inPatch && model[name].kind != "object":
			fail(name, "the create schema (%s) has it, the patch schema (%s) does not", c.create, c.patch)
		}
	}
	return problems
}

// sameAsNested reports whether p, the property of an expanded object f,
// is the schema the object's own resource has at loc(its contract).
func (d specDoc) sameAsNested(p specProperty, f goField, loc func(resourceContract) string) bool {
	for _, o := range resourceContracts {
		if reflect.TypeOf(o.model) == f.elem {
			want, err := d.locate(loc(o))
			return err == nil && reflect.DeepEqual(want, p.resolved)
		}
	}
	return false
}

// requestProblems compares a request schema (found at loc) with the
// model's fields.
func (d specDoc) requestProblems(c resourceContract, kind, loc string, sch map[string]any, model map[string]goField) []string {
	var problems []string
	fail := func(field, format string, args ...any) {
		problems = append(problems, c.resource+"."+field+": "+fmt.Sprintf(format, args...))
	}
	where := "the " + kind + " schema (" + loc + ")"
	props, _ := d.properties(sch)
	for _, name := range slices.Sorted(maps.Keys(props)) {
		m, ok := model[name]
		if !ok {
			fail(name, "%s has it, the model does not", where)
			continue
		}
		p := d.flatten(props[name])
		if p.readOnly {
			fail(name, "readOnly in %s, a request", where)
		}
		for _, msg := range d.kindProblems(p, m) {
			fail(name, "%s: %s", where, msg)
		}
		if m.kind == "object" {
			if !d.sameAsNested(p, m, func(o resourceContract) string { return o.create }) {
				fail(name, "%s does not describe it with the create schema of %s", where, m.elem.Name())
			}
			continue
		}
		if got, want := p.nullable(), m.nullable(); got != want {
			fail(name, "nullable is %v in %s, but the model's %s %s", got, where, m.goType, map[bool]string{true: "can be null", false: "is never null"}[want])
		}
		n := m.varchar()
		switch {
		case p.maxLength >= 0 && p.maxLength != n:
			fail(name, "maxLength %d in %s, but the column is %s", p.maxLength, where, m.column())
		case n > 0 && p.maxLength < 0 && !p.boundedBy(n):
			fail(name, "%s has no maxLength, but the column is %s", where, m.column())
		}
		// decode applies a create schema's defaults; the column's default
		// is the same value, written as SQL.
		def := p.def
		switch {
		case kind == "patch" && def != nil:
			fail(name, "default %v in %s: a merge patch has no defaults", def, where)
		case kind == "patch":
		case def == nil && m.gormDefault != "" && !strings.HasSuffix(m.gormDefault, ")"):
			fail(name, "no default in %s, but the column's is %s", where, m.gormDefault)
		case def != nil && sqlLiteral(def) != m.gormDefault:
			fail(name, "default %q in %s, but the column's is %s", fmt.Sprint(def), where, columnDefault(m))
		}
	}
	return append(problems, decodeProblems(c, kind, loc, props, model)...)
}

// sqlLiteral writes a document default as the gorm tag writes the
// column's: 'text', true, 0.
func sqlLiteral(v any) string {
	if s, ok := v.(string); ok {
		return "'" + s + "'"
	}
	return fmt.Sprint(v)
}

func columnDefault(m goField) string {
	if m.gormDefault == "" {
		return "none"
	}
	return m.gormDefault
}

// decodeProblems checks that decode carries each property of the request
// schema at loc (an operation's body) into its model field: a body with
// just that property, set to a sample, gives a model with the sample in
// that field (and, for a patch, names that field as changed).
func decodeProblems(c resourceContract, kind, loc string, props map[string]any, model map[string]goField) []string {
	bc := bodyContracts[loc]
	if bc == nil {
		return nil // a nested schema: decoded as part of its operation's body
	}
	mt := reflect.TypeOf(c.model)
	problems := bindingProblems(bc, mt, "")
	for i, p := range problems {
		problems[i] = fmt.Sprintf("%s: the %s body (%s) does not fit the model: %s", c.resource, kind, loc, p)
	}
	for _, name := range slices.Sorted(maps.Keys(props)) {
		f, ok := model[name]
		if !ok || f.kind == "object" {
			continue
		}
		sample := reflect.New(mt).Elem()
		setSample(sample.FieldByIndex(f.index), 1)
		want := sample.FieldByIndex(f.index).Interface()
		raw, err := json.Marshal(want)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s.%s: %v", c.resource, name, err))
			continue
		}
		body := []byte(fmt.Sprintf("{%q: %s}", name, raw))
		got := reflect.New(mt)
		fields, err := decodeBytes(body, bc, got.Interface(), kind == "patch")
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s.%s: decode refused %s for the %s body (%s): %v", c.resource, name, body, kind, loc, err))
		case !reflect.DeepEqual(got.Elem().FieldByIndex(f.index).Interface(), want):
			problems = append(problems, fmt.Sprintf("%s.%s: decode did not carry %s into the model (got %v)", c.resource, name, body, got.Elem().FieldByIndex(f.index)))
		case kind == "patch" && (len(fields) != 1 || mt.Field(fields[0]).Name != f.name):
			problems = append(problems, fmt.Sprintf("%s.%s: the patch %s names the changed fields %v", c.resource, name, body, fields))
		}
	}
	return problems
}

// setSample sets v to the which-th (0 or 1) of two different values of
// its type; a struct of fields gets them in its first field.
func setSample(v reflect.Value, which int) {
	switch {
	case v.Kind() == reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		setSample(v.Elem(), which)
	case v.Kind() == reflect.Struct && v.Type().Field(0).Type == reflect.TypeFor[time.Time]():
		v.Field(0).Set(reflect.ValueOf(time.Date(2026, 1, 1+which, 0, 0, 0, 0, time.UTC)))
	case v.Kind() == reflect.Struct:
		setSample(v.Field(0), which)
	case v.Kind() == reflect.String:
		v.SetString([]string{"a", "b"}[which])
	case v.Kind() == reflect.Int, v.Kind() == reflect.Int64:
		v.SetInt(int64(1 + which))
	case v.Kind() == reflect.Float64:
		v.SetFloat(1.5 + float64(which))
	case v.Kind() == reflect.Bool:
		v.SetBool(which == 0)
	case v.Kind() == reflect.Array: // uuid.UUID
		v.Index(v.Len() - 1).SetUint(uint64(1 + which))
	case v.Kind() == reflect.Slice: // models.JSON
		v.SetBytes([]byte([]string{"[1]", "[2]"}[which]))
	default:
		panic(fmt.Sprintf("setSample: no sample for %s", v.Type()))
	}
}

// goField is one JSON field of a Go struct.
type goField struct {
	name        string // the Go field's name
	index       []int
	goType      reflect.Type
	elem        reflect.Type // goType without pointers
	kind        string       // see fieldKind
	omitempty   bool
	gormType    string // the type in the gorm tag, "" without one
	gormDefault string // the default in the gorm tag, "" without one
}

// goFields maps a struct's JSON names to its fields, following embedded
// structs as encoding/json does.
func goFields(t reflect.Type) map[string]goField {
	out := map[string]goField{}
	for _, f := range reflect.VisibleFields(t) {
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if !f.IsExported() || name == "-" || (f.Anonymous && tag == "") {
			continue
		}
		if name == "" {
			name = f.Name
		}
		elem := f.Type
		for elem.Kind() == reflect.Pointer {
			elem = elem.Elem()
		}
		gormType, gormDefault := "", ""
		for part := range strings.SplitSeq(f.Tag.Get("gorm"), ";") {
			if v, ok := strings.CutPrefix(part, "type:"); ok {
				gormType = v
			}
			if v, ok := strings.CutPrefix(part, "default:"); ok {
				gormDefault = v
			}
		}
		out[name] = goField{
			name: f.Name, index: f.Index, goType: f.Type, elem: elem, kind: fieldKind(elem),
			omitempty: strings.Contains(","+opts+",", ",omitempty,"), gormType: gormType, gormDefault: gormDefault,
		}
	}
	return out
}

// fieldKind names what a Go type is on the wire: a JSON type, or one of
// "money", "uuid", "date-time", "date", "json" (any value).
func fieldKind(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[models.JSON]():
		return "json"
	case reflect.TypeFor[models.Money]():
		return "money"
	case reflect.TypeFor[uuid.UUID]():
		return "uuid"
	case reflect.TypeFor[models.Time]():
		return "date-time"
	case reflect.TypeFor[models.Date]():
		return "date"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Struct:
		return "object"
	}
	return t.String()
}

// nullable reports whether the model writes null for the field: a pointer
// written even when nil, or a JSON document.
func (f goField) nullable() bool {
	return f.kind == "json" || (f.goType.Kind() == reflect.Pointer && !f.omitempty)
}

var varcharType = regexp.MustCompile(`^varchar\((\d+)\)$`)

// varchar is n of the column's varchar(n), or 0 for another type.
func (f goField) varchar() int {
	m := varcharType.FindStringSubmatch(f.gormType)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func (f goField) column() string {
	if f.gormType == "" {
		return "not declared"
	}
	return f.gormType
}

// requiredWhy says why the response schema should or should not require
// the field name.
func requiredWhy(f goField, computed bool, expanded []string, name string) string {
	switch {
	case computed:
		return "computed, written by lists only"
	case slices.Contains(expanded, name):
		return "an expanded object the store always fills"
	case f.omitempty:
		return "omitempty in the model"
	}
	return "the model always writes it"
}

// specDoc is the document as /openapi.json serves it, decoded.
type specDoc struct{ root map[string]any }

// locate finds the schema at loc (see resourceContract).
func (d specDoc) locate(loc string) (map[string]any, error) {
	parts := strings.Fields(loc)
	if len(parts) == 1 {
		comp, prop, isProp := strings.Cut(loc, ".")
		if !isProp && d.component(comp) != nil {
			return d.flatten(d.component(comp)).resolved, nil
		}
		props, _ := d.properties(d.component(comp))
		if s, ok := props[prop]; ok {
			return d.flatten(s).resolved, nil
		}
		return nil, fmt.Errorf("%s: no such property in the document", loc)
	}
	op := dig(d.root, "paths", parts[1], strings.ToLower(parts[0]))
	if op == nil {
		return nil, fmt.Errorf("%s: no such operation in the document", loc)
	}
	var content map[string]any
	if len(parts) == 3 {
		content = dig(op, "responses", parts[2], "content")
	} else {
		content = dig(op, "requestBody", "content")
	}
	var found map[string]any
	for _, mt := range slices.Sorted(maps.Keys(content)) {
		s := dig(content, mt, "schema")
		if found != nil && !reflect.DeepEqual(s, found) {
			return nil, fmt.Errorf("%s: the media types have different schemas", loc)
		}
		found = s
	}
	if found == nil {
		return nil, fmt.Errorf("%s: no JSON schema in the document", loc)
	}
	return d.flatten(found).resolved, nil
}

func (d specDoc) component(name string) map[string]any {
	return dig(d.root, "components", "schemas", name)
}

// deref follows a $ref, returning the component's name ("" for none).
func (d specDoc) deref(s map[string]any) (map[string]any, string) {
	ref, ok := s["$ref"].(string)
	if !ok {
		return s, ""
	}
	name := strings.TrimPrefix(ref, "#/components/schemas/")
	return d.component(name), name
}

// properties returns an object schema's properties and required names,
// its allOf members' included.
func (d specDoc) properties(s map[string]any) (map[string]any, map[string]bool) {
	props, required := map[string]any{}, map[string]bool{}
	var walk func(s map[string]any)
	walk = func(s map[string]any) {
		s, _ = d.deref(s)
		for k, v := range asMap(s["properties"]) {
			if prev, ok := props[k]; ok {
				v = map[string]any{"allOf": []any{prev, v}} // both apply
			}
			props[k] = v
		}
		for _, r := range asSlice(s["required"]) {
			required[r.(string)] = true
		}
		for _, m := range asSlice(s["allOf"]) {
			walk(asMap(m))
		}
	}
	walk(s)
	return props, required
}

// specProperty is what the document says of one property, its $refs and
// allOf members followed.
type specProperty struct {
	resolved  map[string]any // the first schema that is not a bare $ref
	refs      []string       // the components passed through
	types     []string       // nil: any value
	format    string
	pattern   string
	enum      []any
	maxLength int // -1: none
	readOnly  bool
	def       any // the default, nil without one
}

func (d specDoc) flatten(node any) specProperty {
	p := specProperty{maxLength: -1}
	var walk func(s map[string]any)
	walk = func(s map[string]any) {
		if v, ok := s["default"]; ok && p.def == nil {
			p.def = v
		}
		for {
			next, name := d.deref(s)
			if name == "" {
				break
			}
			p.refs = append(p.refs, name)
			s = next
		}
		if p.resolved == nil {
			p.resolved = s
		}
		switch t := s["type"].(type) {
		case string:
			if p.types == nil {
				p.types = []string{t}
			}
		case []any:
			if p.types == nil {
				for _, x := range t {
					p.types = append(p.types, x.(string))
				}
			}
		}
		if f, ok := s["format"].(string); ok && p.format == "" {
			p.format = f
		}
		if f, ok := s["pattern"].(string); ok && p.pattern == "" {
			p.pattern = f
		}
		if e := asSlice(s["enum"]); e != nil && p.enum == nil {
			p.enum = e
		}
		if n, ok := s["maxLength"].(float64); ok && p.maxLength < 0 {
			p.maxLength = int(n)
		}
		if r, ok := s["readOnly"].(bool); ok && r {
			p.readOnly = true
		}
		for _, m := range asSlice(s["allOf"]) {
			walk(asMap(m))
		}
	}
	walk(asMap(node))
	return p
}

// nullable reports whether the property admits null: a type list with
// "null", or no type at all (any value).
func (p specProperty) nullable() bool { return p.types == nil || slices.Contains(p.types, "null") }

// jsonType is the property's type other than null.
func (p specProperty) jsonType() string {
	var ts []string
	for _, t := range p.types {
		if t != "null" {
			ts = append(ts, t)
		}
	}
	return strings.Join(ts, ",")
}

var fixedPattern = regexp.MustCompile(`^\^\[[^\]]+\]\{(\d+)\}\$$`)

// boundedBy reports whether every string the property admits is at most
// n characters long without a maxLength: an enum, or a pattern of a fixed
// length such as ^[A-Z]{3}$.
func (p specProperty) boundedBy(n int) bool {
	if p.enum != nil {
		for _, v := range p.enum {
			if s, ok := v.(string); !ok || len(s) > n {
				return false
			}
		}
		return true
	}
	if m := fixedPattern.FindStringSubmatch(p.pattern); m != nil {
		k, _ := strconv.Atoi(m[1])
		return k <= n
	}
	return false
}

// kindProblems says how the property's type and format disagree with the
// model field's Go type.
func (d specDoc) kindProblems(p specProperty, f goField) []string {
	isMoney := slices.ContainsFunc(p.refs, func(r string) bool { return moneySchemas[r] })
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	switch {
	case f.kind == "money" && !isMoney:
		bad("the model's %s is money (numeric(12,2)), the property is not one of the money schemas (refs %v)", f.goType, p.refs)
	case f.kind != "money" && isMoney:
		bad("the property is money (%v), the model's %s is not", p.refs, f.goType)
	case f.kind == "money":
	case f.kind == "json" && p.types != nil:
		bad("the model's %s holds any JSON value, the property is type %v", f.goType, p.types)
	case f.kind == "json":
	case p.types == nil:
		bad("the property admits any JSON value, the model's %s does not", f.goType)
	default:
		wantType, wantFormat := f.kind, []string{""}
		switch f.kind {
		case "uuid", "date-time", "date":
			wantType, wantFormat = "string", []string{f.kind}
		case "number":
			wantFormat = []string{"double"}
		case "integer":
			wantFormat = []string{"", "int32"}
		}
		if got := p.jsonType(); got != wantType {
			bad("type %s, but the model's %s is %s", got, f.goType, wantType)
		}
		if !slices.Contains(wantFormat, p.format) {
			bad("format %q, but the model's %s wants format %q", p.format, f.goType, wantFormat[0])
		}
	}
	return problems
}

func dig(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m = asMap(m[k])
	}
	return m
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

func asSlice(v any) []any { s, _ := v.([]any); return s }

// sortedKeys is the sorted union of the maps' keys.
func sortedKeys[A, B any](a map[string]A, b map[string]B, more ...map[string]any) []string {
	seen := map[string]bool{}
	for k := range a {
		seen[k] = true
	}
	for k := range b {
		seen[k] = true
	}
	for _, m := range more {
		for k := range m {
			seen[k] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}
