package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// WebhookDelivery is one signed carrier webhook as it was received, with
// what Waybill did with it. The payload is kept so that an operator can
// replay it.
type WebhookDelivery struct {
	ID          uuid.UUID `gorm:"type:uuid;primaryKey;default:gen_random_uuid()" json:"id"`
	ReceivedAt  Time      `gorm:"->;type:timestamptz;not null;default:now()" json:"received_at"`
	Provider    string    `gorm:"type:varchar(20);not null;default:'easypost'" json:"provider"`
	EventID     string    `gorm:"type:varchar(100);not null" json:"event_id"`
	Description string    `gorm:"type:varchar(100);not null" json:"description"`
	Outcome     string    `gorm:"type:varchar(30);not null;default:'received'" json:"outcome"`
	Detail      string    `gorm:"type:text;not null;default:''" json:"detail"`
	EventsAdded int       `gorm:"type:integer;not null;default:0" json:"events_added"`
	Payload     JSON      `gorm:"type:jsonb;not null" json:"payload"`
	ReplayedAt  *Time     `gorm:"type:timestamptz" json:"replayed_at"`
	ReplayCount int       `gorm:"type:integer;not null;default:0" json:"replay_count"`
}

// Outcomes of a webhook delivery. Every one but "received" (the stored
// row before it is applied) is answered 200: the carrier must not retry
// an event Waybill cannot use.
const (
	WebhookReceived         = "received"
	WebhookApplied          = "applied"           // it added tracking events
	WebhookNoChange         = "no_change"         // every tracking event was already recorded
	WebhookUnknownEvent     = "unknown_event"     // not an event type Waybill handles
	WebhookUnknownTracker   = "unknown_tracker"   // no shipment has the tracking code
	WebhookAmbiguousTracker = "ambiguous_tracker" // several shipments have it
)

// ProviderEasyPost names EasyPost's webhooks.
const ProviderEasyPost = "easypost"

// EasyPostEvent is the part of an EasyPost Event that Waybill reads; any
// other field is ignored (EasyPost adds fields without notice).
type EasyPostEvent struct {
	ID          string          `json:"id"`
	Object      string          `json:"object"`
	Description string          `json:"description"`
	Result      json.RawMessage `json:"result"`
}

// EasyPostTracker is the part of an EasyPost Tracker (the result of a
// tracker.updated event) that Waybill reads.
type EasyPostTracker struct {
	ID              string                   `json:"id"`
	Object          string                   `json:"object"`
	TrackingCode    string                   `json:"tracking_code"`
	Carrier         string                   `json:"carrier"`
	Status          string                   `json:"status"`
	EstDeliveryDate *string                  `json:"est_delivery_date"`
	TrackingDetails []EasyPostTrackingDetail `json:"tracking_details"`
}

// EasyPostTrackingDetail is one tracking event of an EasyPost Tracker.
type EasyPostTrackingDetail struct {
	Datetime         string          `json:"datetime"`
	Status           string          `json:"status"`
	StatusDetail     *string         `json:"status_detail"`
	Message          *string         `json:"message"`
	Description      *string         `json:"description"`
	CarrierCode      *string         `json:"carrier_code"`
	TrackingLocation json.RawMessage `json:"tracking_location"`
}

// EventTrackerUpdated is the one EasyPost event type Waybill applies.
const EventTrackerUpdated = "tracker.updated"

// ParseEasyPostEvent reads and checks a webhook payload before anything is
// written: ErrInvalidJSON for a body that is not one JSON object, a
// *ValidationError naming the fields for an event without an id or a
// description, or a tracker.updated whose tracker or tracking details
// cannot be recorded (a datetime that is not RFC 3339, an unknown status,
// a value too long for its column).
func ParseEasyPostEvent(payload []byte) (EasyPostEvent, error) {
	var ev EasyPostEvent
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 || trimmed[0] != '{' || !utf8.Valid(trimmed) || !json.Valid(trimmed) {
		return ev, ErrInvalidJSON
	}
	var v ValidationError
	if err := json.Unmarshal(trimmed, &ev); err != nil {
		v.Add("body", "is not an EasyPost Event: %s", jsonTypeProblem(err))
		return ev, v.Err()
	}
	switch {
	case ev.ID == "":
		v.Add("id", "is required")
	case len([]rune(ev.ID)) > 100:
		v.Add("id", "must be at most 100 characters")
	}
	switch {
	case ev.Description == "":
		v.Add("description", "is required")
	case len([]rune(ev.Description)) > 100:
		v.Add("description", "must be at most 100 characters")
	}
	if ev.Description == EventTrackerUpdated {
		if _, err := parseTracker(ev.Result, &v); err != nil {
			return ev, err
		}
	}
	return ev, v.Err()
}

