package handlers

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
)

// A request body's contract is the OpenAPI document's: which keys it may
// have (nested objects included), the defaults of those it leaves out, and
// which keys name fields a client may read but never send. decode reads
// them from the embedded document, so a field added to a request schema
// is accepted with no code here; the value goes straight into the model,
// whose Go types and column limits judge it. docs/contributing.md shows
// what adding a field takes.

// bodyContract is the document's schema of a request body, or of an
// object inside one.
type bodyContract struct {
	props map[string]bodyProperty
	// readOnly holds the properties of the operation's response schema
	// (at the same place) that are readOnly.
	readOnly map[string]bool
}

// bodyProperty is one property of a bodyContract.
type bodyProperty struct {
	// object is the contract of a nested object with properties of its
	// own (additionalProperties: false), nil for any other value.
	object *bodyContract
	// def is the JSON of the property's default, nil without one.
	def []byte
	// bounds are a number's minimum and maximum.
	bounds []bound
}

// bound is one of a number's bounds in the document: minimum, maximum,
// exclusiveMinimum or exclusiveMaximum.
type bound struct {
	keyword string
	limit   float64
}

// breaks returns what x, a number, breaks of b ("must not be negative"),
// or "".
func (b bound) breaks(x float64) string {
	limit := strconv.FormatFloat(b.limit, 'f', -1, 64)
	switch {
	case b.keyword == "minimum" && x < b.limit && b.limit == 0:
		return "must not be negative"
	case b.keyword == "minimum" && x < b.limit:
		return "must be at least " + limit
	case b.keyword == "exclusiveMinimum" && x <= b.limit:
		return "must be greater than " + limit
	case b.keyword == "maximum" && x > b.limit:
		return "must be at most " + limit
	case b.keyword == "exclusiveMaximum" && x >= b.limit:
		return "must be less than " + limit
	}
	return ""
}

// boundKeywords are the bounds decode applies, in the order it reports
// them.
var boundKeywords = []string{"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"}

// bodyContracts maps "METHOD /path" (the document's path, such as
// "PATCH /v1/shipments/{id}") to the contract of its JSON request body.
var bodyContracts = mustBodyContracts(openAPIDocJSON)

// mustBodyContracts reads every operation's JSON request body from the
// document. It panics on a document it cannot read: the document is
// embedded, so that is a build defect the tests catch.
func mustBodyContracts(docJSON []byte) map[string]*bodyContract {
	var root map[string]any
	if err := json.Unmarshal(docJSON, &root); err != nil {
		panic(fmt.Sprintf("openapi.yaml: %v", err))
	}
	d := apiDoc{root}
	out := map[string]*bodyContract{}
	for path, item := range asObject(root["paths"]) {
		for method, op := range asObject(item) {
			body := asObject(asObject(asObject(asObject(op)["requestBody"])["content"])["application/json"])["schema"]
			if body == nil {
				continue
			}
			out[strings.ToUpper(method)+" "+path] = d.contract(asObject(body), d.successSchema(asObject(op)))
		}
	}
	return out
}

// apiDoc is the document as decoded JSON.
type apiDoc struct{ root map[string]any }

// resolve follows a schema's $ref (within the document) to the schema it
// names; nil stays nil.
func (d apiDoc) resolve(s map[string]any) map[string]any {
	for range 10 {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		name, found := strings.CutPrefix(ref, "#/components/schemas/")
		if !found {
			panic(fmt.Sprintf("openapi.yaml: unsupported $ref %q", ref))
		}
		s = asObject(asObject(asObject(d.root["components"])["schemas"])[name])
	}
	panic("openapi.yaml: a $ref loop")
}

