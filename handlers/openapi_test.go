package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/responses"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/pb33f/libopenapi/orderedmap"
	"github.com/sirupsen/logrus"

	"github.com/waybill/waybill/models"
)

// openAPISpec is openapi.yaml loaded once per test binary.
type openAPISpec struct {
	doc       libopenapi.Document
	model     *v3.Document
	validator validator.Validator
	schemas   schema_validation.SchemaValidator
	options   *config.ValidationOptions
}

var (
	specOnce   sync.Once
	loadedSpec *openAPISpec
	specErr    error
)

// specOptions are the validation options of every check: formats
// (uuid, date-time, date, uri-reference) are asserted, not just annotated.
func specOptions() []config.Option {
	return []config.Option{config.WithFormatAssertions()}
}

// loadSpec parses the embedded document and builds its validators, once.
func loadSpec() (*openAPISpec, error) {
	specOnce.Do(func() {
		doc, err := libopenapi.NewDocument(openAPIDoc)
		if err != nil {
			specErr = fmt.Errorf("openapi.yaml: %w", err)
			return
		}
		m, err := doc.BuildV3Model()
		if err != nil {
			specErr = fmt.Errorf("openapi.yaml: building the model: %w", err)
			return
		}
		v, errs := validator.NewValidator(doc, specOptions()...)
		if len(errs) > 0 {
			specErr = fmt.Errorf("openapi.yaml: building the validator: %w", errors.Join(errs...))
			return
		}
		loadedSpec = &openAPISpec{
			doc: doc, model: &m.Model, validator: v,
			schemas: schema_validation.NewSchemaValidator(specOptions()...),
			options: config.NewValidationOptions(specOptions()...),
		}
	})
	return loadedSpec, specErr
}

// checkAgainstSpec fails t unless the exchange of req and rec agrees with
// openapi.yaml; see specError for what is checked. reqBody is the request's
// body (nil for none), passed separately because the handler has consumed
// req.Body by the time the check runs. Call it before reading rec.Body:
// a recorder whose body was read looks empty.
//
//	req := httptest.NewRequest(http.MethodPost, "/v1/addresses", bytes.NewReader(body))
//	rec := httptest.NewRecorder()
//	e.ServeHTTP(rec, req)
//	checkAgainstSpec(t, req, body, rec)
func checkAgainstSpec(t testing.TB, req *http.Request, reqBody []byte, rec *httptest.ResponseRecorder) {
	t.Helper()
	if err := specError(req, reqBody, rec); err != nil {
		t.Error(err)
	}
}

// CheckAgainstSpec is checkAgainstSpec for the package's external tests
// (package handlers_test).
var CheckAgainstSpec = checkAgainstSpec

// SpecRequestProblems returns how req, whose body is body, disagrees with
// the document's description of its operation (parameters, body,
// security), or nil when the document allows it: the client's side of
// the contract, whatever the server answers.
func SpecRequestProblems(req *http.Request, body []byte) []string {
	s, err := loadSpec()
	if err != nil {
		return []string{err.Error()}
	}
	r := req.Clone(context.Background())
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	pathItem, pathErrs, template := paths.FindPath(r, s.model, s.options)
	if pathItem == nil || len(pathErrs) > 0 {
		return describe("path", pathErrs)
	}
	_, errs := s.validator.ValidateHttpRequestSyncWithPathItem(r, pathItem, template)
	return describe("request", errs)
}