// ErrInvalidJSON is a webhook body that is not a JSON object in UTF-8.
var ErrInvalidJSON = errors.New("the body is not a JSON object in UTF-8")

// jsonTypeProblem says which field of a payload had the wrong JSON type,
// without echoing the payload.
func jsonTypeProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s must be a JSON %s", cmpOr(te.Field, "the body"), jsonKind(te.Type.Kind().String()))
	}
	return "wrong JSON types"
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string", "ptr":
		return "string"
	case "slice":
		return "array"
	case "struct", "map":
		return "object"
	}
	return goKind
}

// trackedEvent is a tracking detail made ready to record.
type trackedEvent struct {
	event ShipmentEvent
	key   string
}

// parsedTracker is a tracker.updated result made ready to apply.
type parsedTracker struct {
	EasyPostTracker
	estDelivery *time.Time
	events      []trackedEvent // oldest first
}

// parseTracker reads a tracker.updated result, adding each problem to v
// (whose Err it returns).
func parseTracker(raw json.RawMessage, v *ValidationError) (parsedTracker, error) {
	var t parsedTracker
	if len(raw) == 0 || string(raw) == "null" {
		v.Add("result", "is required for %s", EventTrackerUpdated)
		return t, v.Err()
	}
	if err := json.Unmarshal(raw, &t.EasyPostTracker); err != nil {
		v.Add("result", "is not an EasyPost Tracker: %s", jsonTypeProblem(err))
		return t, v.Err()
	}
	if len([]rune(t.TrackingCode)) > 100 {
		v.Add("result.tracking_code", "must be at most 100 characters")
	}
	if t.EstDeliveryDate != nil && *t.EstDeliveryDate != "" {
		at, err := parseCarrierTime(*t.EstDeliveryDate)
		if err != nil {
			v.Add("result.est_delivery_date", "must be an RFC 3339 date-time")
		}
		t.estDelivery = &at
	}
	for i, d := range t.TrackingDetails {
		path := fmt.Sprintf("result.tracking_details[%d]", i)
		at, err := parseCarrierTime(d.Datetime)
		if err != nil {
			v.Add(path+".datetime", "must be an RFC 3339 date-time")
			continue
		}
		ev := ShipmentEvent{
			Status:        d.Status,
			Message:       nonEmpty(d.Message),
			Description:   nonEmpty(d.Description),
			CarrierStatus: nonEmpty(d.CarrierCode),
			EventDatetime: Time{at},
		}
		if ev.CarrierStatus == nil {
			ev.CarrierStatus = nonEmpty(d.StatusDetail)
		}
		if loc := bytes.TrimSpace(d.TrackingLocation); len(loc) > 0 && string(loc) != "null" {
			ev.TrackingLocation = JSON(loc)
		}
		if err := ev.Validate(); err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) {
				for _, fe := range ve.Errors {
					v.Add(path+"."+detailField(fe.Field), "%s", fe.Message)
				}
			}
			continue
		}
		t.events = append(t.events, trackedEvent{event: ev, key: carrierEventKey(ev)})
	}
	slices.SortStableFunc(t.events, func(a, b trackedEvent) int {
		return a.event.EventDatetime.Compare(b.event.EventDatetime.Time)
	})
	return t, v.Err()
}

// detailField names a ShipmentEvent field as the tracking detail calls it.
func detailField(f string) string {
	if f == "carrier_status" {
		return "carrier_code"
	}
	return f
}

func nonEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

