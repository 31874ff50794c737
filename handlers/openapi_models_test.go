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
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm/schema"

	"github.com/waybill/waybill/models"
)

// A resource's contract is written in the migration, the model (its gorm
// and json tags), the document and, today, the request types of this
// package. models.TestSchemaDrift holds the model to the migrated schema;
// TestSpecAgreesWithModels holds the document and the request types to the
// model, so that the three agree.

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
	create   string
	body     any // the create body's type
	patch    string
	patchOf  any // the patch body's type, nil without a PATCH route
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
		create:   "POST /v1/addresses", body: addressInput{},
		patch: "PATCH /v1/addresses/{id}", patchOf: addressPatch{},
	},
	{
		// A parcel has no route of its own: it is created with its
		// shipment and read expanded in it.
		resource: "Parcel", model: models.Parcel{},
		response: "Shipment.parcel",
		create:   "ShipmentCreate.parcel", body: parcelInput{},
	},
	{
		resource: "CustomsInfo", model: models.CustomsInfo{},
		response: "Shipment.customs_info",
		create:   "ShipmentCreate.customs_info", body: customsInput{},
	},
	{
		resource: "Shipment", model: models.Shipment{},
		// Every read of a shipment joins its from and to addresses (both
		// NOT NULL); the other expanded objects are left out when the
		// shipment has none.
		expanded: []string{"from_address", "to_address"},
		response: "GET /v1/shipments/{id} 200",
		create:   "POST /v1/shipments", body: shipmentCreate{},
		patch: "PATCH /v1/shipments/{id}", patchOf: shipmentPatch{},
	},
	{
		// Events are not read one at a time: the answer to recording one
		// is the event as stored.
		resource: "ShipmentEvent", model: models.ShipmentEvent{},
		response: "POST /v1/shipments/{id}/events 201",
		create:   "POST /v1/shipments/{id}/events", body: eventInput{},
	},
	{
		// PUT replaces the whole row: it is the create body.
		resource: "ShipmentMetrics", model: models.ShipmentMetrics{},
		response: "GET /v1/shipments/{id}/metrics 200",
		create:   "PUT /v1/shipments/{id}/metrics", body: metricsInput{},
	},
	{
		resource: "AnalyticsSummary", model: models.AnalyticsSummary{},
		response: "GET /v1/analytics/summaries/{id} 200",
		create:   "POST /v1/analytics/summaries", body: summaryCreate{},
		patch: "PATCH /v1/analytics/summaries/{id}", patchOf: summaryPatch{},
	},
	{
		resource: "CarrierPerformance", model: models.CarrierPerformance{},
		response: "GET /v1/analytics/carrier-performance/{id} 200",
		create:   "POST /v1/analytics/carrier-performance", body: carrierPerformanceCreate{},
		patch: "PATCH /v1/analytics/carrier-performance/{id}", patchOf: carrierPerformancePatch{},
	},
	{
		resource: "SystemMetric", model: models.SystemMetric{},
		response: "GET /v1/system-metrics/{id} 200",
		create:   "POST /v1/system-metrics", body: systemMetricCreate{},
	},
}