// specError reports how the exchange of req (whose body was reqBody) and
// rec disagrees with openapi.yaml, or returns nil when it agrees:
//   - the path and method are an operation of the document (HEAD is
//     checked as the path's GET, and may lack the body); the one
//     exception is a routing error, a 404 for a path the document lacks or
//     a 405 for a method a documented path lacks, whose body must then be a
//     problem with that status;
//   - the status code is listed by the operation (not merely covered by a
//     default or a range);
//   - the response has a body exactly when the document describes one, its
//     Content-Type is the documented media type, and it matches the schema;
//   - the documented required response headers (X-Request-Id, ETag,
//     Location, Retry-After, WWW-Authenticate) are present and
//     well-formed, routing errors included;
//   - a problem's code is one the response lists for its status;
//   - for a 2xx response, the request itself is valid: a request the
//     server accepted must be one the document allows (parameters, body,
//     security).
//
// It does not consume rec.Body.
func specError(req *http.Request, reqBody []byte, rec *httptest.ResponseRecorder) error {
	s, err := loadSpec()
	if err != nil {
		return err
	}
	r := req.Clone(context.Background())
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(reqBody)), int64(len(reqBody))
	// HEAD is served on every GET route and not listed in the document
	// (docs/api.md): it is checked as that GET, whose body it may omit.
	head := r.Method == http.MethodHead
	if head {
		r.Method = http.MethodGet
	}
	body := bytes.Clone(rec.Body.Bytes())
	resp := rec.Result()
	resp.Body = io.NopCloser(bytes.NewReader(body))

	exchange := fmt.Sprintf("%s %s → %d", req.Method, req.URL.RequestURI(), rec.Code)
	fail := func(problems []string) error {
		if len(problems) == 0 {
			return nil
		}
		return fmt.Errorf("%s disagrees with openapi.yaml:\n  - %s\n  response Content-Type %q, body: %s",
			exchange, strings.Join(problems, "\n  - "), rec.Header().Get(echo.HeaderContentType), excerpt(body))
	}

	pathItem, pathErrs, template := paths.FindPath(r, s.model, s.options)
	if pathItem == nil || len(pathErrs) > 0 {
		return fail(s.routingErrorProblems(r, resp, body, pathErrs, head))
	}
	op := helpers.ExtractOperation(r, pathItem)
	if op == nil || op.Responses == nil {
		return fail([]string{fmt.Sprintf("%s %s has no responses in the document", r.Method, template)})
	}

	var problems []string
	documented := op.Responses.Codes.GetOrZero(strconv.Itoa(rec.Code))
	if documented == nil {
		var codes []string
		for code := range op.Responses.Codes.KeysFromOldest() {
			codes = append(codes, code)
		}
		return fail([]string{fmt.Sprintf("status %d is not documented for %s %s (documented: %s)",
			rec.Code, r.Method, template, strings.Join(codes, ", "))})
	}
	describesBody := documented.Content != nil && documented.Content.Len() > 0
	switch {
	case describesBody && len(body) == 0 && !head:
		problems = append(problems, "the response has no body but the document describes one (was rec.Body read before the check?)")
	case !describesBody && len(body) > 0:
		problems = append(problems, "the response has a body but the document describes none")
	}
	checked := r
	if head && len(body) == 0 {
		// The library checks a bodiless HEAD answer's status, media type
		// and headers against the GET's, and skips the schema. (A
		// recorder may still hold the body a HEAD handler wrote: net/http
		// drops it on the wire, and it is checked as the GET's here.)
		checked = r.Clone(context.Background())
		checked.Method = http.MethodHead
		resp.Body = http.NoBody
	}
	_, respErrs := s.validator.GetResponseBodyValidator().ValidateResponseBodyWithPathItem(checked, resp, pathItem, template)
	problems = append(problems, describe("response", respErrs)...)

	if rec.Code/100 == 2 {
		_, reqErrs := s.validator.ValidateHttpRequestSyncWithPathItem(r, pathItem, template)
		problems = append(problems, describe("request (the server accepted it, the document does not)", reqErrs)...)
	}
	return fail(problems)
}

// routingErrorProblems checks a response to a request that is no operation
// of the document: only a routing error's problem is acceptable.
func (s *openAPISpec) routingErrorProblems(r *http.Request, resp *http.Response, body []byte, pathErrs []*liberrors.ValidationError, head bool) []string {
	status, h := resp.StatusCode, resp.Header
	missingOperation := false
	for _, e := range pathErrs {
		if e.ValidationSubType == helpers.ValidationMissingOperation {
			missingOperation = true
		}
	}
	var want int
	var component string
	switch {
	case missingOperation && status == http.StatusMethodNotAllowed:
		want, component = status, "MethodNotAllowed"
	case !missingOperation && status == http.StatusNotFound:
		want, component = status, "NotFound"
	default:
		what := "path"
		if missingOperation {
			what = "method for this path"
		}
		return []string{fmt.Sprintf("the %s is not in the document (only a 404 for an unknown path or a 405 for an unknown method may answer such a request)", what)}
	}
	var problems []string
	if mt, _, _ := mime.ParseMediaType(h.Get(echo.HeaderContentType)); mt != "application/problem+json" {
		problems = append(problems, fmt.Sprintf("a %d routing error must be application/problem+json", want))
	}
	documented := s.model.Components.Responses.GetOrZero(component)
	_, headerErrs := responses.ValidateResponseHeaders(r, resp, documented.Headers, r.URL.Path, strconv.Itoa(want),
		config.WithExistingOpts(s.options))
	problems = append(problems, describe("response", headerErrs)...)
	if head && len(body) == 0 {
		return problems
	}
	schema := documented.Content.GetOrZero("application/problem+json").Schema.Schema()
	_, errs := s.schemas.ValidateSchemaBytesWithVersion(schema, body, 3.1)
	return append(problems, describe("response", errs)...)
}

// describe renders the library's validation errors one per line, with the
// schema failures (field path and reason) under each.
func describe(what string, errs []*liberrors.ValidationError) []string {
	var out []string
	for _, e := range errs {
		line := what + ": " + e.Message
		if e.Reason != "" && e.Reason != e.Message {
			line += ": " + e.Reason
		}
		for _, f := range e.SchemaValidationErrors {
			where := f.FieldPath
			if where == "" {
				where = "/" + strings.Join(f.InstancePath, "/")
			}
			line += fmt.Sprintf("\n      at %s: %s", where, f.Reason)
		}
		out = append(out, line)
	}
	return out
}