// parseCarrierTime reads a carrier's date-time: RFC 3339, or without an
// offset, which EasyPost means as UTC. PostgreSQL keeps microseconds.
func parseCarrierTime(s string) (time.Time, error) {
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		var err2 error
		if at, err2 = time.Parse("2006-01-02T15:04:05.999999999", s); err2 != nil {
			return time.Time{}, err
		}
	}
	return at.UTC().Truncate(time.Microsecond), nil
}

// carrierEventKey is the carrier's identity of a tracking event: its
// datetime, status and message. The same event in two deliveries has the
// same key.
func carrierEventKey(ev ShipmentEvent) string {
	msg := ""
	if ev.Message != nil {
		msg = *ev.Message
	}
	sum := sha256.Sum256([]byte(ev.EventDatetime.UTC().Format(time.RFC3339Nano) + "\x00" + ev.Status + "\x00" + msg))
	return hex.EncodeToString(sum[:])
}

var (
	insertWebhookStatement = statement{name: "insert webhook delivery",
		sql: `INSERT INTO webhook_deliveries (provider, event_id, description, payload) VALUES ($1, $2, $3, $4)
ON CONFLICT (provider, event_id) DO NOTHING RETURNING id`}
	insertCarrierEventStatement = statement{name: "insert carrier event",
		sql: `INSERT INTO shipment_events (shipment_id, status, message, description, carrier_status, tracking_location,
    event_datetime, carrier_event_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (shipment_id, carrier_event_key) WHERE carrier_event_key IS NOT NULL DO NOTHING
RETURNING id`}
)

// ReceiveWebhook stores a signed EasyPost delivery and applies it, in one
// transaction. Its event id must be new: a delivery of an event already
// stored is a *ConflictError and writes nothing (an operator replays a
// stored one with ReplayWebhook). The payload must have passed
// ParseEasyPostEvent.
func (s *Store) ReceiveWebhook(ctx context.Context, payload []byte) (WebhookDelivery, error) {
	ev, err := ParseEasyPostEvent(payload)
	if err != nil {
		return WebhookDelivery{}, err
	}
	var d WebhookDelivery
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		id, err := queryRow[uuid.UUID](ctx, tx.Statement.ConnPool, insertWebhookStatement,
			ProviderEasyPost, ev.ID, ev.Description, string(payload))
		if errors.Is(err, sql.ErrNoRows) {
			return &ConflictError{Detail: fmt.Sprintf("event %s was already received; nothing was changed", ev.ID)}
		}
		if err != nil {
			return fmt.Errorf("webhook %s: %w", ev.ID, classify(err))
		}
		return s.applyWebhook(ctx, tx, id, ev, false, &d)
	})
	return d, err
}

// ReplayWebhook applies the stored delivery ref (its id, or its event id)
// again, as if it had just arrived, and records the new outcome. Tracking
// events already recorded stay as they are, so a replay changes only what
// the first application could not do (a shipment created since, say). It
// returns ErrNotFound if there is no such delivery.
func (s *Store) ReplayWebhook(ctx context.Context, ref string) (WebhookDelivery, error) {
	var d WebhookDelivery
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var err error
		if d, err = deliveryByRef(tx.Clauses(clause.Locking{Strength: "UPDATE"}), ref); err != nil {
			return err
		}
		ev, err := ParseEasyPostEvent(d.Payload)
		if err != nil {
			return fmt.Errorf("webhook %s: stored payload: %w", d.ID, err)
		}
		return s.applyWebhook(ctx, tx, d.ID, ev, true, &d)
	})
	return d, err
}

// WebhookDelivery returns the stored delivery ref (its id or its event
// id), or ErrNotFound.
func (s *Store) WebhookDelivery(ctx context.Context, ref string) (WebhookDelivery, error) {
	return deliveryByRef(s.conn(ctx), ref)
}

func deliveryByRef(db *gorm.DB, ref string) (WebhookDelivery, error) {
	var d WebhookDelivery
	var q *gorm.DB
	if id, err := uuid.Parse(ref); err == nil && len(ref) == 36 {
		q = db.Where("id = ?", id)
	} else {
		q = db.Where("provider = ? AND event_id = ?", ProviderEasyPost, ref)
	}
	if err := q.Take(&d).Error; err != nil {
		return d, fmt.Errorf("webhook delivery %q: %w", ref, classify(err))
	}
	return d, nil
}

