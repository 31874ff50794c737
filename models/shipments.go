package models

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

var (
	currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)
	countryCode  = regexp.MustCompile(`^[A-Z]{2}$`)
)

// Modes lists the valid shipment modes.
var Modes = []string{"test", "production"}

// ValidStatus reports whether s is a shipment status.
func ValidStatus(s string) bool { return slices.Contains(Statuses, s) }

// Validate checks an address; problems are recorded under path.
func (a *Address) Validate(path string, v *ValidationError) {
	for _, req := range []struct{ name, val string }{{"street1", a.Street1}, {"city", a.City}, {"zip", a.Zip}} {
		if req.val == "" {
			v.Add(join(path, req.name), "is required")
		}
	}
	if a.Country != "" && !countryCode.MatchString(a.Country) {
		v.Add(join(path, "country"), "must be an ISO 3166-1 alpha-2 code such as US")
	}
	checkColumns(a, path, v)
}

// Validate checks a parcel; problems are recorded under path.
func (p *Parcel) Validate(path string, v *ValidationError) {
	if !(p.Weight > 0) {
		v.Add(join(path, "weight"), "must be greater than 0")
	}
	for _, d := range []struct {
		name string
		val  *float64
	}{{"length", p.Length}, {"width", p.Width}, {"height", p.Height}} {
		if d.val != nil && !(*d.val > 0) {
			v.Add(join(path, d.name), "must be greater than 0")
		}
	}
	checkColumns(p, path, v)
}

// Validate checks a customs declaration; problems are recorded under path.
func (c *CustomsInfo) Validate(path string, v *ValidationError) {
	checkColumns(c, path, v)
}

// Validate checks a shipment and its nested objects: a known status and
// mode, an ISO 4217 currency, money and delivery days not negative, a
// weight above 0, and each address given as an object or an id, not both.
func (sh *Shipment) Validate() error {
	var v ValidationError
	sh.validate(&v)
	return v.Err()
}

func (sh *Shipment) validate(v *ValidationError) {
	if !ValidStatus(sh.Status) {
		v.Add("status", "must be one of %v", Statuses)
	}
	if !slices.Contains(Modes, sh.Mode) {
		v.Add("mode", "must be test or production")
	}
	if !currencyCode.MatchString(sh.Currency) {
		v.Add("currency", "must be an ISO 4217 code such as USD")
	}
	for _, m := range []struct {
		name string
		val  *Money
	}{{"base_cost", sh.BaseCost}, {"total_cost", sh.TotalCost}} {
		if m.val != nil && *m.val < 0 {
			v.Add(m.name, "must not be negative")
		}
	}
	if sh.DeliveryDays != nil && *sh.DeliveryDays < 0 {
		v.Add("delivery_days", "must not be negative")
	}
	if sh.Weight != nil && !(*sh.Weight > 0) {
		v.Add("weight", "must be greater than 0")
	}
	checkColumns(sh, "", v)
	for _, a := range sh.addresses() {
		switch {
		case a.obj != nil && a.id != nil && *a.id != uuid.Nil:
			v.Add(a.role+"_address", "give %s_address or %s_address_id, not both", a.role, a.role)
		case a.obj != nil:
			a.obj.Validate(a.role+"_address", v)
		case a.required && (a.id == nil || *a.id == uuid.Nil):
			v.Add(a.role+"_address", "is required (an object, or %s_address_id)", a.role)
		}
	}
	if sh.Parcel != nil {
		sh.Parcel.Validate("parcel", v)
	}
	if sh.CustomsInfo != nil {
		sh.CustomsInfo.Validate("customs_info", v)
	}
}

// addressRef is one of a shipment's four address roles: the object to
// create, or the id of an existing address.
type addressRef struct {
	role     string
	obj      *Address
	id       *uuid.UUID
	required bool
}

func (sh *Shipment) addresses() []addressRef {
	return []addressRef{
		{"from", sh.FromAddress, &sh.FromAddressID, true},
		{"to", sh.ToAddress, &sh.ToAddressID, true},
		{"return", sh.ReturnAddress, sh.ReturnAddressID, false},
		{"buyer", sh.BuyerAddress, sh.BuyerAddressID, false},
	}
}

