package models

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// UserActivity is one row of the audit trail (user_activities): a write
// that committed, who made it and through which route. The predecessor's
// columns Waybill does not fill (user_id, session_id, user_agent,
// response_time_ms, error_message) are left out; "timestamp" equals
// created_at.
type UserActivity struct {
	ID            uuid.UUID  `gorm:"type:uuid;primaryKey;default:gen_random_uuid()" json:"id"`
	CreatedAt     Time       `gorm:"->;type:timestamptz;not null;default:now()" json:"created_at"`
	APIKeyID      *uuid.UUID `gorm:"column:api_key_id;type:uuid" json:"api_key_id"`
	APIKeyName    *string    `gorm:"column:api_key_name;type:text" json:"api_key_name"`
	Action        string     `gorm:"type:varchar(100);not null" json:"action"`
	ResourceType  *string    `gorm:"column:resource;type:varchar(100)" json:"resource_type"`
	ResourceID    *string    `gorm:"type:varchar(100)" json:"resource_id"`
	RequestID     *string    `gorm:"type:varchar(128)" json:"request_id"`
	IPAddress     *string    `gorm:"column:ip_address;type:varchar(45)" json:"ip_address"`
	Method        string     `gorm:"type:varchar(10);not null" json:"method"`
	Endpoint      string     `gorm:"type:varchar(200);not null" json:"endpoint"`
	StatusCode    *int       `gorm:"type:integer" json:"status_code"`
	ExtraMetadata JSON       `gorm:"type:jsonb" json:"extra_metadata"`
}

// ListKey returns the row's place in the list of activities.
func (a UserActivity) ListKey() Key { return Key{a.CreatedAt.Time, a.ID} }

// Actor is who makes the writes of a request: the API key (nil for a
// write without one, such as a signed webhook or the CLI), the request's
// id, the client's address, the HTTP method and the route pattern (never
// the raw URL). The HTTP layer puts it in the request's context with
// WithActor; the store's writes record it.
type Actor struct {
	APIKeyID   *uuid.UUID
	APIKeyName string
	RequestID  string
	ClientIP   string
	Method     string
	Endpoint   string
}

type actorKey struct{}

// WithActor returns ctx carrying a: every write the store makes with it
// records an activity row in its own transaction.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// AuditEvent is what one write did, for recordActivity.
type AuditEvent struct {
	// Action is "<resource type>.<verb>": shipment.create, address.delete,
	// shipment_metrics.put, api_key.revoke.
	Action string
	// ResourceType is the kind of row written (shipment, address, ...);
	// ResourceID its id, "" when the write has none (a rollup).
	ResourceType string
	ResourceID   string
	// Status is the HTTP status the write answers with when it commits;
	// 0 for a write made outside HTTP (stored as NULL).
	Status int
	// Metadata is stored as extra_metadata (nil: NULL): what the row alone
	// does not say, such as an event's shipment_id.
	Metadata map[string]any
}

// recordActivity is the one way to write the audit trail (a pipelined
// write queues activityRow's insertActivity instead): it inserts a's row
// with the actor ctx carries, through q, which must be the write's own
// transaction (a *gorm.DB's tx.Statement.ConnPool, or a *sql.Tx), so
// that a write that rolls back leaves no row and one that commits always
// has its row. Without an actor in ctx (seed, the batch worker, tests of
// the store) it records nothing. The time is the database's (now(): the
// transaction's start).
func recordActivity(ctx context.Context, q execer, a AuditEvent) error {
	args, ok, err := activityRow(ctx, a)
	if !ok || err != nil {
		return err
	}
	if err := exec(ctx, q, insertActivity, args...); err != nil {
		return fmt.Errorf("record activity %s: %w", a.Action, classify(err))
	}
	return nil
}

// activityRow returns the arguments of insertActivity for a's row with the
// actor ctx carries, for recordActivity or a pipeline of the write's
// transaction; ok is false without an actor: nothing to record.
func activityRow(ctx context.Context, a AuditEvent) (args []any, ok bool, err error) {
	actor, ok := ActorFrom(ctx)
	if !ok {
		return nil, false, nil
	}
	var meta any
	if a.Metadata != nil {
		b, err := json.Marshal(a.Metadata)
		if err != nil {
			return nil, true, fmt.Errorf("activity metadata: %w", err)
		}
		meta = string(b)
	}
	return []any{actor.APIKeyID, nullIfEmpty(actor.APIKeyName), a.Action,
		nullIfEmpty(a.ResourceType), nullIfEmpty(a.ResourceID), nullIfEmpty(actor.RequestID),
		nullIfEmpty(actor.ClientIP), cut(actor.Method, 10), cut(actor.Endpoint, 200), nullIfZero(a.Status), meta}, true, nil
}

