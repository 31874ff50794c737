package handlers

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// libopenapi and its validator accept keys they do not know without a word:
// an unquoted comma in a flow mapping, {description: Any JSON value, or
// null.}, silently turns the end of a description into a schema keyword
// "or null." (and /openapi.json then carries "or null.": null). The
// functions below read openapi.yaml against the grammar of OpenAPI 3.1
// instead: every key of every object must be a field that object has, every
// key of a Schema Object a JSON Schema 2020-12 or OpenAPI keyword, or an
// "x-" extension.

// oasObject is one object type of OpenAPI 3.1: its fixed fields, each with
// the kind of its value (see strictSpec.walk), and its patterned fields.
type oasObject struct {
	fields   map[string]string
	patterns []oasPattern
	// refable objects may be a Reference Object instead ($ref, summary and
	// description only).
	refable bool
}

type oasPattern struct {
	key  *regexp.Regexp
	kind string
}

// oasGrammar is OpenAPI 3.1.0 (https://spec.openapis.org/oas/v3.1.0#schema),
// with JSON Schema 2020-12's keywords for the Schema Object. A kind is an
// object type of this map, "{K}" (a map whose values are K), "[K]" (a list
// of K), or one of the plain kinds "string", "bool", "number", "types" (a
// type name or a list of them) and "any".
var oasGrammar = map[string]oasObject{
	"OpenAPI": {fields: map[string]string{
		"openapi": "string", "info": "Info", "jsonSchemaDialect": "string", "servers": "[Server]",
		"paths": "Paths", "webhooks": "{PathItem}", "components": "Components",
		"security": "[SecurityRequirement]", "tags": "[Tag]", "externalDocs": "ExternalDocumentation",
	}},
	"Info": {fields: map[string]string{
		"title": "string", "summary": "string", "description": "string", "termsOfService": "string",
		"contact": "Contact", "license": "License", "version": "string",
	}},
	"Contact":        {fields: map[string]string{"name": "string", "url": "string", "email": "string"}},
	"License":        {fields: map[string]string{"name": "string", "identifier": "string", "url": "string"}},
	"Server":         {fields: map[string]string{"url": "string", "description": "string", "variables": "{ServerVariable}"}},
	"ServerVariable": {fields: map[string]string{"enum": "[string]", "default": "string", "description": "string"}},
	"Components": {fields: map[string]string{
		"schemas": "{Schema}", "responses": "{Response}", "parameters": "{Parameter}", "examples": "{Example}",
		"requestBodies": "{RequestBody}", "headers": "{Header}", "securitySchemes": "{SecurityScheme}",
		"links": "{Link}", "callbacks": "{Callback}", "pathItems": "{PathItem}",
	}},
	"Paths": {patterns: []oasPattern{{regexp.MustCompile(`^/`), "PathItem"}}},
	"PathItem": {fields: map[string]string{
		"$ref": "string", "summary": "string", "description": "string",
		"get": "Operation", "put": "Operation", "post": "Operation", "delete": "Operation",
		"options": "Operation", "head": "Operation", "patch": "Operation", "trace": "Operation",
		"servers": "[Server]", "parameters": "[Parameter]",
	}},
	"Operation": {fields: map[string]string{
		"tags": "[string]", "summary": "string", "description": "string", "externalDocs": "ExternalDocumentation",
		"operationId": "string", "parameters": "[Parameter]", "requestBody": "RequestBody", "responses": "Responses",
		"callbacks": "{Callback}", "deprecated": "bool", "security": "[SecurityRequirement]", "servers": "[Server]",
	}},
	"ExternalDocumentation": {fields: map[string]string{"description": "string", "url": "string"}},
	"Parameter": {refable: true, fields: map[string]string{
		"name": "string", "in": "string", "description": "string", "required": "bool", "deprecated": "bool",
		"allowEmptyValue": "bool", "style": "string", "explode": "bool", "allowReserved": "bool",
		"schema": "Schema", "example": "any", "examples": "{Example}", "content": "{MediaType}",
	}},
	"RequestBody": {refable: true, fields: map[string]string{"description": "string", "content": "{MediaType}", "required": "bool"}},
	"MediaType":   {fields: map[string]string{"schema": "Schema", "example": "any", "examples": "{Example}", "encoding": "{Encoding}"}},
	"Encoding": {fields: map[string]string{
		"contentType": "string", "headers": "{Header}", "style": "string", "explode": "bool", "allowReserved": "bool",
	}},
	"Responses": {patterns: []oasPattern{{regexp.MustCompile(`^(default|[1-5]([0-9]{2}|XX))$`), "Response"}}},
	"Response": {refable: true, fields: map[string]string{
		"description": "string", "headers": "{Header}", "content": "{MediaType}", "links": "{Link}",
	}},
	"Callback": {refable: true, patterns: []oasPattern{{regexp.MustCompile(`.`), "PathItem"}}},
	"Example":  {refable: true, fields: map[string]string{"summary": "string", "description": "string", "value": "any", "externalValue": "string"}},
	"Link": {refable: true, fields: map[string]string{
		"operationRef": "string", "operationId": "string", "parameters": "{any}", "requestBody": "any",
		"description": "string", "server": "Server",
	}},
	"Header": {refable: true, fields: map[string]string{
		"description": "string", "required": "bool", "deprecated": "bool", "allowEmptyValue": "bool",
		"style": "string", "explode": "bool", "allowReserved": "bool",
		"schema": "Schema", "example": "any", "examples": "{Example}", "content": "{MediaType}",
	}},
	"Tag": {fields: map[string]string{"name": "string", "description": "string", "externalDocs": "ExternalDocumentation"}},
	"SecurityScheme": {refable: true, fields: map[string]string{
		"type": "string", "description": "string", "name": "string", "in": "string", "scheme": "string",
		"bearerFormat": "string", "flows": "OAuthFlows", "openIdConnectUrl": "string",
	}},
	"OAuthFlows": {fields: map[string]string{
		"implicit": "OAuthFlow", "password": "OAuthFlow", "clientCredentials": "OAuthFlow", "authorizationCode": "OAuthFlow",
	}},
	"OAuthFlow": {fields: map[string]string{
		"authorizationUrl": "string", "tokenUrl": "string", "refreshUrl": "string", "scopes": "{string}",
	}},
	"SecurityRequirement": {patterns: []oasPattern{{regexp.MustCompile(`.`), "[string]"}}},
	"Schema": {fields: map[string]string{
		// JSON Schema 2020-12 core.
		"$id": "string", "$schema": "string", "$ref": "string", "$anchor": "string", "$dynamicRef": "string",
		"$dynamicAnchor": "string", "$vocabulary": "{bool}", "$comment": "string", "$defs": "{Schema}",
		// Applicators.
		"allOf": "[Schema]", "anyOf": "[Schema]", "oneOf": "[Schema]", "not": "Schema",
		"if": "Schema", "then": "Schema", "else": "Schema", "dependentSchemas": "{Schema}",
		"prefixItems": "[Schema]", "items": "Schema", "contains": "Schema",
		"properties": "{Schema}", "patternProperties": "{Schema}", "additionalProperties": "Schema",
		"propertyNames": "Schema", "unevaluatedItems": "Schema", "unevaluatedProperties": "Schema",
		// Validation.
		"type": "types", "const": "any", "enum": "[any]",
		"multipleOf": "number", "maximum": "number", "exclusiveMaximum": "number", "minimum": "number", "exclusiveMinimum": "number",
		"maxLength": "number", "minLength": "number", "pattern": "string",
		"maxItems": "number", "minItems": "number", "uniqueItems": "bool", "maxContains": "number", "minContains": "number",
		"maxProperties": "number", "minProperties": "number", "required": "[string]", "dependentRequired": "{[string]}",
		// Format, content and meta-data.
		"format": "string", "contentEncoding": "string", "contentMediaType": "string", "contentSchema": "Schema",
		"title": "string", "description": "string", "default": "any", "deprecated": "bool",
		"readOnly": "bool", "writeOnly": "bool", "examples": "[any]",
		// OpenAPI's own.
		"discriminator": "Discriminator", "xml": "XML", "externalDocs": "ExternalDocumentation", "example": "any",
	}},
	"Discriminator": {fields: map[string]string{"propertyName": "string", "mapping": "{string}"}},
	"XML": {fields: map[string]string{
		"name": "string", "namespace": "string", "prefix": "string", "attribute": "bool", "wrapped": "bool",
	}},
}

