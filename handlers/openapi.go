package handlers

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.yaml.in/yaml/v3"
)

// openAPIDoc is the OpenAPI 3.1 document of the whole API. The tests check
// that it is a valid document and that real responses match it.
//
//go:embed openapi.yaml
var openAPIDoc []byte

// openAPIDocJSON is openAPIDoc converted to JSON once, at start-up.
var openAPIDocJSON = mustYAMLToJSON(openAPIDoc)

// openAPIYAML serves GET /openapi.yaml: the document as written.
func openAPIYAML(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", openAPIDoc)
}

// openAPIJSON serves GET /openapi.json: the same document as JSON.
func openAPIJSON(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, openAPIDocJSON)
}

// mustYAMLToJSON converts a YAML document to JSON. It panics on invalid
// YAML: the document is embedded, so that is a build defect the tests catch.
func mustYAMLToJSON(doc []byte) []byte {
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		panic(fmt.Sprintf("openapi.yaml: %v", err))
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("openapi.yaml: converting to JSON: %v", err))
	}
	return b
}
