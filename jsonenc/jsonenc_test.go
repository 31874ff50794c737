package jsonenc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/waybill/waybill/models"
)

// same fails unless Marshal and Encode write what encoding/json writes
// for v, byte for byte, or fail where it fails with its error.
func same(t *testing.T, name string, v any) {
	t.Helper()
	want, wantErr := json.Marshal(v)
	got, err := Marshal(v)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) || !bytes.Equal(got, want) {
		t.Errorf("%s: Marshal =\n%s, %v\nencoding/json:\n%s, %v", name, got, err, want, wantErr)
	}
	var wantBuf, gotBuf bytes.Buffer
	wantErr = json.NewEncoder(&wantBuf).Encode(v)
	err = Encode(&gotBuf, v)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) || !bytes.Equal(gotBuf.Bytes(), wantBuf.Bytes()) {
		t.Errorf("%s: Encode =\n%s, %v\nencoding/json:\n%s, %v", name, gotBuf.Bytes(), err, wantBuf.Bytes(), wantErr)
	}
}

// awkward are strings encoding/json escapes or replaces.
var awkward = []string{
	"",
	`<script>alert("x & y")</script>`,
	"Zürich – 東京 – 🚚",
	"line\u2028separator\u2029paragraph",
	"bad \xff\xfe utf-8 \xe2\x80",
	"truncated \xe2\x80\xa8\xe2",
	"controls \x00\x01\b\f\n\r\t\x1f\x7f",
	`quote " backslash \ slash /`,
}

// awkwardJSON are jsonb documents as a client could have stored them,
// valid or not: encoding/json compacts the valid ones and refuses the
// others.
var awkwardJSON = []string{
	`{"a": 1, "b": [1, 2, {"c": null}], "d": "<&>"}`,
	" \t\r\n[ ] ",
	`{}`,
	`"\u2028 \ud83d\ude9a \"x\" \\ \/ \b\f\n\r\t"`,
	"\"raw \u2028 and \xff bytes\"",
	`-0.5e+10`, `0`, `1E-7`, `true`, `false`, `null`,
	`{"a":1,}`, `[1,]`, `01`, `1.`, `.5`, `-`, `1e`, `"\x"`, `"\u12"`, `{"a" 1}`, `[1 2]`, `nul`, `truex`,
	"\"ctl \x01\"", `{"a":1}{}`, `{`, `"`, `[[[[]]]]`, `{"a":{"b":{"c":[true,false,null]}}}`,
}

func TestShipmentsAsEncodingJSON(t *testing.T) {
	for n := range 5 {
		sh := fullShipment(n)
		same(t, fmt.Sprintf("full %d", n), sh)
		same(t, fmt.Sprintf("full %d by pointer", n), &sh)
	}

	bare := fullShipment(7)
	bare.FromAddress, bare.ToAddress, bare.ReturnAddress, bare.BuyerAddress, bare.Parcel, bare.CustomsInfo = nil, nil, nil, nil, nil, nil
	bare.ReturnAddressID, bare.BuyerAddressID, bare.ParcelID, bare.CustomsInfoID = nil, nil, nil, nil
	bare.Rates, bare.Metadata, bare.TrackingDetails = nil, models.JSON{}, nil
	same(t, "nested objects absent", bare)
	same(t, "zero shipment", models.Shipment{})
	same(t, "nil shipment pointer", (*models.Shipment)(nil))

	for i, s := range awkward {
		sh := fullShipment(i)
		sh.Reference, sh.Status, sh.FromAddress.Company, sh.Parcel.MassUnit = &s, s, &s, s
		same(t, fmt.Sprintf("string %q", s), sh)
	}
	for i, doc := range awkwardJSON {
		sh := fullShipment(i)
		sh.Metadata, sh.CustomsInfo.CustomsItems = models.JSON(doc), models.JSON(doc)
		same(t, fmt.Sprintf("jsonb %q", doc), sh)
	}
	for _, m := range []models.Money{0, 1, -1, 99, -100, 123456789012, math.MaxInt64, math.MinInt64, math.MinInt64 + 1} {
		sh := fullShipment(1)
		sh.BaseCost, sh.TotalCost = &m, &m
		same(t, fmt.Sprintf("money %d", m), sh)
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 0.1, 1e-6, 1e-7, 123456789e-15, 1e20, 1e21, -1e21, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.NaN()} {
		sh := fullShipment(1)
		sh.Weight, sh.Parcel.Weight, sh.Parcel.Length = &f, f, &f
		same(t, fmt.Sprintf("float %g", f), sh)
	}
	for _, at := range []time.Time{{}, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("x", -3600))} {
		sh := fullShipment(1)
		sh.CreatedAt, sh.DeliveryDate = models.Time{Time: at}, &models.Time{Time: at}
		same(t, fmt.Sprintf("time %v", at), sh)
	}
}