// notExposed are the models the API does not serve.
var notExposed = map[string]string{
	"APIKey":         "managed by `waybill apikey`, never served",
	"IdempotencyKey": "the idempotency middleware's own records",
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
//   - a property is readOnly exactly when the create body lacks it, and no
//     request type has a field decode refuses as read-only;
//   - types and formats follow the Go type: money is one of the money
//     schemas, uuid.UUID format uuid, models.Time format date-time,
//     models.Date format date, float64 format double, models.JSON any
//     value;
//   - a string column of varchar(n) is bounded by maxLength n in every
//     request schema (or by an enum or a fixed-length pattern no longer
//     than n), and a maxLength anywhere is the column's;
//   - the create and patch schemas have exactly the request types' fields,
//     each a field of the model with the model's nullability; the patch
//     type has the create type's fields but the expanded objects; model()
//     carries each create field into the model and apply writes each patch
//     field to its column.
//
// Each mismatch names the resource, the field and what disagrees.
func TestSpecAgreesWithModels(t *testing.T) {
	for _, p := range specModelProblems(t, openAPIDocJSON, resourceContracts) {
		t.Error(p)
	}
}

// TestSpecAgreesWithModelsCatchesDrift proves the check is not vacuous:
// a model with a field the document lacks, a request type with a field the
// schema lacks, a document edited out of step with the model, and a patch
// type whose field apply ignores each fail it.
func TestSpecAgreesWithModelsCatchesDrift(t *testing.T) {
	type shipmentWithFee struct {
		models.Shipment
		UndocumentedFee *models.Money `gorm:"type:numeric(12,2)" json:"undocumented_fee"`
	}
	type createWithFee struct {
		shipmentCreate
		UndocumentedFee *models.Money `json:"undocumented_fee"`
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
		{"request field missing from the spec", func() resourceContract {
			c := base
			c.model = shipmentWithFee{}
			c.body = createWithFee{}
			return c
		}(), "Shipment.undocumented_fee: the create type handlers.createWithFee has it, the create schema (POST /v1/shipments) does not"},
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
			"Address.id: readOnly is false in the response schema (GET /v1/addresses/{id} 200), but the create type handlers.addressInput lacks it",
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
	if got := patchApplyProblems("Address", reflect.TypeFor[models.Address](), ignoresStreet2{}); !slices.Contains(got,
		`Address.street2: the patch type handlers.ignoresStreet2's apply does not write the column "street2" (changed columns [])`) {
		t.Errorf("a patch whose apply ignores street2: problems %q", got)
	}
	if got := createModelProblems("Address", reflect.TypeFor[models.Address](), dropsStreet2{}); len(got) != 1 || !strings.HasPrefix(got[0],
		"Address.street2: the create type handlers.dropsStreet2's model() does not carry it into the model") {
		t.Errorf("a create type whose model() drops street2: problems %q", got)
	}
}

// dropsStreet2 is an address body whose model() forgets street2.
type dropsStreet2 struct {
	Street1 string  `json:"street1"`
	Street2 *string `json:"street2"`
}

func (in *dropsStreet2) model() *models.Address { return &models.Address{Street1: in.Street1} }

// ignoresStreet2 is an address patch whose apply forgets street2.
type ignoresStreet2 struct {
	Street2 Optional[string] `json:"street2"`
}

func (in *ignoresStreet2) apply(*models.Address) ([]string, error) { return nil, nil }

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
	body := goFields(reflect.TypeOf(c.body))
	response, err := d.locate(c.response)
	if err != nil {
		return []string{c.resource + ": " + err.Error()}
	}
	create, err := d.locate(c.create)
	if err != nil {
		return []string{c.resource + ": " + err.Error()}
	}

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
		_, writable := body[name]
		if got := p.readOnly; got != !writable {
			fail(name, "readOnly is %v in %s, but the create type %s %s it", got, where, typeName(c.body), map[bool]string{true: "has", false: "lacks"}[writable])
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
	// Nothing decode refuses as read-only may be a field of a request type.
	for key := range readOnly {
		if _, ok := body[key]; ok {
			fail(key, "the create type %s has it, but decode refuses it as read-only", typeName(c.body))
		}
		if c.patchOf != nil {
			if _, ok := goFields(reflect.TypeOf(c.patchOf))[key]; ok {
				fail(key, "the patch type %s has it, but decode refuses it as read-only", typeName(c.patchOf))
			}
		}
	}

	// The request bodies: the request types' fields, bounded as the columns.
	problems = append(problems, d.requestProblems(c, "create", c.create, create, body, model)...)
	if isModel(c.model) {
		problems = append(problems, createModelProblems(c.resource, reflect.TypeOf(c.model), c.body)...)
	}
	if c.patchOf != nil {
		patch, err := d.locate(c.patch)
		if err != nil {
			return append(problems, c.resource+": "+err.Error())
		}
		patchFields := goFields(reflect.TypeOf(c.patchOf))
		problems = append(problems, d.requestProblems(c, "patch", c.patch, patch, patchFields, model)...)
		// A PATCH changes what a create sets, except the expanded objects,
		// which change through their own routes (addresses by id).
		for _, name := range sortedKeys(patchFields, body) {
			_, inPatch := patchFields[name]
			f, inCreate := body[name]
			switch {
			case !inCreate:
				fail(name, "the patch type %s has it, the create type %s does not", typeName(c.patchOf), typeName(c.body))
			case !inPatch && f.kind != "object":
				fail(name, "the create type %s has it, the patch type %s does not", typeName(c.body), typeName(c.patchOf))
			}
		}
		if isModel(c.model) {
			problems = append(problems, patchApplyProblems(c.resource, reflect.TypeOf(c.model), c.patchOf)...)
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

// isModel reports whether m is a type of package models, not one the drift
// test made up (whose create and patch types have no model() or apply for
// it).
func isModel(m any) bool {
	return reflect.TypeOf(m).PkgPath() == reflect.TypeFor[models.Address]().PkgPath()
}

// requestProblems compares a request schema (found at loc) with the
// request type's fields and the model's.
func (d specDoc) requestProblems(c resourceContract, kind, loc string, sch map[string]any, fields, model map[string]goField) []string {
	var problems []string
	fail := func(field, format string, args ...any) {
		problems = append(problems, c.resource+"."+field+": "+fmt.Sprintf(format, args...))
	}
	typ := c.body
	if kind == "patch" {
		typ = c.patchOf
	}
	where := "the " + kind + " schema (" + loc + ")"
	props, _ := d.properties(sch)
	for _, name := range sortedKeys(fields, props) {
		f, inType := fields[name]
		node, inSpec := props[name]
		switch {
		case !inSpec:
			fail(name, "the %s type %s has it, %s does not", kind, typeName(typ), where)
			continue
		case !inType:
			fail(name, "%s has it, the %s type %s does not", where, kind, typeName(typ))
			continue
		}
		m, ok := model[name]
		if !ok {
			fail(name, "the %s type %s has it, the model does not", kind, typeName(typ))
			continue
		}
		if f.kind != m.kind {
			fail(name, "the %s type %s has a %s, the model a %s", kind, typeName(typ), f.goType, m.goType)
		}
		p := d.flatten(node)
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
	}
	return problems
}

// patchApplyProblems checks that the patch type's apply writes each of
// its fields to the model field's column, and only that column.
func patchApplyProblems(resource string, model reflect.Type, patch any) []string {
	var problems []string
	sch, err := schema.Parse(reflect.New(model).Interface(), &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		return []string{resource + ": " + err.Error()}
	}
	modelFields := goFields(model)
	pt := reflect.TypeOf(patch)
	for name, f := range goFields(pt) {
		m, ok := modelFields[name]
		if !ok {
			continue // reported as a field the model lacks
		}
		col := ""
		if sf := sch.LookUpField(m.name); sf != nil {
			col = sf.DBName
		}
		// Set with the zero value: every kind of member (nullable,
		// required, document) writes its column.
		p := reflect.New(pt)
		p.Elem().FieldByIndex(f.index).FieldByName("Set").SetBool(true)
		cols, err := applyPatch(p.Interface(), reflect.New(model).Interface())
		if err != nil || len(cols) != 1 || cols[0] != col {
			problems = append(problems, fmt.Sprintf("%s.%s: the patch type %s's apply does not write the column %q (changed columns %v)",
				resource, name, typeName(patch), col, cols))
		}
	}
	return problems
}

// createModelProblems checks that the create type's model() carries each
// of its fields into the model: two bodies that differ only in the field
// give models that differ in it. (eventInput and metricsInput have no
// model(): their handlers build the model inline.)
func createModelProblems(resource string, model reflect.Type, body any) []string {
	bt := reflect.TypeOf(body)
	if _, ok := toModel(reflect.New(bt).Interface()); !ok {
		return nil
	}
	modelFields := goFields(model)
	var problems []string
	for name, f := range goFields(bt) {
		m, ok := modelFields[name]
		if !ok {
			continue // reported as a field the model lacks
		}
		var got [2]reflect.Value
		for i := range got {
			b := reflect.New(bt)
			setSample(b.Elem().FieldByIndex(f.index), i)
			out, _ := toModel(b.Interface())
			got[i] = reflect.ValueOf(out).Elem().FieldByIndex(m.index)
		}
		if reflect.DeepEqual(got[0].Interface(), got[1].Interface()) {
			problems = append(problems, fmt.Sprintf("%s.%s: the create type %s's model() does not carry it into the model (two values gave %v)",
				resource, name, typeName(body), got[0]))
		}
	}
	return problems
}

// toModel calls body.model() for the create types that have one.
func toModel(body any) (any, bool) {
	switch b := body.(type) {
	case *addressInput:
		return b.model(), true
	case *parcelInput:
		return b.model(), true
	case *customsInput:
		return b.model(), true
	case *shipmentCreate:
		return b.model(), true
	case *summaryCreate:
		return b.model(), true
	case *carrierPerformanceCreate:
		return b.model(), true
	case *systemMetricCreate:
		return b.model(), true
	case *dropsStreet2:
		return b.model(), true
	}
	return nil, false
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

// applyPatch calls patch.apply(model) for the patch types of the package.
func applyPatch(patch, model any) ([]string, error) {
	switch p := patch.(type) {
	case *addressPatch:
		return p.apply(model.(*models.Address))
	case *shipmentPatch:
		return p.apply(model.(*models.Shipment))
	case *summaryPatch:
		return p.apply(model.(*models.AnalyticsSummary))
	case *carrierPerformancePatch:
		return p.apply(model.(*models.CarrierPerformance))
	case *ignoresStreet2:
		return p.apply(model.(*models.Address))
	}
	return nil, fmt.Errorf("%T: no apply known to applyPatch", patch)
}

// goField is one JSON field of a Go struct.
type goField struct {
	name      string // the Go field's name
	index     []int
	goType    reflect.Type
	elem      reflect.Type // goType without pointers and Optional
	kind      string       // see fieldKind
	omitempty bool
	gormType  string // the type in the gorm tag, "" without one
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
		if strings.HasPrefix(elem.Name(), "Optional[") {
			elem = elem.Field(2).Type // Optional's Value
		}
		gormType := ""
		for part := range strings.SplitSeq(f.Tag.Get("gorm"), ";") {
			if v, ok := strings.CutPrefix(part, "type:"); ok {
				gormType = v
			}
		}
		out[name] = goField{
			name: f.Name, index: f.Index, goType: f.Type, elem: elem, kind: fieldKind(elem),
			omitempty: strings.Contains(","+opts+",", ",omitempty,"), gormType: gormType,
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

func typeName(v any) string { return reflect.TypeOf(v).String() }

// specDoc is the document as /openapi.json serves it, decoded.
type specDoc struct{ root map[string]any }

// locate finds the schema at loc (see resourceContract).
func (d specDoc) locate(loc string) (map[string]any, error) {
	parts := strings.Fields(loc)
	if len(parts) == 1 {
		comp, prop, _ := strings.Cut(loc, ".")
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
}

func (d specDoc) flatten(node any) specProperty {
	p := specProperty{maxLength: -1}
	var walk func(s map[string]any)
	walk = func(s map[string]any) {
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