func excerpt(b []byte) string {
	const max = 1500
	if len(b) == 0 {
		return "(empty)"
	}
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

func TestOpenAPIDocument(t *testing.T) {
	s, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	if v := s.doc.GetVersion(); v != "3.1.0" {
		t.Errorf("openapi: %q, want 3.1.0", v)
	}
	if ok, errs := s.validator.ValidateDocument(); !ok || len(errs) > 0 {
		t.Errorf("openapi.yaml is not a valid OpenAPI 3.1 document:\n%s", strings.Join(describe("document", errs), "\n"))
	}

	// The document's own validation does not look inside schemas (a
	// "type: strin" passes), so compile every one of them.
	opts := config.NewValidationOptions(specOptions()...)
	for where, schema := range documentSchemas(s.model) {
		if _, err := schema_validation.CompileSchemaForValidation(schema.Schema(),
			schema_validation.SchemaValidationPurposeGeneric, opts, 3.1); err != nil {
			t.Errorf("%s: invalid schema: %v", where, err)
		}
	}

	// The conventions every operation must follow (docs/api.md).
	opIDs := map[string]string{}
	for path, item := range s.model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			name := strings.ToUpper(method) + " " + path
			if op.OperationId == "" {
				t.Errorf("%s: no operationId", name)
			} else if other, dup := opIDs[op.OperationId]; dup {
				t.Errorf("%s: operationId %s is also %s's", name, op.OperationId, other)
			}
			opIDs[op.OperationId] = name
			want := []string{"500"}
			// A carrier's webhook is signed instead of sent with an API
			// key, and its event id is its idempotency key.
			webhook := strings.HasPrefix(path, "/v1/webhooks/")
			if strings.HasPrefix(path, "/v1/") {
				want = append(want, "400", "401", "403", "429", "503")
				if op.Security != nil && !webhook {
					t.Errorf("%s: a /v1 route must use the document's bearer security", name)
				}
			}
			if path == "/readyz" || path == "/health" {
				want = append(want, "503")
			}
			if strings.Contains(path, "{id}") {
				want = append(want, "404")
			}
			if op.RequestBody != nil {
				want = append(want, "408", "409", "413", "415", "422")
			}
			if method == "patch" {
				want = append(want, "412")
				if !hasParam(op, "header", "If-Match") {
					t.Errorf("%s: no If-Match header parameter", name)
				}
			}
			for _, code := range want {
				if op.Responses.Codes.GetOrZero(code) == nil {
					t.Errorf("%s: no %s response", name, code)
				}
			}
			if op.Responses.Default != nil {
				t.Errorf("%s: a default response would hide undocumented status codes from checkAgainstSpec", name)
			}
			for code, resp := range op.Responses.Codes.FromOldest() {
				n, _ := strconv.Atoi(code)
				if n >= 400 && resp.Content.GetOrZero("application/problem+json") == nil {
					t.Errorf("%s: the %s response is not application/problem+json", name, code)
				}
				if h := resp.Headers.GetOrZero("X-Request-Id"); h == nil || !h.Required {
					t.Errorf("%s: the %s response does not declare its required X-Request-Id", name, code)
				}
				if h := resp.Headers.GetOrZero("WWW-Authenticate"); n == 401 && (h == nil || !h.Required) {
					t.Errorf("%s: the 401 response does not declare its required WWW-Authenticate (RFC 6750)", name)
				}
				if n == 503 && resp.Headers.GetOrZero("Retry-After") == nil {
					t.Errorf("%s: the 503 response does not declare Retry-After", name)
				}
			}
			// A write can meet a COMMIT whose outcome is unknown; a read
			// cannot, and its 503 says nothing was changed.
			write := strings.HasPrefix(path, "/v1/") && method != "get"
			if resp := op.Responses.Codes.GetOrZero("503"); resp != nil &&
				slices.Contains(problemCodes(resp), "outcome_unknown") != write {
				t.Errorf("%s: the 503's codes %v: outcome_unknown must be listed exactly on /v1 routes that change data", name, problemCodes(resp))
			}
			if method == "post" && !webhook && !hasParam(op, "header", "Idempotency-Key") {
				t.Errorf("%s: no Idempotency-Key header parameter", name)
			}
		}
	}
	if len(opIDs) == 0 {
		t.Fatal("the document has no operations")
	}
}

// problemCodes returns the codes the problem+json body of resp may carry:
// the enum of its code property.
func problemCodes(resp *v3.Response) []string { return problemValues(resp, "code") }

// problemValues returns the values the problem+json body of resp allows
// for property: its const or enum, in the schema or any of its allOf.
func problemValues(resp *v3.Response, property string) []string {
	mt := resp.Content.GetOrZero("application/problem+json")
	if mt == nil || mt.Schema == nil {
		return nil
	}
	var values []string
	var walk func(*base.Schema)
	walk = func(sch *base.Schema) {
		if sch.Properties != nil {
			if p := sch.Properties.GetOrZero(property); p != nil {
				if c := p.Schema().Const; c != nil {
					values = append(values, c.Value)
				}
				for _, v := range p.Schema().Enum {
					values = append(values, v.Value)
				}
			}
		}
		for _, sp := range sch.AllOf {
			walk(sp.Schema())
		}
	}
	walk(mt.Schema.Schema())
	return values
}

