package models

// Hot reads (a shipment, a page of shipments, the dashboard) are scanned
// with pgx directly: no database/sql values, no GORM row mapping. A row
// plan, built once per Go type from GORM's schema of it (the gorm tags) or
// from its `db` tags, says where each column lands: a field's offset and a
// typed pointer to it. A statement's columns are bound to the plan once,
// together with pgx's scan plan for each column's type, and then each row
// costs one pgx decode per non-NULL value and nothing else. Associations
// LEFT JOINed under their name ("FromAddress"."id" AS "FromAddress__id",
// as GORM's Joins writes them) land in the nested struct, which is left
// nil when the join found no row.

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"gorm.io/gorm"
)

// slot is where a column lands in a struct: the field's offset, and a
// function that makes the typed pointer pgx scans into.
type slot struct {
	offset  uintptr
	typ     reflect.Type
	pointer func(unsafe.Pointer) any
}

// rowPlan is how a struct type's columns, and those of the associations
// joined under their names, land in it.
type rowPlan struct {
	typ     reflect.Type
	columns map[string]slot
	// joined are the struct's pointer-to-struct associations by name: the
	// pointer's offset and the plan of what it points to.
	joined map[string]joinedPlan
}

type joinedPlan struct {
	offset uintptr
	plan   *rowPlan
}

var rowPlans sync.Map // reflect.Type → *rowPlan

// planOf returns the row plan of t: from its `db` tags if it has any,
// else from GORM's schema of it, with the plans of its pointer-to-struct
// associations (one level: a join's alias names one association).
func planOf(db *gorm.DB, t reflect.Type) (*rowPlan, error) {
	if p, ok := rowPlans.Load(t); ok {
		return p.(*rowPlan), nil
	}
	p, err := newPlan(db, t, true)
	if err != nil {
		return nil, err
	}
	actual, _ := rowPlans.LoadOrStore(t, p)
	return actual.(*rowPlan), nil
}

func newPlan(db *gorm.DB, t reflect.Type, withJoins bool) (*rowPlan, error) {
	p := &rowPlan{typ: t, columns: map[string]slot{}, joined: map[string]joinedPlan{}}
	if tags := tagged(t); len(tags) > 0 {
		for name, index := range tags {
			p.columns[name] = newSlot(t, index)
		}
		return p, nil
	}
	stmt := &gorm.Statement{DB: db}
	if err := stmt.Parse(reflect.New(t).Interface()); err != nil {
		return nil, err
	}
	for _, f := range stmt.Schema.Fields {
		if f.DBName != "" {
			p.columns[f.DBName] = newSlot(t, f.StructField.Index)
		}
	}
	if !withJoins {
		return p, nil
	}
	for name, rel := range stmt.Schema.Relationships.Relations {
		ft := rel.Field.FieldType
		if ft.Kind() != reflect.Pointer || ft.Elem().Kind() != reflect.Struct {
			continue
		}
		nested, err := newPlan(db, ft.Elem(), false)
		if err != nil {
			return nil, err
		}
		p.joined[name] = joinedPlan{offset: offsetOf(t, rel.Field.StructField.Index), plan: nested}
	}
	return p, nil
}

// offsetOf returns the offset in t of the field at index (through
// embedded structs, never through pointers).
func offsetOf(t reflect.Type, index []int) uintptr {
	var off uintptr
	for _, i := range index {
		f := t.Field(i)
		off += f.Offset
		t = f.Type
	}
	return off
}

// newSlot returns the slot of t's field at index.
func newSlot(t reflect.Type, index []int) slot {
	ft := t.FieldByIndex(index).Type
	pointer, ok := pointers[ft]
	if !ok {
		pointer = func(p unsafe.Pointer) any { return reflect.NewAt(ft, p).Interface() }
	}
	return slot{offset: offsetOf(t, index), typ: ft, pointer: pointer}
}

func slotPointer[T any](p unsafe.Pointer) any { return (*T)(p) }

// pointers make the typed pointers for the fields' types the models use,
// without reflection. A uuid.UUID is scanned as the [16]byte it is, which
// pgx fills directly; as a uuid.UUID, pgx would go through its
// sql.Scanner and parse the UUID's text.
var pointers = map[reflect.Type]func(unsafe.Pointer) any{
	reflect.TypeFor[string]():     slotPointer[string],
	reflect.TypeFor[*string]():    slotPointer[*string],
	reflect.TypeFor[bool]():       slotPointer[bool],
	reflect.TypeFor[*bool]():      slotPointer[*bool],
	reflect.TypeFor[int]():        slotPointer[int],
	reflect.TypeFor[*int]():       slotPointer[*int],
	reflect.TypeFor[*int64]():     slotPointer[*int64],
	reflect.TypeFor[float64]():    slotPointer[float64],
	reflect.TypeFor[*float64]():   slotPointer[*float64],
	reflect.TypeFor[Time]():       slotPointer[Time],
	reflect.TypeFor[*Time]():      slotPointer[*Time],
	reflect.TypeFor[*time.Time](): slotPointer[*time.Time],
	reflect.TypeFor[Money]():      slotPointer[Money],
	reflect.TypeFor[*Money]():     slotPointer[*Money],
	reflect.TypeFor[JSON]():       slotPointer[JSON],
	reflect.TypeFor[uuid.UUID]():  slotPointer[[16]byte],
	reflect.TypeFor[*uuid.UUID](): slotPointer[*[16]byte],
}