// expand loads a shipment's addresses, parcel and customs info with one
// statement per association, for a read that locks the shipment (FOR
// UPDATE cannot apply to the nullable side of an outer join).
func expand(db *gorm.DB) *gorm.DB {
	return db.Preload("FromAddress").Preload("ToAddress").Preload("ReturnAddress").Preload("BuyerAddress").
		Preload("Parcel").Preload("CustomsInfo")
}

// joined reads shipments with their addresses, parcel and customs info in
// one statement: each is LEFT JOINed under its association's name.
func joined(db *gorm.DB) *gorm.DB {
	return db.Joins("FromAddress").Joins("ToAddress").Joins("ReturnAddress").Joins("BuyerAddress").
		Joins("Parcel").Joins("CustomsInfo")
}

// Shipment returns the shipment with its addresses, parcel and customs
// info expanded. It returns ErrNotFound if there is no such shipment.
func (s *Store) Shipment(ctx context.Context, id uuid.UUID) (Shipment, error) {
	rows := make([]Shipment, 0, 1)
	n, err := s.findJoined(ctx, s.shipmentsJoined()+` WHERE "shipments"."id" = $1`, []any{id}, &rows, true)
	switch {
	case err != nil:
		return Shipment{}, fmt.Errorf("shipment %s: %w", id, classify(err))
	case n == 0:
		return Shipment{}, fmt.Errorf("shipment %s: %w", id, ErrNotFound)
	}
	return rows[0], nil
}

// ShipmentFilter selects the shipments of a list.
type ShipmentFilter struct {
	Page
	Statuses     []string
	Carrier      *string
	Service      *string
	TrackingCode *string
	Reference    *string
	Mode         *string
}

// Shipments returns a page of shipments, expanded, and whether there are
// more.
func (s *Store) Shipments(ctx context.Context, f ShipmentFilter) ([]Shipment, bool, error) {
	ks := keysetOf("shipments", f.Page)
	var w whereClause
	if len(f.Statuses) > 0 {
		w.add(condition{"shipments.status IN ?", []any{f.Statuses}})
	}
	for _, eq := range []struct {
		col string
		val *string
	}{{"carrier", f.Carrier}, {"service", f.Service}, {"tracking_code", f.TrackingCode}, {"reference", f.Reference}, {"mode", f.Mode}} {
		if eq.val != nil {
			w.add(condition{"shipments." + eq.col + " = ?", []any{*eq.val}})
		}
	}
	for _, c := range ks.conds {
		w.add(c)
	}
	text := s.shipmentsJoined() + w.String() + " ORDER BY " + ks.order + " LIMIT " + strconv.Itoa(ks.limit())
	rows := make([]Shipment, 0, ks.limit())
	if _, err := s.findJoined(ctx, text, w.args, &rows, false); err != nil {
		return nil, false, fmt.Errorf("shipments: %w", classify(err))
	}
	rows, more, err := finishPage(ctx, s.conn(ctx).Statement.ConnPool, ks, rows)
	if err != nil {
		return nil, false, fmt.Errorf("shipments: %w", err)
	}
	return rows, more, nil
}

// shipmentsJoinedStatement returns the SELECT … FROM of joined, every
// shipment with its addresses, parcel and customs info, as GORM writes it
// (each association's columns named <Association>__<column>); reads add
// their WHERE. The Store builds it once: GORM building it on every
// request was 17 % of a get-one's CPU and 11 % of a list's.
func shipmentsJoinedStatement(db *gorm.DB) string {
	dry := joined(db.Session(&gorm.Session{DryRun: true}))
	return dry.Find(&[]Shipment{}).Statement.SQL.String()
}

// whereClause is a WHERE built from conditions with ? placeholders, each
// numbered in turn ($1, $2, …); a slice argument becomes a parenthesized
// list of placeholders, one per element.
type whereClause struct {
	conds []string
	args  []any
}