// jsonTypes are the values a Schema Object's type may name.
var jsonTypes = []string{"array", "boolean", "integer", "null", "number", "object", "string"}

// strictSpec collects what a walk over the document finds wrong.
type strictSpec struct {
	problems []string
}

// strictSpecProblems reads doc (OpenAPI 3.1 YAML) against oasGrammar and
// returns one line per key that is not a field of its object, value of the
// wrong kind, or key defined twice, each with its line and JSON pointer.
func strictSpecProblems(doc []byte) []string {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return []string{err.Error()}
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		return []string{"not a single YAML document"}
	}
	s := &strictSpec{}
	s.walk(root.Content[0], "OpenAPI", "#")
	return s.problems
}

func (s *strictSpec) fail(n *yaml.Node, where, format string, args ...any) {
	s.problems = append(s.problems, fmt.Sprintf("line %d: %s: %s", n.Line, where, fmt.Sprintf(format, args...)))
}

// walk checks that n is a value of kind, at where (a JSON pointer).
func (s *strictSpec) walk(n *yaml.Node, kind, where string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch {
	case kind == "any":
	case strings.HasPrefix(kind, "{"):
		inner := strings.TrimSuffix(strings.TrimPrefix(kind, "{"), "}")
		s.eachKey(n, where, func(key string, v *yaml.Node) { s.walk(v, inner, where+"/"+pointerToken(key)) })
	case strings.HasPrefix(kind, "["):
		if n.Kind != yaml.SequenceNode {
			s.fail(n, where, "want a list, got %s", describeNode(n))
			return
		}
		inner := strings.TrimSuffix(strings.TrimPrefix(kind, "["), "]")
		for i, v := range n.Content {
			s.walk(v, inner, fmt.Sprintf("%s/%d", where, i))
		}
	case kind == "string", kind == "bool":
		if n.Kind != yaml.ScalarNode || n.Tag != "!!"+map[string]string{"string": "str", "bool": "bool"}[kind] {
			s.fail(n, where, "want a %s, got %s", kind, describeNode(n))
		}
	case kind == "number":
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
			s.fail(n, where, "want a number, got %s", describeNode(n))
		}
	case kind == "types":
		names := []*yaml.Node{n}
		if n.Kind == yaml.SequenceNode {
			names = n.Content
		}
		for _, t := range names {
			if t.Kind != yaml.ScalarNode || !slices.Contains(jsonTypes, t.Value) {
				s.fail(t, where, "%s is not a JSON Schema type (%s)", describeNode(t), strings.Join(jsonTypes, ", "))
			}
		}
	default:
		s.object(n, kind, where)
	}
}