// TestProblemCodesDocumented checks that the document and the error table
// of errors.go agree: every code the server sends is listed by the
// document's responses of its status, and every listed code is sent with
// that status. 499 (client_closed_request) is never sent, so never listed.
func TestProblemCodesDocumented(t *testing.T) {
	s, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]map[int]bool{} // code → statuses listing it
	note := func(where, status string, resp *v3.Response) {
		n, _ := strconv.Atoi(status)
		if n < 400 || resp.Content.GetOrZero("application/problem+json") == nil {
			return
		}
		codes := problemCodes(resp)
		if len(codes) == 0 {
			t.Errorf("%s: the %s problem lists no codes (properties: {code: {enum: [...]}})", where, status)
		}
		for _, code := range codes {
			if documented[code] == nil {
				documented[code] = map[int]bool{}
			}
			documented[code][n] = true
		}
	}
	for name, resp := range s.model.Components.Responses.FromOldest() {
		status := problemValues(resp, "status")
		if len(status) != 1 {
			t.Errorf("#/components/responses/%s: the problem's status is %v, want one const", name, status)
			continue
		}
		note("#/components/responses/"+name, status[0], resp)
	}
	for path, item := range s.model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			for code, resp := range op.Responses.Codes.FromOldest() {
				if code == strconv.Itoa(statusClientClosedRequest) {
					t.Errorf("%s %s documents a %s: it is never sent", strings.ToUpper(method), path, code)
				}
				note(strings.ToUpper(method)+" "+path, code, resp)
			}
		}
	}
	for code, p := range problems {
		switch {
		case p.status == statusClientClosedRequest:
			if documented[code] != nil {
				t.Errorf("%s is documented, but only logs and metrics see it", code)
			}
		case !documented[code][p.status]:
			t.Errorf("%s (%d) is sent but no %d response of openapi.yaml lists it", code, p.status, p.status)
		}
	}
	for code, statuses := range documented {
		for status := range statuses {
			if p, ok := problems[code]; !ok || p.status != status {
				t.Errorf("openapi.yaml lists %s on a %d, but errors.go sends it with %d", code, status, p.status)
			}
		}
	}
}

// documentSchemas returns every schema of the document by where it is:
// the components and the parameters, bodies and headers of each operation.
func documentSchemas(m *v3.Document) map[string]*base.SchemaProxy {
	out := map[string]*base.SchemaProxy{}
	add := func(where string, sp *base.SchemaProxy) {
		if sp != nil {
			out[where] = sp
		}
	}
	content := func(where string, c *orderedmap.Map[string, *v3.MediaType]) {
		each(c, func(mt string, v *v3.MediaType) { add(where+" "+mt, v.Schema) })
	}
	headers := func(where string, h *orderedmap.Map[string, *v3.Header]) {
		each(h, func(name string, v *v3.Header) { add(where+" header "+name, v.Schema) })
	}
	params := func(where string, ps []*v3.Parameter) {
		for _, p := range ps {
			add(where+" parameter "+p.Name, p.Schema)
		}
	}
	if c := m.Components; c != nil {
		each(c.Schemas, func(name string, sp *base.SchemaProxy) { add("#/components/schemas/"+name, sp) })
		each(c.Parameters, func(name string, p *v3.Parameter) { add("#/components/parameters/"+name, p.Schema) })
		headers("#/components", c.Headers)
		each(c.Responses, func(name string, r *v3.Response) {
			content("#/components/responses/"+name, r.Content)
			headers("#/components/responses/"+name, r.Headers)
		})
	}
	each(m.Paths.PathItems, func(path string, item *v3.PathItem) {
		params(path, item.Parameters)
		each(item.GetOperations(), func(method string, op *v3.Operation) {
			where := strings.ToUpper(method) + " " + path
			params(where, op.Parameters)
			if op.RequestBody != nil {
				content(where+" request", op.RequestBody.Content)
			}
			if op.Responses != nil {
				each(op.Responses.Codes, func(code string, r *v3.Response) {
					content(where+" "+code, r.Content)
					headers(where+" "+code, r.Headers)
				})
			}
		})
	})
	return out
}

// each calls f for every entry of m, which may be nil.
func each[V any](m *orderedmap.Map[string, V], f func(string, V)) {
	if m == nil {
		return
	}
	for k, v := range m.FromOldest() {
		f(k, v)
	}
}

func hasParam(op *v3.Operation, in, name string) bool {
	for _, p := range op.Parameters {
		if p.In == in && strings.EqualFold(p.Name, name) {
			return true
		}
	}
	return false
}