func (w *whereClause) add(c condition) {
	var b strings.Builder
	param := func(v any) {
		w.args = append(w.args, v)
		b.WriteString("$" + strconv.Itoa(len(w.args)))
	}
	args := c.args
	for _, part := range strings.SplitAfter(c.sql, "?") {
		text, isParam := strings.CutSuffix(part, "?")
		b.WriteString(text)
		if !isParam {
			continue
		}
		arg := args[0]
		args = args[1:]
		list, ok := arg.([]string)
		if !ok {
			param(arg)
			continue
		}
		b.WriteByte('(')
		for i, v := range list {
			if i > 0 {
				b.WriteByte(',')
			}
			param(v)
		}
		b.WriteByte(')')
	}
	w.conds = append(w.conds, b.String())
}

// String returns " WHERE …", or nothing without conditions.
func (w whereClause) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// CreateShipment creates sh and, in the same transaction, the nested
// addresses, parcel and customs info it carries; addresses given by id
// must exist. It fills in everything the database set and returns the
// shipment expanded, built before COMMIT: once committed, the answer
// cannot fail.
//
// Every statement goes out in one pipeline (pipeTx): the new rows' ids are
// minted here (random UUIDs, as gen_random_uuid() makes them), so the
// shipment's INSERT needs no answer from the others; each INSERT returns
// its row (RETURNING *), the answer's nested objects as stored, and an
// address given by id is read in the same pipeline. Its audit row goes
// with them. Standalone, a create is two round trips: that pipeline behind
// BEGIN, and COMMIT.
func (s *Store) CreateShipment(ctx context.Context, sh *Shipment) (Shipment, error) {
	if err := sh.Validate(); err != nil {
		return Shipment{}, err
	}
	var out Shipment
	err := s.inPipeTx(ctx, func(tx *pipeTx) error {
		var err error
		out, err = s.insertShipment(ctx, tx, sh)
		return err
	})
	if err != nil {
		return Shipment{}, err
	}
	return out, nil
}

// insertShipment is CreateShipment's pipeline in tx.
func (s *Store) insertShipment(ctx context.Context, tx *pipeTx, sh *Shipment) (Shipment, error) {
	b := &pgx.Batch{}
	var v ValidationError
	expanded := map[string]*Address{}
	for _, a := range sh.addresses() {
		switch {
		case a.obj != nil:
			mintID(&a.obj.ID)
			setAddressID(sh, a.role, a.obj.ID)
			if err := queueInsert(b, s.db, a.obj, "address"); err != nil {
				return Shipment{}, err
			}
			expanded[a.role] = a.obj
		case a.id != nil && *a.id != uuid.Nil:
			// The shipment's INSERT, behind this read, fails on the missing
			// reference: nothing is written whatever the answer here.
			b.Queue(addressByID.sql, *a.id).Query(func(rows pgx.Rows) error {
				found := make([]Address, 0, 1)
				if _, err := collect(s.db, rows, addressByID.sql, &found); err != nil {
					return fmt.Errorf("%s_address_id: %w", a.role, err)
				}
				if len(found) == 0 {
					v.Add(a.role+"_address_id", "no such address")
					return nil
				}
				expanded[a.role] = &found[0]
				return nil
			})
		}
	}
	if sh.Parcel != nil {
		mintID(&sh.Parcel.ID)
		sh.ParcelID = &sh.Parcel.ID
		if err := queueInsert(b, s.db, sh.Parcel, "parcel"); err != nil {
			return Shipment{}, err
		}
	}
	if sh.CustomsInfo != nil {
		mintID(&sh.CustomsInfo.ID)
		sh.CustomsInfoID = &sh.CustomsInfo.ID
		if err := queueInsert(b, s.db, sh.CustomsInfo, "customs info"); err != nil {
			return Shipment{}, err
		}
	}
	// The nested objects are queued; GORM must not insert them again.
	row := *sh
	row.FromAddress, row.ToAddress, row.ReturnAddress, row.BuyerAddress, row.Parcel, row.CustomsInfo = nil, nil, nil, nil, nil, nil
	mintID(&row.ID)
	if err := queueInsert(b, s.db, &row, "shipment"); err != nil {
		return Shipment{}, err
	}
	if args, ok, err := activityRow(ctx, rowEvent("shipment", "create", row.ID, 201)); err != nil {
		return Shipment{}, err
	} else if ok {
		b.Queue(insertActivity.sql, args...)
	}
	err := tx.pipeline(ctx, b)
	if err := v.Err(); err != nil {
		// The answer, rather than the shipment's refused reference to it.
		return Shipment{}, err
	}
	if err != nil {
		return Shipment{}, err
	}
	row.FromAddress, row.ToAddress, row.ReturnAddress, row.BuyerAddress = expanded["from"], expanded["to"], expanded["return"], expanded["buyer"]
	row.Parcel, row.CustomsInfo = sh.Parcel, sh.CustomsInfo
	return row, nil
}