// successSchema returns the JSON schema of the operation's first 2xx
// response, or nil.
func (d apiDoc) successSchema(op map[string]any) map[string]any {
	responses := asObject(op["responses"])
	codes := make([]string, 0, len(responses))
	for code := range responses {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	for _, code := range codes {
		if strings.HasPrefix(code, "2") {
			if s := asObject(asObject(asObject(asObject(responses[code])["content"])["application/json"])["schema"]); s != nil {
				return s
			}
		}
	}
	return nil
}

// contract compiles the request schema s, a strict object; response is
// the schema of what the operation answers at the same place (nil if
// none).
func (d apiDoc) contract(s, response map[string]any) *bodyContract {
	c := &bodyContract{props: map[string]bodyProperty{}, readOnly: map[string]bool{}}
	respProps, _ := d.object(response)
	for name, schemas := range respProps {
		c.readOnly[name] = slices.ContainsFunc(schemas, func(p map[string]any) bool { return p["readOnly"] == true })
	}
	props, _ := d.object(s)
	for name, schemas := range props {
		var prop bodyProperty
		for _, p := range schemas {
			if def, ok := p["default"]; ok {
				prop.def, _ = json.Marshal(def)
			}
		}
		prop.bounds = d.bounds(schemas)
		if _, strict := d.object(allOf(schemas)); strict {
			prop.object = d.contract(allOf(schemas), allOf(respProps[name]))
		}
		c.props[name] = prop
	}
	return c
}

// bounds gathers a number's bounds from its schemas and their allOf
// members, $refs followed; the first schema to give a bound sets it.
func (d apiDoc) bounds(schemas []map[string]any) []bound {
	found := map[string]float64{}
	var walk func(s map[string]any)
	walk = func(s map[string]any) {
		s = d.resolve(s)
		for _, k := range boundKeywords {
			if x, ok := s[k].(float64); ok {
				if _, seen := found[k]; !seen {
					found[k] = x
				}
			}
		}
		for _, m := range asArray(s["allOf"]) {
			walk(asObject(m))
		}
	}
	for _, s := range schemas {
		walk(s)
	}
	var out []bound
	for _, k := range boundKeywords {
		if x, ok := found[k]; ok {
			out = append(out, bound{k, x})
		}
	}
	return out
}

// allOf is the schema that is all of schemas.
func allOf(schemas []map[string]any) map[string]any {
	members := make([]any, len(schemas))
	for i, s := range schemas {
		members[i] = s
	}
	return map[string]any{"allOf": members}
}

// object gathers what the schema s says of an object: each property's
// schemas (from s and its allOf members, $refs followed), and whether
// additional properties are refused.
func (d apiDoc) object(s map[string]any) (props map[string][]map[string]any, strict bool) {
	props = map[string][]map[string]any{}
	var walk func(s map[string]any)
	walk = func(s map[string]any) {
		s = d.resolve(s)
		if s["additionalProperties"] == false {
			strict = true
		}
		for name, p := range asObject(s["properties"]) {
			props[name] = append(props[name], asObject(p))
			if asObject(p)["$ref"] != nil {
				props[name] = append(props[name], d.resolve(asObject(p)))
			}
		}
		for _, m := range asArray(s["allOf"]) {
			walk(asObject(m))
		}
	}
	if s != nil {
		walk(s)
	}
	return props, strict && len(props) > 0
}

func asArray(v any) []any {
	a, _ := v.([]any)
	return a
}

func asObject(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// contractFor returns the contract of the request body of the route c
// serves, checked against dst's type the first time.
func contractFor(c echo.Context, dst any) (*bodyContract, error) {
	key := binding{c.Request().Method, c.Path(), reflect.TypeOf(dst).Elem()}
	if b, ok := bindings.Load(key); ok {
		return b.(routeContract).contract, b.(routeContract).err
	}
	op := key.method + " " + documentPath(key.route)
	b := routeContract{contract: bodyContracts[op]}
	if b.contract == nil {
		b.err = fmt.Errorf("decode: the document has no JSON request body for %s", op)
	} else if p := bindingProblems(b.contract, key.t, ""); len(p) > 0 {
		b.err = fmt.Errorf("decode %s into %s: %s", op, key.t, strings.Join(p, "; "))
	}
	bindings.Store(key, b)
	return b.contract, b.err
}

// binding is a route's body decoded into a Go type; routeContract is its contract
// and whether the type can hold it.
type (
	binding struct {
		method, route string
		t             reflect.Type
	}
	routeContract struct {
		contract *bodyContract
		err      error
	}
)

// bindings caches contractFor by route and Go type.
var bindings sync.Map

// documentPath turns an Echo route ("/v1/shipments/:id") into the
// document's path ("/v1/shipments/{id}").
func documentPath(route string) string {
	parts := strings.Split(route, "/")
	for i, p := range parts {
		if name, ok := strings.CutPrefix(p, ":"); ok {
			parts[i] = "{" + name + "}"
		}
	}
	return strings.Join(parts, "/")
}

// bindingProblems lists the properties of bc that the Go struct type t
// cannot hold: no field of that JSON name, or a nested object the
// document leaves open (its keys would be dropped unchecked).
func bindingProblems(bc *bodyContract, t reflect.Type, path string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return []string{fmt.Sprintf("%s: the document describes an object, %s is not a struct", path, t)}
	}
	fields := jsonFields(t)
	var problems []string
	for name, prop := range bc.props {
		i, ok := fields[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: %s has no such field", join(path, name), t))
			continue
		}
		ft := t.Field(i).Type
		switch {
		case prop.object != nil:
			problems = append(problems, bindingProblems(prop.object, ft, join(path, name))...)
		case valueType(ft):
		default:
			problems = append(problems, fmt.Sprintf("%s: the document leaves the object open, but %s is a struct", join(path, name), ft))
		}
	}
	slices.Sort(problems)
	return problems
}