func TestOpenAPIServed(t *testing.T) {
	e := New(Options{Log: logrus.New(), RequestTimeout: time.Second, BodyLimit: 1024, Draining: func() bool { return false }})
	for _, tt := range []struct {
		path        string
		contentType string
	}{
		{"/openapi.json", "application/json"},
		{"/openapi.yaml", "application/yaml"},
	} {
		req := httptest.NewRequest(http.MethodGet, tt.path, nil)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d, want 200", tt.path, rec.Code)
		}
		if got := rec.Header().Get(echo.HeaderContentType); got != tt.contentType {
			t.Errorf("GET %s: Content-Type %q, want %q", tt.path, got, tt.contentType)
		}
		checkAgainstSpec(t, req, nil, rec)
		// What clients read, not only the file: the JSON conversion must
		// carry no stray keyword either.
		for _, p := range strictSpecProblems(rec.Body.Bytes()) {
			t.Errorf("GET %s: %s", tt.path, p)
		}
		doc, err := libopenapi.NewDocument(rec.Body.Bytes())
		if err != nil {
			t.Fatalf("GET %s: %v", tt.path, err)
		}
		m, err := doc.BuildV3Model()
		if err != nil {
			t.Fatalf("GET %s: %v", tt.path, err)
		}
		want, _ := loadSpec()
		if got, want := m.Model.Paths.PathItems.Len(), want.model.Paths.PathItems.Len(); got != want {
			t.Errorf("GET %s: %d paths, want %d", tt.path, got, want)
		}
	}
}

// TestSpecSchemasMatchModels proves that the resource schemas describe what
// the models marshal: the same field names, types and nullability (a model
// field missing from a schema, or a schema field missing from the model,
// fails). Each model is checked with its pointers nil and with every
// pointer set.
func TestSpecSchemasMatchModels(t *testing.T) {
	s, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	// Each model starts from its zero value with the enums valid; "filled"
	// is the same with every pointer set.
	tests := []struct {
		schema string
		zero   any
	}{
		{"Address", &models.Address{}},
		{"Parcel", &models.Parcel{}},
		{"CustomsInfo", &models.CustomsInfo{}},
		// The store always expands the from and to addresses.
		{"Shipment", &models.Shipment{Mode: "test", Status: models.StatusUnknown, FromAddress: &models.Address{}, ToAddress: &models.Address{}}},
		{"ShipmentEvent", &models.ShipmentEvent{}},
		{"ShipmentMetrics", &models.ShipmentMetrics{}},
		{"AnalyticsSummary", &models.AnalyticsSummary{Period: "daily"}},
		{"CarrierPerformance", &models.CarrierPerformance{}},
		{"SystemMetric", &models.SystemMetric{}},
	}
	for _, tt := range tests {
		schema := s.model.Components.Schemas.GetOrZero(tt.schema)
		if schema == nil {
			t.Errorf("no schema %s", tt.schema)
			continue
		}
		full := reflect.New(reflect.TypeOf(tt.zero).Elem())
		full.Elem().Set(reflect.ValueOf(tt.zero).Elem())
		fill(full.Elem(), 2)
		for name, v := range map[string]any{"zero": tt.zero, "filled": full.Interface()} {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if ok, errs := s.schemas.ValidateSchemaBytesWithVersion(schema.Schema(), b, 3.1); !ok {
				t.Errorf("%s (%s) does not match models.%T:\n%s\n%s", tt.schema, name, tt.zero,
					strings.Join(describe("schema", errs), "\n"), b)
			}
		}
	}
}

// fill sets every pointer of the struct v to a value, recursing into
// pointed-to structs depth levels deep, and every models.JSON to an object.
func fill(v reflect.Value, depth int) {
	jsonType := reflect.TypeFor[models.JSON]()
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.CanSet() {
			continue
		}
		switch {
		case f.Type() == jsonType:
			f.Set(reflect.ValueOf(models.JSON(`{"k": [1, "two", null]}`)))
		case f.Kind() == reflect.Pointer:
			elem := reflect.New(f.Type().Elem())
			if elem.Elem().Kind() == reflect.Struct && elem.Elem().NumField() > 1 {
				if depth == 0 {
					continue
				}
				fill(elem.Elem(), depth-1)
			}
			f.Set(elem)
		}
	}
}