// addressByID reads an address ($1).
var addressByID = statement{name: "address by id", sql: `SELECT * FROM addresses WHERE id = $1`}

// mintID gives a new row its id, unless it has one: a random (version 4)
// UUID, as the tables' default gen_random_uuid() makes.
func mintID(id *uuid.UUID) {
	if *id == uuid.Nil {
		*id = uuid.New()
	}
}

func setAddressID(sh *Shipment, role string, id uuid.UUID) {
	switch role {
	case "from":
		sh.FromAddressID = id
	case "to":
		sh.ToAddressID = id
	case "return":
		sh.ReturnAddressID = &id
	case "buyer":
		sh.BuyerAddressID = &id
	}
}

// UpdateShipment locks the shipment, calls apply with it (apply checks
// preconditions such as If-Match, changes the struct and returns the
// columns it changed), validates the result, writes those columns and
// returns the shipment expanded, read in the same transaction.
func (s *Store) UpdateShipment(ctx context.Context, id uuid.UUID, apply func(*Shipment) ([]string, error)) (Shipment, error) {
	var out Shipment
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		ctx := withTx(ctx, tx)
		_, err := update(ctx, s, id, "shipment", expand, apply, func(sh *Shipment) error {
			// The loaded expansions are the stored addresses, not new ones to
			// create: validate the shipment's own fields and references.
			own := *sh
			own.FromAddress, own.ToAddress, own.ReturnAddress, own.BuyerAddress, own.Parcel, own.CustomsInfo = nil, nil, nil, nil, nil, nil
			return own.Validate()
		})
		if err != nil {
			return err
		}
		out, err = s.Shipment(ctx, id)
		return err
	})
	if err != nil {
		return Shipment{}, err
	}
	return out, nil
}

// DeleteShipment deletes the shipment, its events and metrics (ON DELETE
// CASCADE), and its parcel and customs info unless another shipment uses
// them. Addresses are shared and stay.
func (s *Store) DeleteShipment(ctx context.Context, id uuid.UUID) error {
	return s.inTx(ctx, func(tx *gorm.DB) error {
		var sh Shipment
		if err := tx.Clauses(clause.Returning{}).Where("id = ?", id).Delete(&sh).Error; err != nil {
			return classify(err)
		}
		if sh.ID == uuid.Nil {
			return fmt.Errorf("shipment %s: %w", id, ErrNotFound)
		}
		if sh.ParcelID != nil {
			if err := exec(ctx, tx.Statement.ConnPool, deleteOrphanParcel, *sh.ParcelID); err != nil {
				return classify(err)
			}
		}
		if sh.CustomsInfoID != nil {
			if err := exec(ctx, tx.Statement.ConnPool, deleteOrphanCustomsInfo, *sh.CustomsInfoID); err != nil {
				return classify(err)
			}
		}
		return recordRow(ctx, tx.Statement.ConnPool, "shipment", "delete", nil, id, 204)
	})
}

// deleteOrphanParcel and deleteOrphanCustomsInfo delete a deleted
// shipment's parcel or customs info ($1) unless another shipment uses it.
var (
	deleteOrphanParcel = statement{name: "delete orphan parcel",
		sql: `DELETE FROM parcels WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM shipments WHERE parcel_id = $1)`}
	deleteOrphanCustomsInfo = statement{name: "delete orphan customs info",
		sql: `DELETE FROM customs_infos WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM shipments WHERE customs_info_id = $1)`}
)