// WebhookDeliveries returns up to limit stored deliveries, newest first,
// received before before (all when it is zero), and with that outcome
// when outcome is not "".
func (s *Store) WebhookDeliveries(ctx context.Context, limit int, before time.Time, outcome string) ([]WebhookDelivery, error) {
	q := s.conn(ctx).Omit("payload")
	if !before.IsZero() {
		q = q.Where("received_at < ?", before)
	}
	if outcome != "" {
		q = q.Where("outcome = ?", outcome)
	}
	ds := []WebhookDelivery{}
	if err := q.Order("received_at DESC, id DESC").Limit(limit).Find(&ds).Error; err != nil {
		return nil, classify(err)
	}
	return ds, nil
}

// applyWebhook applies ev, delivery id, in tx and stores the outcome into
// the delivery row (and d, which it reloads).
func (s *Store) applyWebhook(ctx context.Context, tx *gorm.DB, id uuid.UUID, ev EasyPostEvent, replay bool, d *WebhookDelivery) error {
	outcome, detail, added, err := applyEvent(ctx, tx, ev)
	if err != nil {
		return err
	}
	verb := "receive"
	if replay {
		verb = "replay"
	}
	if err := recordActivity(ctx, tx.Statement.ConnPool, AuditEvent{Action: "webhook_delivery." + verb,
		ResourceType: "webhook_delivery", ResourceID: id.String(), Status: webhookStatus(replay),
		Metadata: map[string]any{"event_id": ev.ID, "description": ev.Description, "outcome": outcome, "events_added": added}}); err != nil {
		return err
	}
	changes := map[string]any{"outcome": outcome, "detail": detail, "events_added": added}
	if replay {
		changes["replayed_at"] = gorm.Expr("now()")
		changes["replay_count"] = gorm.Expr("replay_count + 1")
		// A replay adds to what the delivery added before.
		changes["events_added"] = gorm.Expr("events_added + ?", added)
	}
	if err := tx.Model(&WebhookDelivery{}).Where("id = ?", id).Updates(changes).Error; err != nil {
		return fmt.Errorf("webhook %s: %w", ev.ID, classify(err))
	}
	if err := tx.Take(d, "id = ?", id).Error; err != nil {
		return fmt.Errorf("webhook %s: %w", ev.ID, classify(err))
	}
	return nil
}

// webhookStatus is the HTTP status a delivery's activity records: 200 for
// one received, none for a replay (made by the CLI).
func webhookStatus(replay bool) int {
	if replay {
		return 0
	}
	return 200
}