func TestPagesAsEncodingJSON(t *testing.T) {
	same(t, "page of 20", listPage())
	same(t, "empty page", map[string]any{"shipments": []models.Shipment{}, "has_more": false})
	same(t, "nil items", map[string]any{"shipments": []models.Shipment(nil), "has_more": false})
	same(t, "keys to escape", map[string]any{"<b>": 1, "a&b": nil, "\u2028": []any{}, "\xff": map[string]any(nil), "": "x"})
	same(t, "addresses", map[string]any{"addresses": []models.Address{*fullShipment(1).FromAddress, {}}, "has_more": true})
	same(t, "events", []models.ShipmentEvent{{Message: &awkward[1], TrackingLocation: models.JSON(awkwardJSON[0])}, {}})
	same(t, "metrics", models.ShipmentMetrics{WasOnTime: new(bool)})
	same(t, "summaries", []models.AnalyticsSummary{{Date: models.Date{Time: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)}}})
	one := models.Money(1050)
	same(t, "costs", []models.Costs{{}, {One: &one}, {ByCurrency: map[string]*models.Money{"USD": &one, "EUR": nil}}, {ByCurrency: map[string]*models.Money{}}})
}

type textKey int

func (k textKey) MarshalText() ([]byte, error) { return []byte(fmt.Sprint("k", int(k))), nil }

type ptrMarshaler struct{ N int }

func (p *ptrMarshaler) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf(`{"n": %d}`, p.N)), nil
}

type ptrText struct{ S string }

func (p *ptrText) MarshalText() ([]byte, error) { return []byte("<" + p.S + ">"), nil }

type failing struct{}

func (failing) MarshalJSON() ([]byte, error) { return nil, fmt.Errorf("refused") }

type Inner struct {
	A int `json:"a"`
}

type node struct {
	Name string `json:"name"`
	Next *node  `json:"next,omitempty"`
}