// EventPage selects a page of a shipment's events: Size of them, after
// the event AfterID names or after the sort key After (a cursor's: it
// stays valid whatever happens to its event).
type EventPage struct {
	Size    int
	AfterID *uuid.UUID
	After   *Key
}

// ListKey is an event's place in its shipment's list: the events are
// listed oldest first by when they happened, not when they were recorded.
func (ev ShipmentEvent) ListKey() Key { return Key{ev.EventDatetime.Time, ev.ID} }

// Events returns a page of a shipment's tracking events, oldest first, and
// whether there are more. It returns ErrNotFound if there is no such
// shipment, and ErrInvalidCursor if p.AfterID is not one of its events.
func (s *Store) Events(ctx context.Context, shipmentID uuid.UUID, p EventPage) ([]ShipmentEvent, bool, error) {
	db := s.conn(ctx)
	var n int64
	if err := db.Model(&Shipment{}).Where("id = ?", shipmentID).Count(&n).Error; err != nil {
		return nil, false, classify(err)
	}
	if n == 0 {
		return nil, false, fmt.Errorf("shipment %s: %w", shipmentID, ErrNotFound)
	}
	q := db.Where("shipment_id = ?", shipmentID)
	after := p.After
	if p.AfterID != nil {
		var at time.Time
		err := db.Model(&ShipmentEvent{}).Select("event_datetime").Where("id = ? AND shipment_id = ?", *p.AfterID, shipmentID).Row().Scan(&at)
		if err != nil {
			return nil, false, fmt.Errorf("after_id %s: %w", p.AfterID, ErrInvalidCursor)
		}
		after = &Key{At: at, ID: *p.AfterID}
	}
	if after != nil {
		q = q.Where("(event_datetime, id) > (?, ?)", after.At, after.ID)
	}
	limit := p.Size
	var evs []ShipmentEvent
	if err := q.Order("event_datetime, id").Limit(limit + 1).Find(&evs).Error; err != nil {
		return nil, false, classify(err)
	}
	more := len(evs) > limit
	if more {
		evs = evs[:limit]
	}
	return evs, more, nil
}

// AddEvent records a tracking event. If it is the shipment's newest event
// (no other has a later event_datetime), the shipment's status becomes the
// event's, and a delivered event sets delivery_date, in the same
// transaction. It returns ErrNotFound if there is no such shipment.
func (s *Store) AddEvent(ctx context.Context, ev *ShipmentEvent) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *gorm.DB) error {
		var sh Shipment
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Select("id").Take(&sh, "id = ?", ev.ShipmentID).Error; err != nil {
			return fmt.Errorf("shipment %s: %w", ev.ShipmentID, classify(err))
		}
		if ev.EventDatetime.IsZero() {
			// Let the database's clock stamp it, and read it back.
			if err := tx.Clauses(clause.Returning{}).Omit("event_datetime").Create(ev).Error; err != nil {
				return classify(err)
			}
		} else if err := insert(ctx, tx, ev, "event"); err != nil {
			return err
		}
		if err := recordActivity(ctx, tx.Statement.ConnPool, AuditEvent{Action: "shipment_event.create", ResourceType: "shipment_event",
			ResourceID: ev.ID.String(), Status: 201, Metadata: map[string]any{"shipment_id": ev.ShipmentID}}); err != nil {
			return err
		}
		return moveStatus(tx, ev)
	})
}