// applyEvent does what ev asks: for tracker.updated, records each
// tracking detail not yet recorded as an event of the shipment with the
// tracker's tracking code (and carrier), moving its status by the
// newest-event rule, and takes the tracker's est_delivery_date when the
// tracker's newest detail is the shipment's newest event. It returns the
// outcome, a sentence for the operator, and how many events it added.
func applyEvent(ctx context.Context, tx *gorm.DB, ev EasyPostEvent) (string, string, int, error) {
	if ev.Description != EventTrackerUpdated {
		return WebhookUnknownEvent, fmt.Sprintf("%q is not an event type Waybill handles; acknowledged and ignored", ev.Description), 0, nil
	}
	var v ValidationError
	t, err := parseTracker(ev.Result, &v)
	if err != nil {
		return "", "", 0, err
	}
	code := strings.TrimSpace(t.TrackingCode)
	if code == "" {
		return WebhookUnknownTracker, "the tracker has no tracking_code", 0, nil
	}
	q := tx.Model(&Shipment{}).Clauses(clause.Locking{Strength: "UPDATE"}).Select("id").Where("tracking_code = ?", code)
	if c := strings.TrimSpace(t.Carrier); c != "" {
		q = q.Where("(carrier IS NULL OR lower(carrier) = lower(?))", c)
	}
	var ids []uuid.UUID
	if err := q.Order("id").Limit(2).Pluck("id", &ids).Error; err != nil {
		return "", "", 0, classify(err)
	}
	switch len(ids) {
	case 0:
		return WebhookUnknownTracker, fmt.Sprintf("no shipment has tracking code %q (carrier %q); replay it once one does", code, t.Carrier), 0, nil
	case 2:
		return WebhookAmbiguousTracker, fmt.Sprintf("several shipments have tracking code %q (carrier %q); nothing was recorded", code, t.Carrier), 0, nil
	}
	shipmentID := ids[0]
	added := 0
	q2 := tx.Statement.ConnPool
	for _, te := range t.events {
		e := te.event
		e.ShipmentID = shipmentID
		var loc any
		if len(e.TrackingLocation) > 0 {
			loc = string(e.TrackingLocation)
		}
		id, err := queryRow[uuid.UUID](ctx, q2, insertCarrierEventStatement, shipmentID, e.Status, e.Message,
			e.Description, e.CarrierStatus, loc, e.EventDatetime.Time, te.key)
		if errors.Is(err, sql.ErrNoRows) {
			continue // recorded before
		}
		if err != nil {
			return "", "", 0, fmt.Errorf("tracking event of shipment %s: %w", shipmentID, classify(err))
		}
		e.ID = id
		if err := moveStatus(tx, &e); err != nil {
			return "", "", 0, err
		}
		added++
	}
	if t.estDelivery != nil && len(t.events) > 0 {
		newest := t.events[len(t.events)-1].event.EventDatetime
		var later int64
		if err := tx.Model(&ShipmentEvent{}).Where("shipment_id = ? AND event_datetime > ?", shipmentID, newest.Time).
			Count(&later).Error; err != nil {
			return "", "", 0, classify(err)
		}
		if later == 0 {
			if err := tx.Model(&Shipment{}).Where("id = ?", shipmentID).
				Update("est_delivery_date", *t.estDelivery).Error; err != nil {
				return "", "", 0, classify(err)
			}
		}
	}
	if added == 0 {
		return WebhookNoChange, fmt.Sprintf("shipment %s: all %d tracking details were already recorded", shipmentID, len(t.events)), 0, nil
	}
	return WebhookApplied, fmt.Sprintf("shipment %s: %d of %d tracking details recorded", shipmentID, added, len(t.events)), added, nil
}

// Tracker is a shipment as its tracking code finds it: its state and its
// tracking events, oldest first.
type Tracker struct {
	TrackingCode    string          `json:"tracking_code"`
	ShipmentID      uuid.UUID       `json:"shipment_id"`
	Carrier         *string         `json:"carrier"`
	Status          string          `json:"status"`
	EstDeliveryDate *Time           `json:"est_delivery_date"`
	DeliveryDate    *Time           `json:"delivery_date"`
	Events          []ShipmentEvent `json:"events"`
}

// TrackerByCode returns the shipment with tracking code code (and carrier,
// compared without case, when carrier is not ""), the newest such shipment
// if there are several, with all its events oldest first. It returns
// ErrNotFound if there is none.
func (s *Store) TrackerByCode(ctx context.Context, code, carrier string) (Tracker, error) {
	t := Tracker{TrackingCode: code, Events: []ShipmentEvent{}}
	err := s.conn(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx.Where("tracking_code = ?", code)
		if carrier != "" {
			q = q.Where("lower(carrier) = lower(?)", carrier)
		}
		var sh Shipment
		if err := q.Select("id", "carrier", "status", "est_delivery_date", "delivery_date").
			Order("created_at DESC, id DESC").Take(&sh).Error; err != nil {
			return fmt.Errorf("tracker %q: %w", code, classify(err))
		}
		t.ShipmentID, t.Carrier, t.Status = sh.ID, sh.Carrier, sh.Status
		t.EstDeliveryDate, t.DeliveryDate = sh.EstDeliveryDate, sh.DeliveryDate
		if err := tx.Where("shipment_id = ?", sh.ID).Order("event_datetime, id").Find(&t.Events).Error; err != nil {
			return classify(err)
		}
		return nil
	}, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	return t, err
}