// binding is a statement's columns bound to a row plan: for each column,
// the join it belongs to (-1: the row's own), its slot and pgx's scan plan
// for its type and format.
type binding struct {
	fields  []pgconn.FieldDescription
	columns []boundColumn
	joins   []boundJoin
}

type boundColumn struct {
	join int
	slot slot
	scan pgtype.ScanPlan
}

// boundJoin is a joined association in a statement: where its pointer
// is, the type it points to, and the column of its primary key, NULL when
// the join found no row.
type boundJoin struct {
	offset uintptr
	typ    reflect.Type
	key    int
}

type bindingKey struct {
	typ reflect.Type
	sql string
}

var bindings sync.Map // bindingKey → *binding

// bind returns the binding of the columns fields, of the statement sql,
// to plan; it is built once per statement and checked on each use (the
// same text may come back in another format, e.g. text through a pooler
// in simple-protocol mode).
func bind(m *pgtype.Map, plan *rowPlan, sql string, fields []pgconn.FieldDescription) (*binding, error) {
	key := bindingKey{plan.typ, sql}
	if b, ok := bindings.Load(key); ok && sameFields(b.(*binding).fields, fields) {
		return b.(*binding), nil
	}
	b := &binding{fields: append([]pgconn.FieldDescription(nil), fields...)}
	joinIndex := map[string]int{}
	for i, f := range fields {
		own, col := plan, f.Name
		join := -1
		if alias, name, ok := strings.Cut(f.Name, "__"); ok {
			jp, found := plan.joined[alias]
			if !found {
				return nil, fmt.Errorf("column %q: %s has no association %s", f.Name, plan.typ, alias)
			}
			j, seen := joinIndex[alias]
			if !seen {
				j = len(b.joins)
				joinIndex[alias] = j
				b.joins = append(b.joins, boundJoin{offset: jp.offset, typ: jp.plan.typ, key: -1})
			}
			own, col, join = jp.plan, name, j
			if name == "id" {
				b.joins[j].key = i
			}
		}
		s, ok := own.columns[col]
		if !ok {
			return nil, fmt.Errorf("column %q: no field of %s", f.Name, own.typ)
		}
		target := reflect.New(s.typ).UnsafePointer()
		b.columns = append(b.columns, boundColumn{join: join, slot: s, scan: m.PlanScan(f.DataTypeOID, f.Format, s.pointer(target))})
	}
	for _, j := range b.joins {
		if j.key < 0 {
			return nil, fmt.Errorf("the join of %s selects no id", j.typ)
		}
	}
	bindings.Store(key, b)
	return b, nil
}

func sameFields(a, b []pgconn.FieldDescription) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].DataTypeOID != b[i].DataTypeOID || a[i].Format != b[i].Format || a[i].Name != b[i].Name {
			return false
		}
	}
	return true
}

// collect scans every row of rows, the result of the statement sql, into
// Ts appended to dest, and returns how many it scanned.
func collect[T any](db *gorm.DB, rows pgx.Rows, sql string, dest *[]T) (int, error) {
	defer rows.Close()
	plan, err := planOf(db, reflect.TypeFor[T]())
	if err != nil {
		return 0, err
	}
	var b *binding
	n := 0
	for rows.Next() {
		if b == nil {
			if b, err = bind(rows.Conn().TypeMap(), plan, sql, rows.FieldDescriptions()); err != nil {
				return n, err
			}
		}
		*dest = append(*dest, *new(T))
		if err := b.scan(rows.RawValues(), unsafe.Pointer(&(*dest)[len(*dest)-1])); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// scan decodes one row's raw values into the struct at row.
func (b *binding) scan(raw [][]byte, row unsafe.Pointer) error {
	var bases [8]unsafe.Pointer
	joined := bases[:0]
	if len(b.joins) > len(bases) {
		joined = make([]unsafe.Pointer, 0, len(b.joins))
	}
	for _, j := range b.joins {
		var p unsafe.Pointer
		if raw[j.key] != nil {
			p = reflect.New(j.typ).UnsafePointer()
		}
		*(*unsafe.Pointer)(unsafe.Add(row, j.offset)) = p
		joined = append(joined, p)
	}
	for i, c := range b.columns {
		base := row
		if c.join >= 0 {
			if base = joined[c.join]; base == nil {
				continue
			}
		}
		if err := c.scan.Scan(raw[i], c.slot.pointer(unsafe.Add(base, c.slot.offset))); err != nil {
			return fmt.Errorf("column %s: %w", b.fields[i].Name, err)
		}
	}
	return nil
}