// moveStatus applies the newest-event rule to ev, just inserted in tx with
// its shipment locked: if no other event of the shipment has a later
// event_datetime, the shipment's status becomes ev's, and a delivered
// event sets its delivery_date. Carrier webhooks follow the same rule.
func moveStatus(tx *gorm.DB, ev *ShipmentEvent) error {
	var later int64
	if err := tx.Model(&ShipmentEvent{}).
		Where("shipment_id = ? AND id <> ? AND event_datetime > ?", ev.ShipmentID, ev.ID, ev.EventDatetime).
		Count(&later).Error; err != nil {
		return classify(err)
	}
	if later > 0 {
		return nil
	}
	changes := map[string]any{"status": ev.Status}
	if ev.Status == StatusDelivered {
		changes["delivery_date"] = ev.EventDatetime
	}
	return classify(tx.Model(&Shipment{}).Where("id = ?", ev.ShipmentID).Updates(changes).Error)
}

// Metrics returns a shipment's metrics row, or ErrNotFound.
func (s *Store) Metrics(ctx context.Context, shipmentID uuid.UUID) (ShipmentMetrics, error) {
	var m ShipmentMetrics
	if err := s.conn(ctx).Take(&m, "shipment_id = ?", shipmentID).Error; err != nil {
		return m, fmt.Errorf("metrics of shipment %s: %w", shipmentID, classify(err))
	}
	return m, nil
}

// Validate checks a metrics row: an ISO 4217 currency, counts not
// negative, and its columns' limits.
func (m *ShipmentMetrics) Validate() error {
	var v ValidationError
	if !currencyCode.MatchString(m.Currency) {
		v.Add("currency", "must be an ISO 4217 code such as USD")
	}
	for _, c := range []struct {
		name string
		val  int
	}{{"tracking_updates_count", m.TrackingUpdatesCount}, {"exception_events_count", m.ExceptionEventsCount}, {"delivery_attempts", m.DeliveryAttempts}} {
		if c.val < 0 {
			v.Add(c.name, "must not be negative")
		}
	}
	checkColumns(m, "", &v)
	return v.Err()
}

// replacedColumns are the columns of a metrics row that PUT replaces:
// all that the model writes but its identity.
func replacedColumns(db *gorm.DB) ([]string, error) {
	stmt := &gorm.Statement{DB: db}
	if err := stmt.Parse(&ShipmentMetrics{}); err != nil {
		return nil, err
	}
	var cols []string
	for _, f := range stmt.Schema.Fields {
		if f.DBName != "" && f.Updatable && !f.PrimaryKey && f.DBName != "shipment_id" {
			cols = append(cols, f.DBName)
		}
	}
	return cols, nil
}

// Validate checks an event: a known status and its columns' limits.
func (ev *ShipmentEvent) Validate() error {
	var v ValidationError
	if !ValidStatus(ev.Status) {
		v.Add("status", "must be one of %v", Statuses)
	}
	checkColumns(ev, "", &v)
	return v.Err()
}

// PutMetrics creates or replaces the metrics row of m.ShipmentID and
// reports whether it created it. It returns ErrNotFound if there is no
// such shipment.
func (s *Store) PutMetrics(ctx context.Context, m *ShipmentMetrics) (bool, error) {
	if err := m.Validate(); err != nil {
		return false, err
	}
	cols, err := replacedColumns(s.db)
	if err != nil {
		return false, err
	}
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Shipment{}).Where("id = ?", m.ShipmentID).Count(&n).Error; err != nil {
			return classify(err)
		}
		if n == 0 {
			return fmt.Errorf("shipment %s: %w", m.ShipmentID, ErrNotFound)
		}
		err := tx.Clauses(
			clause.OnConflict{Columns: []clause.Column{{Name: "shipment_id"}}, DoUpdates: clause.AssignmentColumns(cols)},
			clause.Returning{},
		).Create(m).Error
		if err != nil {
			return fmt.Errorf("put metrics: %w", classify(err))
		}
		status := 200
		if m.CreatedAt.Equal(m.UpdatedAt.Time) {
			status = 201
		}
		return recordActivity(ctx, tx.Statement.ConnPool, AuditEvent{Action: "shipment_metrics.put", ResourceType: "shipment_metrics",
			ResourceID: m.ID.String(), Status: status, Metadata: map[string]any{"shipment_id": m.ShipmentID}})
	})
	if err != nil {
		return false, err
	}
	return m.CreatedAt.Equal(m.UpdatedAt.Time), nil
}
