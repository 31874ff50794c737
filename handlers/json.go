package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/jsonenc"
)

// jsonSerializer writes c.JSON's answers with package jsonenc, which
// writes the bytes encoding/json would, in less CPU time (docs/benchmarks.md,
// "JSON encoding"). An indented answer (?pretty) is rare and left to Echo's
// own serializer, as is reading request bodies.
type jsonSerializer struct{ echo.DefaultJSONSerializer }

// Serialize writes v as JSON and a newline, indented by indent if any.
func (s jsonSerializer) Serialize(c echo.Context, v any, indent string) error {
	if indent != "" {
		return s.DefaultJSONSerializer.Serialize(c, v, indent)
	}
	return jsonenc.Encode(c.Response(), v)
}