// object checks n as an object of the grammar's type kind.
func (s *strictSpec) object(n *yaml.Node, kind, where string) {
	obj, ok := oasGrammar[kind]
	if !ok {
		panic("oasGrammar has no " + kind)
	}
	if kind == "Schema" && n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		return // true and false are schemas too
	}
	if obj.refable && mappingHas(n, "$ref") {
		s.eachKey(n, where, func(key string, v *yaml.Node) {
			switch key {
			case "$ref", "summary", "description":
				s.walk(v, "string", where+"/"+pointerToken(key))
			default:
				s.fail(v, where, "a Reference Object ($ref) has only summary and description beside it, not %q", key)
			}
		})
		return
	}
	s.eachKey(n, where, func(key string, v *yaml.Node) {
		at := where + "/" + pointerToken(key)
		if strings.HasPrefix(key, "x-") {
			return
		}
		if fieldKind, ok := obj.fields[key]; ok {
			s.walk(v, fieldKind, at)
			return
		}
		for _, p := range obj.patterns {
			if p.key.MatchString(key) {
				s.walk(v, p.kind, at)
				return
			}
		}
		hint := ""
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			hint = " (a key without a value: an unquoted comma or colon inside a {flow: mapping}?)"
		}
		if kind == "Schema" {
			s.fail(v, where, "%q is not a Schema keyword%s", key, hint)
			return
		}
		s.fail(v, where, "%q is not a field of %s%s", key, kind, hint)
	})
}