// TestTypesAsEncodingJSON covers what the plan handles itself and what it
// leaves to encoding/json.
func TestTypesAsEncodingJSON(t *testing.T) {
	loop := &node{Name: "a"}
	loop.Next = loop
	deep := &node{Name: "0"}
	for i := range 1500 {
		deep = &node{Name: fmt.Sprint(i + 1), Next: deep}
	}
	values := []any{
		nil, true, 1, -1, uint8(200), int64(math.MinInt64), uint64(math.MaxUint64), float32(1e-7), float32(3.4e38), 1.5, "s",
		[]int(nil), []int{}, [2]string{"<", ">"}, []byte(nil), []byte("hi"), json.Number("12"), json.RawMessage(` [ 1 ] `),
		map[string]int(nil), map[int]string{2: "b", 1: "a"}, map[textKey]int{1: 1}, map[string]any{"x": []any{1, "y", nil}},
		[]ptrMarshaler{{1}}, ptrMarshaler{2}, &ptrMarshaler{3}, []ptrText{{"x"}}, ptrText{"y"}, &ptrText{"z"}, []*ptrText{nil},
		failing{}, []any{failing{}}, math.NaN(), make(chan int), func() {}, complex(1, 2), loop, deep, uuid.Nil, []uuid.UUID{uuid.Nil},
		struct {
			Inner
			B int `json:"b"`
		}{Inner{1}, 2},
		struct {
			A int `json:"a,string"`
		}{1},
		struct {
			A int       `json:"a,omitzero"`
			T time.Time `json:",omitzero"`
		}{},
		struct {
			A, b int
			C    int `json:"-"`
			//lint:ignore SA5008 an odd tag, to see that it is read as encoding/json reads it
			D int `json:"-,"`
			//lint:ignore SA5008 an odd tag, to see that it is read as encoding/json reads it
			E      int     `json:"bad\"name"`
			F      *int    `json:",omitempty"`
			G      string  `json:"g,omitempty"`
			H      []int   `json:"h,omitempty"`
			I      any     `json:"i,omitempty"`
			J      float64 `json:"j,omitempty"`
			K      [0]int  `json:"k,omitempty"`
			L      struct{}
			M      map[string]int `json:"m,omitempty"`
			Ünï    string
			N      bool `json:"n,omitempty"`
			Nested struct{ X *int }
		}{A: 1, b: 2, C: 3, D: 4, E: 5, J: math.Copysign(0, -1)},
	}
	for _, v := range values {
		same(t, fmt.Sprintf("%T", v), v)
	}
}

// TestAppendCompact checks the compactor against encoding/json's scanner:
// the same documents accepted, the same bytes written for them.
func TestAppendCompact(t *testing.T) {
	docs := append(append([]string{}, awkwardJSON...), strings.Repeat("[", 10001)+strings.Repeat("]", 10001), strings.Repeat("[", 10000)+strings.Repeat("]", 10000))
	for _, doc := range docs {
		checkCompact(t, []byte(doc))
	}
}

func checkCompact(t *testing.T, doc []byte) {
	t.Helper()
	got, ok := appendCompact([]byte("prefix"), doc)
	want, err := json.Marshal(json.RawMessage(doc))
	if ok != (err == nil) {
		t.Fatalf("appendCompact(%q) ok = %v, encoding/json's error: %v", doc, ok, err)
	}
	if ok && string(got) != "prefix"+string(want) {
		t.Errorf("appendCompact(%q) = %q, want %q", doc, got, "prefix"+string(want))
	}
	if !ok && string(got) != "prefix" {
		t.Errorf("appendCompact(%q) failed but appended %q", doc, got)
	}
}

// FuzzShipment builds a shipment from fuzzed text and numbers and checks
// that it is encoded as encoding/json encodes it.
func FuzzShipment(f *testing.F) {
	for i, s := range awkward {
		f.Add(s, awkwardJSON[i%len(awkwardJSON)], int64(i)*12345, float64(i)*1.5)
	}
	f.Add("x", `{"a": [1, 2.5e-3, "<\u2028>"]}`, int64(math.MinInt64), math.MaxFloat64)
	f.Add("", `[`, int64(math.MaxInt64), 1e-7)
	f.Fuzz(func(t *testing.T, s, doc string, cents int64, weight float64) {
		checkCompact(t, []byte(doc))
		sh := fullShipment(int(uint64(cents) % 100))
		m := models.Money(cents)
		sh.Reference, sh.Status, sh.TotalCost, sh.Weight = &s, s, &m, &weight
		sh.FromAddress.Company, sh.FromAddress.Street1, sh.Parcel.Weight = &s, s+s, weight
		sh.Metadata, sh.ToAddress.Verifications = models.JSON(doc), models.JSON(doc)
		if cents%2 == 0 {
			sh.CustomsInfo, sh.Rates = nil, nil
		}
		same(t, "shipment", sh)
		same(t, "page", map[string]any{"shipments": []models.Shipment{sh, fullShipment(3)}, "has_more": cents > 0, s: weight})
	})
}
