package models

import (
	"context"
	"database/sql"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/waybill/waybill/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(testdb.New(t), PoolOptions{MaxOpenConns: 4, MaxIdleConns: 4, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// typeAliases maps the short type names used in tags to PostgreSQL's
// format_type spelling.
var typeAliases = map[string]string{
	"timestamptz": "timestamp with time zone",
	"bool":        "boolean",
	"int":         "integer",
	"float8":      "double precision",
}

func canonicalType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	if a, ok := typeAliases[t]; ok {
		return a
	}
	if rest, ok := strings.CutPrefix(t, "varchar"); ok {
		return "character varying" + rest
	}
	return t
}

var casts = regexp.MustCompile(`::[a-z ]+(\[\])?`)

// canonicalDefault drops the casts PostgreSQL adds when it prints a
// default ('US'::character varying), so tags can say 'US'.
func canonicalDefault(d string) string { return casts.ReplaceAllString(strings.TrimSpace(d), "") }

type column struct {
	typ, def string
	notNull  bool
}

func columns(t *testing.T, db *sql.DB, table string) map[string]column {
	t.Helper()
	rows, err := db.Query(`
		SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, coalesce(pg_get_expr(d.adbin, d.adrelid), '')
		FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`, table)
	if err != nil {
		t.Fatalf("columns of %s: %v", table, err)
	}
	defer rows.Close()
	cols := map[string]column{}
	for rows.Next() {
		var name string
		var c column
		if err := rows.Scan(&name, &c.typ, &c.notNull, &c.def); err != nil {
			t.Fatal(err)
		}
		cols[name] = c
	}
	return cols
}

// TestSchemaDrift checks every GORM model against the migrated schema:
// each field's column exists with the declared type, nullability and
// default. The predecessor's models and schema silently disagreed.
func TestSchemaDrift(t *testing.T) {
	s := newStore(t)
	cache := &sync.Map{}
	for _, m := range All() {
		sch, err := schema.Parse(m, cache, schema.NamingStrategy{})
		if err != nil {
			t.Fatal(err)
		}
		cols := columns(t, s.DB(), sch.Table)
		if len(cols) == 0 {
			t.Errorf("%s: table %s does not exist", sch.Name, sch.Table)
			continue
		}
		for _, f := range sch.Fields {
			if f.DBName == "" {
				continue // a relation, not a column
			}
			where := sch.Name + "." + f.Name + " (" + sch.Table + "." + f.DBName + ")"
			col, ok := cols[f.DBName]
			if !ok {
				t.Errorf("%s: no such column", where)
				continue
			}
			tagType := f.TagSettings["TYPE"]
			if tagType == "" {
				t.Errorf("%s: the model does not declare the column type", where)
			} else if got, want := col.typ, canonicalType(tagType); got != want {
				t.Errorf("%s: type %q in the database, model declares %q", where, got, want)
			}
			if want := f.NotNull || f.PrimaryKey; col.notNull != want {
				t.Errorf("%s: NOT NULL is %v in the database, model declares %v", where, col.notNull, want)
			}
			if got, want := canonicalDefault(col.def), canonicalDefault(f.TagSettings["DEFAULT"]); got != want {
				t.Errorf("%s: default %q in the database, model declares %q", where, got, want)
			}
		}
	}
}

// TestDatabaseOwnsTimestamps checks the GORM timestamp traps against
// GORM itself: inserts and updates never send the Go clock, the database's
// values are read back, and Save never writes a zero created_at.
func TestDatabaseOwnsTimestamps(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	// A Go clock that is obviously wrong: any time GORM takes from it would
	// show up as the year 2000.
	db := s.db.Session(&gorm.Session{
		NowFunc: func() time.Time { return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) },
	}).WithContext(ctx)

	a := Address{Street1: "1 Main St", City: "Springfield", Zip: "12345"}
	if err := db.Create(&a).Error; err != nil {
		t.Fatal(err)
	}
	var dbCreated, dbUpdated time.Time
	if err := s.pool.QueryRow("SELECT created_at, updated_at FROM addresses WHERE id = $1", a.ID).Scan(&dbCreated, &dbUpdated); err != nil {
		t.Fatal(err)
	}
	if a.ID == uuid.Nil || a.Country != "US" {
		t.Errorf("Create did not read back the database's id/default: id %s country %q", a.ID, a.Country)
	}
	if !a.CreatedAt.Equal(dbCreated) || !a.UpdatedAt.Equal(dbUpdated) {
		t.Errorf("Create read back created_at %s updated_at %s; database has %s, %s", a.CreatedAt, a.UpdatedAt, dbCreated, dbUpdated)
	}
	if dbCreated.Year() == 2000 || time.Since(dbCreated) > time.Minute {
		t.Errorf("created_at = %s, want the database's now()", dbCreated)
	}

	time.Sleep(5 * time.Millisecond)
	if err := db.Model(&a).Update("city", "Shelbyville").Error; err != nil {
		t.Fatal(err)
	}
	// Save a copy whose CreatedAt is zero: GORM must not write year 0001.
	b := Address{ID: a.ID, Street1: "2 Main St", City: "Shelbyville", Zip: "12345", Country: "US"}
	if err := db.Save(&b).Error; err != nil {
		t.Fatal(err)
	}
	var created, updated time.Time
	if err := s.pool.QueryRow("SELECT created_at, updated_at FROM addresses WHERE id = $1", a.ID).Scan(&created, &updated); err != nil {
		t.Fatal(err)
	}
	if !created.Equal(dbCreated) {
		t.Errorf("created_at changed to %s by Save/Update, want %s", created, dbCreated)
	}
	if !updated.After(dbUpdated) || updated.Year() == 2000 {
		t.Errorf("updated_at = %s after updates, want the trigger's now() after %s", updated, dbUpdated)
	}
}