// TestCheckAgainstSpecCatchesMismatch proves the checker is not vacuous:
// fabricated exchanges that break the document fail it, and conforming
// ones pass.
func TestCheckAgainstSpecCatchesMismatch(t *testing.T) {
	id := uuid.MustParse("00000000-0000-0000-0000-000000000001")
	shipment, err := json.Marshal(models.Shipment{ID: id, Mode: "test", Status: "unknown", Currency: "USD",
		FromAddress: &models.Address{Street1: "1 Main St", City: "Springfield", Zip: "12345", Country: "US"},
		ToAddress:   &models.Address{Street1: "2 Rue", City: "Paris", Zip: "75001", Country: "FR"}})
	if err != nil {
		t.Fatal(err)
	}
	address, err := json.Marshal(models.Address{ID: id, Street1: "1 Main St", City: "Springfield", Zip: "12345", Country: "US"})
	if err != nil {
		t.Fatal(err)
	}
	problem := func(status int, code string) string {
		return fmt.Sprintf(`{"type":"/problems/%s","title":"T","status":%d,"code":"%s","request_id":"r1"}`, code, status, code)
	}
	const (
		jsonType    = "application/json"
		problemType = "application/problem+json"
		auth        = "Bearer wb_test"
	)
	shipmentPath := "/v1/shipments/" + id.String()
	tests := []struct {
		name         string
		method, path string
		reqAuth      string
		reqType      string
		reqBody      string
		status       int
		respHeader   map[string]string
		respBody     string
		wantErr      string // "" when the exchange conforms
	}{
		{name: "livez ok", method: "GET", path: "/livez", status: 200,
			respHeader: map[string]string{"Content-Type": jsonType}, respBody: `{"status":"ok"}`},
		{name: "livez wrong type", method: "GET", path: "/livez", status: 200,
			respHeader: map[string]string{"Content-Type": jsonType}, respBody: `{"status": 5}`, wantErr: "status"},
		{name: "livez missing field", method: "GET", path: "/livez", status: 200,
			respHeader: map[string]string{"Content-Type": jsonType}, respBody: `{}`, wantErr: "status"},
		{name: "livez undocumented status", method: "GET", path: "/livez", status: 201,
			respHeader: map[string]string{"Content-Type": jsonType}, respBody: `{"status":"ok"}`, wantErr: "not documented"},
		{name: "livez wrong content type", method: "GET", path: "/livez", status: 200,
			respHeader: map[string]string{"Content-Type": "text/plain"}, respBody: `ok`, wantErr: "text/plain"},
		{name: "livez empty body", method: "GET", path: "/livez", status: 200,
			respHeader: map[string]string{"Content-Type": jsonType}, wantErr: "no body"},
		{name: "unknown path answered 200", method: "GET", path: "/nowhere", status: 200,
			respHeader: map[string]string{"Content-Type": jsonType}, respBody: `{}`, wantErr: "not in the document"},
		{name: "unknown path 404", method: "GET", path: "/nowhere", status: 404,
			respHeader: map[string]string{"Content-Type": problemType}, respBody: problem(404, "not_found")},
		{name: "unknown path 404 as plain JSON", method: "GET", path: "/nowhere", status: 404,
			respHeader: map[string]string{"Content-Type": jsonType}, respBody: problem(404, "not_found"), wantErr: "problem+json"},
		{name: "unknown method 405", method: "POST", path: "/livez", status: 405,
			respHeader: map[string]string{"Content-Type": problemType}, respBody: problem(405, "method_not_allowed")},
		{name: "unknown method 405 with wrong status in body", method: "POST", path: "/livez", status: 405,
			respHeader: map[string]string{"Content-Type": problemType}, respBody: problem(404, "not_found"), wantErr: "405"},
		{name: "shipment ok", method: "GET", path: shipmentPath, reqAuth: auth, status: 200,
			respHeader: map[string]string{"Content-Type": jsonType, "ETag": `"abc"`}, respBody: string(shipment)},
		{name: "shipment without ETag", method: "GET", path: shipmentPath, reqAuth: auth, status: 200,
			respHeader: map[string]string{"Content-Type": jsonType}, respBody: string(shipment), wantErr: "ETag"},
		{name: "shipment with an unknown field", method: "GET", path: shipmentPath, reqAuth: auth, status: 200,
			respHeader: map[string]string{"Content-Type": jsonType, "ETag": `"abc"`},
			respBody:   strings.Replace(string(shipment), `{`, `{"surprise":1,`, 1), wantErr: "surprise"},
		{name: "shipment with a bad status", method: "GET", path: shipmentPath, reqAuth: auth, status: 200,
			respHeader: map[string]string{"Content-Type": jsonType, "ETag": `"abc"`},
			respBody:   strings.Replace(string(shipment), `"status":"unknown"`, `"status":"lost"`, 1), wantErr: "status"},
		{name: "shipment time without microseconds", method: "GET", path: shipmentPath, reqAuth: auth, status: 200,
			respHeader: map[string]string{"Content-Type": jsonType, "ETag": `"abc"`},
			respBody:   strings.Replace(string(shipment), `"created_at":"0001-01-01T00:00:00.000000Z"`, `"created_at":"0001-01-01T00:00:00Z"`, 1), wantErr: "created_at"},
		{name: "shipment 404", method: "GET", path: shipmentPath, reqAuth: auth, status: 404,
			respHeader: map[string]string{"Content-Type": problemType}, respBody: problem(404, "not_found")},
		{name: "problem status differs from response status", method: "GET", path: shipmentPath, reqAuth: auth, status: 404,
			respHeader: map[string]string{"Content-Type": problemType}, respBody: problem(400, "bad_request"), wantErr: "status"},
		{name: "503 without Retry-After", method: "GET", path: shipmentPath, status: 503,
			respHeader: map[string]string{"Content-Type": problemType}, respBody: problem(503, "database_unavailable"), wantErr: "Retry-After"},
		{name: "503 with Retry-After", method: "GET", path: shipmentPath, status: 503,
			respHeader: map[string]string{"Content-Type": problemType, "Retry-After": "2"}, respBody: problem(503, "database_unavailable")},
		{name: "outcome unknown on a write", method: "DELETE", path: shipmentPath, reqAuth: auth, status: 503,
			respHeader: map[string]string{"Content-Type": problemType, "Retry-After": "2"}, respBody: problem(503, "outcome_unknown")},
		{name: "outcome unknown on a read", method: "GET", path: shipmentPath, reqAuth: auth, status: 503,
			respHeader: map[string]string{"Content-Type": problemType, "Retry-After": "2"}, respBody: problem(503, "outcome_unknown"), wantErr: "code"},
		{name: "a code of another status", method: "GET", path: shipmentPath, reqAuth: auth, status: 404,
			respHeader: map[string]string{"Content-Type": problemType}, respBody: problem(404, "conflict"), wantErr: "code"},
		{name: "client closed request", method: "GET", path: shipmentPath, reqAuth: auth, status: 499, wantErr: "not documented"},
		{name: "no X-Request-Id", method: "GET", path: "/livez", status: 200,
			respHeader: map[string]string{"Content-Type": jsonType, "X-Request-Id": ""}, respBody: `{"status":"ok"}`, wantErr: "X-Request-Id"},
		{name: "X-Request-Id that could forge a log field", method: "GET", path: "/livez", status: 200,
			respHeader: map[string]string{"Content-Type": jsonType, "X-Request-Id": `a" level=error`}, respBody: `{"status":"ok"}`, wantErr: "X-Request-Id"},
		{name: "X-Request-Id of 129 characters", method: "GET", path: "/livez", status: 200,
			respHeader: map[string]string{"Content-Type": jsonType, "X-Request-Id": strings.Repeat("a", 129)}, respBody: `{"status":"ok"}`, wantErr: "X-Request-Id"},
		{name: "routing error without X-Request-Id", method: "GET", path: "/nowhere", status: 404,
			respHeader: map[string]string{"Content-Type": problemType, "X-Request-Id": ""}, respBody: problem(404, "not_found"), wantErr: "X-Request-Id"},
		{name: "401 with its challenge", method: "GET", path: shipmentPath, reqAuth: auth, status: 401,
			respHeader: map[string]string{"Content-Type": problemType, "WWW-Authenticate": `Bearer error="invalid_token"`}, respBody: problem(401, "unauthorized")},
		{name: "401 without WWW-Authenticate", method: "GET", path: shipmentPath, status: 401,
			respHeader: map[string]string{"Content-Type": problemType}, respBody: problem(401, "unauthorized"), wantErr: "WWW-Authenticate"},
		{name: "408 to a slow body", method: "POST", path: "/v1/addresses", reqAuth: auth, reqType: jsonType, status: 408,
			respHeader: map[string]string{"Content-Type": problemType}, respBody: problem(408, "request_timeout")},
		{name: "408 to a route without a body", method: "GET", path: shipmentPath, reqAuth: auth, status: 408,
			respHeader: map[string]string{"Content-Type": problemType}, respBody: problem(408, "request_timeout"), wantErr: "not documented"},
		{name: "HEAD as its GET", method: "HEAD", path: shipmentPath, reqAuth: auth, status: 200,
			respHeader: map[string]string{"Content-Type": jsonType, "ETag": `"abc"`}},
		{name: "HEAD with the body a recorder keeps", method: "HEAD", path: shipmentPath, reqAuth: auth, status: 200,
			respHeader: map[string]string{"Content-Type": jsonType, "ETag": `"abc"`}, respBody: string(shipment)},
		{name: "HEAD without the GET's ETag", method: "HEAD", path: shipmentPath, reqAuth: auth, status: 200,
			respHeader: map[string]string{"Content-Type": jsonType}, wantErr: "ETag"},
		{name: "HEAD with another media type", method: "HEAD", path: shipmentPath, reqAuth: auth, status: 200,
			respHeader: map[string]string{"Content-Type": "text/html", "ETag": `"abc"`}, wantErr: "text/html"},
		{name: "HEAD status the GET lacks", method: "HEAD", path: shipmentPath, reqAuth: auth, status: 201,
			respHeader: map[string]string{"Content-Type": jsonType, "ETag": `"abc"`}, wantErr: "not documented"},
		{name: "HEAD on an unknown path", method: "HEAD", path: "/nowhere", status: 404,
			respHeader: map[string]string{"Content-Type": problemType}},
		{name: "delete 204", method: "DELETE", path: shipmentPath, reqAuth: auth, status: 204},
		{name: "delete 204 with a body", method: "DELETE", path: shipmentPath, reqAuth: auth, status: 204,
			respHeader: map[string]string{"Content-Type": jsonType}, respBody: `{}`, wantErr: "describes none"},
		{name: "address created", method: "POST", path: "/v1/addresses", reqAuth: auth, reqType: jsonType,
			reqBody: `{"street1":"1 Main St","city":"Springfield","zip":"12345"}`, status: 201,
			respHeader: map[string]string{"Content-Type": jsonType, "ETag": `"abc"`, "Location": "/v1/addresses/" + id.String()}, respBody: string(address)},
		{name: "address created without Location", method: "POST", path: "/v1/addresses", reqAuth: auth, reqType: jsonType,
			reqBody: `{"street1":"1 Main St","city":"Springfield","zip":"12345"}`, status: 201,
			respHeader: map[string]string{"Content-Type": jsonType, "ETag": `"abc"`}, respBody: string(address), wantErr: "Location"},
		{name: "server accepted a read-only field", method: "POST", path: "/v1/addresses", reqAuth: auth, reqType: jsonType,
			reqBody: `{"id":"` + id.String() + `","street1":"1 Main St","city":"Springfield","zip":"12345"}`, status: 201,
			respHeader: map[string]string{"Content-Type": jsonType, "ETag": `"abc"`, "Location": "/v1/addresses/" + id.String()}, respBody: string(address), wantErr: "request"},
		{name: "server accepted a request without a key", method: "POST", path: "/v1/addresses", reqType: jsonType,
			reqBody: `{"street1":"1 Main St","city":"Springfield","zip":"12345"}`, status: 201,
			respHeader: map[string]string{"Content-Type": jsonType, "ETag": `"abc"`, "Location": "/v1/addresses/" + id.String()}, respBody: string(address), wantErr: "request"},
		{name: "rejected request is not checked", method: "POST", path: "/v1/addresses", reqAuth: auth, reqType: jsonType,
			reqBody: `{"id":"x"}`, status: 422,
			respHeader: map[string]string{"Content-Type": problemType},
			respBody:   `{"type":"/problems/validation_failed","title":"Validation failed","status":422,"code":"validation_failed","request_id":"r","errors":[{"field":"id","message":"is read-only"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.reqBody))
			if tt.reqAuth != "" {
				req.Header.Set(echo.HeaderAuthorization, tt.reqAuth)
			}
			if tt.reqType != "" {
				req.Header.Set(echo.HeaderContentType, tt.reqType)
			}
			_, _ = io.ReadAll(req.Body) // as the handler would have
			rec := httptest.NewRecorder()
			rec.Header().Set("X-Request-Id", "r1") // as every answer has; "" in respHeader removes it
			for k, v := range tt.respHeader {
				if v == "" {
					rec.Header().Del(k)
					continue
				}
				rec.Header().Set(k, v)
			}
			rec.WriteHeader(tt.status)
			rec.WriteString(tt.respBody)

			err := specError(req, []byte(tt.reqBody), rec)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("got no error, want one mentioning %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tt.wantErr)):
				t.Errorf("got %v, want an error mentioning %q", err, tt.wantErr)
			}
			if err != nil {
				t.Log(err) // how a failure reads
			}
			if rec.Body.String() != tt.respBody {
				t.Error("specError consumed rec.Body")
			}
		})
	}
}

// isWebPage reports whether a route is one of package web's pages.
func isWebPage(path string) bool {
	return strings.HasPrefix(path, "/console") || strings.HasPrefix(path, "/docs")
}

// echoParam is a path parameter as Echo writes it (:id); OpenAPI writes {id}.
var echoParam = regexp.MustCompile(`:(\w+)`)

// TestSpecRoutesMatchRouter checks that the document describes exactly the
// routes the server has: no undocumented route, no documented one missing.
func TestSpecRoutesMatchRouter(t *testing.T) {
	s, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range s.model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{}
	e := New(Options{Log: logrus.New(), RequestTimeout: time.Second, BodyLimit: 1024, Draining: func() bool { return false }})
	for _, r := range e.Routes() {
		// The console and the API reference are web pages, not the API.
		if r.Method == echo.RouteNotFound || isWebPage(r.Path) {
			continue
		}
		served[r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	// HEAD goes with every GET and is left implied by the document.
	for route := range served {
		if rest, ok := strings.CutPrefix(route, "GET "); ok && !served["HEAD "+rest] {
			t.Errorf("%s is served without HEAD", route)
		}
	}
	for route := range served {
		if rest, ok := strings.CutPrefix(route, "HEAD "); ok {
			if !served["GET "+rest] {
				t.Errorf("%s is served without its GET", route)
			}
			delete(served, route)
		}
	}
	for route := range served {
		if !documented[route] {
			t.Errorf("%s is served but not in openapi.yaml", route)
		}
	}
	for route := range documented {
		if !served[route] {
			t.Errorf("%s is in openapi.yaml but not served", route)
		}
	}
}