var insertActivity = statement{name: "record activity", sql: `
INSERT INTO user_activities (api_key_id, api_key_name, action, resource, resource_id, request_id, ip_address,
    method, endpoint, status_code, extra_metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)`}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullIfZero(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

// cut shortens s to n bytes, for columns whose values are the server's own
// but bounded by the predecessor's varchar(n).
func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// resourceType turns a store's name for a row ("analytics summary") into
// the audit trail's resource type ("analytics_summary").
func resourceType(what string) string { return strings.ReplaceAll(what, " ", "_") }

// recordRow records the verb done to row (a model with a ListKey) named
// what, through q, answered with status.
func recordRow(ctx context.Context, q execer, what, verb string, row any, id uuid.UUID, status int) error {
	if _, ok := ActorFrom(ctx); !ok {
		return nil
	}
	if k, ok := row.(interface{ ListKey() Key }); ok && id == uuid.Nil {
		id = k.ListKey().ID
	}
	return recordActivity(ctx, q, rowEvent(what, verb, id, status))
}

// rowEvent is the audit event of the verb done to the row id named what.
func rowEvent(what, verb string, id uuid.UUID, status int) AuditEvent {
	rt := resourceType(what)
	return AuditEvent{Action: rt + "." + verb, ResourceType: rt, ResourceID: id.String(), Status: status}
}

// ActivityFilter selects activities: the list's page and time window (on
// created_at) and exact matches on the other fields; nil matches any.
type ActivityFilter struct {
	Page
	Action       *string
	ResourceType *string
	ResourceID   *string
	APIKeyID     *uuid.UUID
}

// Activities returns a page of the audit trail, newest first, and whether
// there are more.
func (s *Store) Activities(ctx context.Context, f ActivityFilter) ([]UserActivity, bool, error) {
	q := s.conn(ctx).Model(&UserActivity{})
	if f.Action != nil {
		q = q.Where("user_activities.action = ?", *f.Action)
	}
	if f.ResourceType != nil {
		q = q.Where("user_activities.resource = ?", *f.ResourceType)
	}
	if f.ResourceID != nil {
		q = q.Where("user_activities.resource_id = ?", *f.ResourceID)
	}
	if f.APIKeyID != nil {
		q = q.Where("user_activities.api_key_id = ?", *f.APIKeyID)
	}
	rows, more, err := list[UserActivity](ctx, q, "user_activities", f.Page)
	if err != nil {
		return nil, false, fmt.Errorf("activities: %w", err)
	}
	return rows, more, nil
}

// pruneActivities deletes up to $2 of the oldest rows created more than
// $1 seconds ago (by the database's clock).
var pruneActivities = statement{name: "prune activities", sql: `
DELETE FROM user_activities WHERE id IN (
    SELECT id FROM user_activities WHERE created_at < now() - make_interval(secs => $1)
    ORDER BY created_at, id LIMIT $2)`}

// PruneActivities deletes at most batch rows of the audit trail older
// than retention, oldest first, in one short transaction, and returns how
// many it deleted: callers repeat while it returns batch.
func (s *Store) PruneActivities(ctx context.Context, retention time.Duration, batch int) (int64, error) {
	n, err := execCount(ctx, s.pool, pruneActivities, retention.Seconds(), batch)
	if err != nil {
		return 0, fmt.Errorf("prune activities: %w", classify(err))
	}
	return n, nil
}

// RunActivityRetention deletes the audit trail's rows older than
// retention after delay and then every interval, in batches of batch
// rows, until ctx ends; report (nil: none) hears each round's count and
// error. A retention of 0 keeps every row: it returns at once.
func (s *Store) RunActivityRetention(ctx context.Context, retention, delay, interval time.Duration, batch int, report func(deleted int64, err error)) {
	if retention <= 0 {
		return
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(delay):
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var total int64
		var err error
		for ctx.Err() == nil {
			var n int64
			n, err = s.PruneActivities(ctx, retention, batch)
			total += n
			if err != nil || n < int64(batch) {
				break
			}
		}
		if report != nil && ctx.Err() == nil {
			report(total, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