// eachKey calls f for every key of the mapping n, in order, after checking
// that n is a mapping whose keys are strings, each defined once.
func (s *strictSpec) eachKey(n *yaml.Node, where string, f func(key string, v *yaml.Node)) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		s.fail(n, where, "want an object, got %s", describeNode(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			s.fail(k, where, "keys must be plain strings, got %s", describeNode(k))
			continue
		}
		if seen[k.Value] {
			s.fail(k, where, "%q is defined twice", k.Value)
		}
		seen[k.Value] = true
		f(k.Value, v)
	}
}

func mappingHas(n *yaml.Node, key string) bool {
	if n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "an object"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%s %q", strings.TrimPrefix(n.Tag, "!!"), n.Value)
	}
	return "nothing"
}

// pointerToken escapes a key for a JSON pointer (RFC 6901).
func pointerToken(key string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}

// TestOpenAPIStrict fails on any key of openapi.yaml that OpenAPI 3.1 and
// JSON Schema 2020-12 do not define for its object (run it alone with
// go test ./handlers -run TestOpenAPIStrict).
func TestOpenAPIStrict(t *testing.T) {
	for _, p := range strictSpecProblems(openAPIDoc) {
		t.Errorf("openapi.yaml %s", p)
	}
}

// TestOpenAPIStrictRejects proves the strict walk is not vacuous: each of
// these small documents has one defect it must report, and the clean one
// none.
func TestOpenAPIStrictRejects(t *testing.T) {
	doc := func(schema, extra string) string {
		return `openapi: 3.1.0
info: {title: T, version: "1"}
paths:
  /things:
    get:
      operationId: things
      responses:
        '200':
          description: Things.
          content:
            application/json:
              schema: ` + schema + `
` + extra
	}
	tests := []struct {
		name, doc, want string
	}{
		{"clean", doc(`{type: object, description: "One, or null.", properties: {n: {type: [integer, 'null']}}}`, ""), ""},
		{"stray comma in a flow mapping", doc(`{description: Any JSON value, or null.}`, ""), `"or null." is not a Schema keyword (a key without a value`},
		{"stray comma in a nested schema", doc(`{type: object, properties: {n: {type: integer, description: Days, both ends included.}}}`, ""),
			`#/paths/~1things/get/responses/200/content/application~1json/schema/properties/n: "both ends included." is not a Schema keyword`},
		{"misspelt keyword", doc(`{type: string, minLenght: 1}`, ""), `"minLenght" is not a Schema keyword`},
		{"bad type", doc(`{type: strin}`, ""), `"strin" is not a JSON Schema type`},
		{"unknown operation field", doc(`{type: string}`, "      summry: Things\n"), `"summry" is not a field of Operation`},
		{"bad status code", doc(`{type: string}`, "        '2000': {description: No.}\n"), `"2000" is not a field of Responses`},
		{"reference with a sibling", doc(`{type: string}`, "        '404': {$ref: '#/components/responses/NotFound', content: {}}\n"),
			`a Reference Object ($ref) has only summary and description beside it, not "content"`},
		{"bool expected", doc(`{type: string}`, "      deprecated: yes please\n"), `want a bool`},
		{"duplicate key", doc(`{type: string}`, "      operationId: again\n"), `"operationId" is defined twice`},
		{"extension allowed", doc(`{type: string, x-go-type: string}`, "      x-internal: true\n"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := strictSpecProblems([]byte(tt.doc))
			got := strings.Join(problems, "\n")
			switch {
			case tt.want == "" && len(problems) > 0:
				t.Errorf("got %s, want no problem", got)
			case tt.want != "" && !strings.Contains(got, tt.want):
				t.Errorf("got %q, want a problem mentioning %q", got, tt.want)
			}
		})
	}
}
