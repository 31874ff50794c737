package models

import "github.com/google/uuid"

// Timestamps are the database's, never the Go clock's. Every CreatedAt/UpdatedAt is
// declared read-only to GORM ("->"), so GORM never sends the Go clock: the
// column default sets created_at on insert, the BEFORE UPDATE trigger sets
// updated_at, and the store reads both back with RETURNING. Their type is
// models.Time, not time.Time, which also keeps GORM's autoCreateTime and
// autoUpdateTime logic from ever engaging.
//
// Every field declares its column's type, nullability and default; the
// schema-drift test compares them with the migrated database.

// Shipment statuses: EasyPost's tracker statuses.
const (
	StatusUnknown            = "unknown"
	StatusPreTransit         = "pre_transit"
	StatusInTransit          = "in_transit"
	StatusOutForDelivery     = "out_for_delivery"
	StatusDelivered          = "delivered"
	StatusAvailableForPickup = "available_for_pickup"
	StatusReturnToSender     = "return_to_sender"
	StatusFailure            = "failure"
	StatusCancelled          = "cancelled"
	StatusError              = "error"
)

// Statuses lists every valid shipment status, as the CHECK constraint does.
var Statuses = []string{
	StatusUnknown, StatusPreTransit, StatusInTransit, StatusOutForDelivery, StatusDelivered,
	StatusAvailableForPickup, StatusReturnToSender, StatusFailure, StatusCancelled, StatusError,
}

// Address is a postal address; shipments reference it by id.
type Address struct {
	ID              uuid.UUID `gorm:"type:uuid;primaryKey;default:gen_random_uuid()" json:"id"`
	EasyPostID      *string   `gorm:"column:easypost_id;type:varchar(50)" json:"easypost_id"`
	Name            *string   `gorm:"type:varchar(100)" json:"name"`
	Company         *string   `gorm:"type:varchar(100)" json:"company"`
	Street1         string    `gorm:"type:varchar(200);not null" json:"street1"`
	Street2         *string   `gorm:"type:varchar(200)" json:"street2"`
	City            string    `gorm:"type:varchar(100);not null" json:"city"`
	State           *string   `gorm:"type:varchar(50)" json:"state"`
	Zip             string    `gorm:"type:varchar(20);not null" json:"zip"`
	Country         string    `gorm:"type:varchar(2);not null;default:'US'" json:"country"`
	Phone           *string   `gorm:"type:varchar(20)" json:"phone"`
	Email           *string   `gorm:"type:varchar(200)" json:"email"`
	Residential     *bool     `gorm:"column:is_residential;type:boolean" json:"residential"`
	Verifications   JSON      `gorm:"type:jsonb" json:"verifications"`
	CarrierFacility *string   `gorm:"type:varchar(50)" json:"carrier_facility"`
	FederalTaxID    *string   `gorm:"type:varchar(20)" json:"federal_tax_id"`
	StateTaxID      *string   `gorm:"type:varchar(20)" json:"state_tax_id"`
	CreatedAt       Time      `gorm:"->;type:timestamptz;not null;default:now()" json:"created_at"`
	UpdatedAt       Time      `gorm:"->;type:timestamptz;not null;default:now()" json:"updated_at"`
}

// Parcel is a package's dimensions (inches) and weight (ounces).
type Parcel struct {
	ID                uuid.UUID `gorm:"type:uuid;primaryKey;default:gen_random_uuid()" json:"id"`
	EasyPostID        *string   `gorm:"column:easypost_id;type:varchar(50)" json:"easypost_id"`
	Length            *float64  `gorm:"type:double precision" json:"length"`
	Width             *float64  `gorm:"type:double precision" json:"width"`
	Height            *float64  `gorm:"type:double precision" json:"height"`
	Weight            float64   `gorm:"type:double precision;not null" json:"weight"`
	PredefinedPackage *string   `gorm:"type:varchar(50)" json:"predefined_package"`
	MassUnit          string    `gorm:"type:varchar(10);not null;default:'oz'" json:"mass_unit"`
	DistanceUnit      string    `gorm:"type:varchar(10);not null;default:'in'" json:"distance_unit"`
	CreatedAt         Time      `gorm:"->;type:timestamptz;not null;default:now()" json:"created_at"`
	UpdatedAt         Time      `gorm:"->;type:timestamptz;not null;default:now()" json:"updated_at"`
}

// CustomsInfo is a customs declaration for an international shipment.
type CustomsInfo struct {
	ID                  uuid.UUID `gorm:"type:uuid;primaryKey;default:gen_random_uuid()" json:"id"`
	EasyPostID          *string   `gorm:"column:easypost_id;type:varchar(50)" json:"easypost_id"`
	ContentsType        string    `gorm:"type:varchar(50);not null;default:'merchandise'" json:"contents_type"`
	ContentsExplanation *string   `gorm:"type:text" json:"contents_explanation"`
	CustomsCertify      bool      `gorm:"type:boolean;not null;default:true" json:"customs_certify"`
	CustomsSigner       *string   `gorm:"type:varchar(100)" json:"customs_signer"`
	NonDeliveryOption   string    `gorm:"type:varchar(20);not null;default:'return'" json:"non_delivery_option"`
	RestrictionType     string    `gorm:"type:varchar(20);not null;default:'none'" json:"restriction_type"`
	RestrictionComments *string   `gorm:"type:text" json:"restriction_comments"`
	CustomsItems        JSON      `gorm:"type:jsonb" json:"customs_items"`
	EELPFC              *string   `gorm:"column:eel_pfc;type:varchar(20)" json:"eel_pfc"`
	CreatedAt           Time      `gorm:"->;type:timestamptz;not null;default:now()" json:"created_at"`
	UpdatedAt           Time      `gorm:"->;type:timestamptz;not null;default:now()" json:"updated_at"`
}

// CustomsInfo's table is customs_infos, as the predecessor named it.
func (CustomsInfo) TableName() string { return "customs_infos" }

// Shipment is a shipment with references to its addresses, parcel and
// customs declaration; the expanded objects are filled by the store's
// reads.
type Shipment struct {
	ID              uuid.UUID  `gorm:"type:uuid;primaryKey;default:gen_random_uuid()" json:"id"`
	EasyPostID      *string    `gorm:"column:easypost_id;type:varchar(50)" json:"easypost_id"`
	Mode            string     `gorm:"type:varchar(20);not null;default:'test'" json:"mode"`
	Reference       *string    `gorm:"type:varchar(100)" json:"reference"`
	Status          string     `gorm:"type:varchar(50);not null;default:'unknown'" json:"status"`
	TrackingCode    *string    `gorm:"type:varchar(100)" json:"tracking_code"`
	Carrier         *string    `gorm:"type:varchar(50)" json:"carrier"`
	Service         *string    `gorm:"type:varchar(50)" json:"service"`
	FromAddressID   uuid.UUID  `gorm:"type:uuid;not null" json:"from_address_id"`
	ToAddressID     uuid.UUID  `gorm:"type:uuid;not null" json:"to_address_id"`
	ReturnAddressID *uuid.UUID `gorm:"type:uuid" json:"return_address_id"`
	BuyerAddressID  *uuid.UUID `gorm:"type:uuid" json:"buyer_address_id"`
	ParcelID        *uuid.UUID `gorm:"type:uuid" json:"parcel_id"`
	CustomsInfoID   *uuid.UUID `gorm:"type:uuid" json:"customs_info_id"`
	SelectedRateID  *string    `gorm:"type:varchar(50)" json:"selected_rate_id"`
	Rates           JSON       `gorm:"column:rates_data;type:jsonb" json:"rates"`
	BaseCost        *Money     `gorm:"type:numeric(12,2)" json:"base_cost"`
	TotalCost       *Money     `gorm:"type:numeric(12,2)" json:"total_cost"`
	Currency        string     `gorm:"type:varchar(3);not null;default:'USD'" json:"currency"`
	DeliveryDays    *int       `gorm:"type:integer" json:"delivery_days"`
	DeliveryDate    *Time      `gorm:"type:timestamptz" json:"delivery_date"`
	EstDeliveryDate *Time      `gorm:"type:timestamptz" json:"est_delivery_date"`
	TrackingDetails JSON       `gorm:"type:jsonb" json:"tracking_details"`
	Weight          *float64   `gorm:"type:double precision" json:"weight"`
	SignedBy        *string    `gorm:"type:varchar(100)" json:"signed_by"`
	BatchID         *string    `gorm:"type:varchar(50)" json:"batch_id"`
	BatchStatus     *string    `gorm:"type:varchar(20)" json:"batch_status"`
	Metadata        JSON       `gorm:"column:extra_metadata;type:jsonb" json:"metadata"`
	CreatedAt       Time       `gorm:"->;type:timestamptz;not null;default:now()" json:"created_at"`
	UpdatedAt       Time       `gorm:"->;type:timestamptz;not null;default:now()" json:"updated_at"`

	FromAddress   *Address     `gorm:"foreignKey:FromAddressID" json:"from_address,omitempty"`
	ToAddress     *Address     `gorm:"foreignKey:ToAddressID" json:"to_address,omitempty"`
	ReturnAddress *Address     `gorm:"foreignKey:ReturnAddressID" json:"return_address,omitempty"`
	BuyerAddress  *Address     `gorm:"foreignKey:BuyerAddressID" json:"buyer_address,omitempty"`
	Parcel        *Parcel      `gorm:"foreignKey:ParcelID" json:"parcel,omitempty"`
	CustomsInfo   *CustomsInfo `gorm:"foreignKey:CustomsInfoID" json:"customs_info,omitempty"`
}

// ShipmentEvent is one tracking event of a shipment. Events do not change
// once recorded, so the table has no updated_at.
type ShipmentEvent struct {
	ID               uuid.UUID `gorm:"type:uuid;primaryKey;default:gen_random_uuid()" json:"id"`
	ShipmentID       uuid.UUID `gorm:"type:uuid;not null" json:"shipment_id"`
	Status           string    `gorm:"type:varchar(50);not null" json:"status"`
	Message          *string   `gorm:"type:text" json:"message"`
	Description      *string   `gorm:"type:text" json:"description"`
	CarrierStatus    *string   `gorm:"type:varchar(100)" json:"carrier_status"`
	TrackingLocation JSON      `gorm:"type:jsonb" json:"tracking_location"`
	EventDatetime    Time      `gorm:"type:timestamptz;not null;default:now()" json:"event_datetime"`
	CreatedAt        Time      `gorm:"->;type:timestamptz;not null;default:now()" json:"created_at"`
}

// ShipmentMetrics is the one metrics row of a shipment.
type ShipmentMetrics struct {
	ID                     uuid.UUID `gorm:"type:uuid;primaryKey;default:gen_random_uuid()" json:"id"`
	ShipmentID             uuid.UUID `gorm:"type:uuid;not null" json:"shipment_id"`
	CreationToPurchaseTime *float64  `gorm:"type:double precision" json:"creation_to_purchase_time"`
	PurchaseToLabelTime    *float64  `gorm:"type:double precision" json:"purchase_to_label_time"`
	TotalProcessingTime    *float64  `gorm:"type:double precision" json:"total_processing_time"`
	BaseRate               *Money    `gorm:"type:numeric(12,2)" json:"base_rate"`
	FuelSurcharge          *Money    `gorm:"type:numeric(12,2)" json:"fuel_surcharge"`
	InsuranceCost          *Money    `gorm:"type:numeric(12,2)" json:"insurance_cost"`
	TrackingCost           *Money    `gorm:"type:numeric(12,2)" json:"tracking_cost"`
	OtherFees              *Money    `gorm:"type:numeric(12,2)" json:"other_fees"`
	TotalCost              *Money    `gorm:"type:numeric(12,2)" json:"total_cost"`
	Currency               string    `gorm:"type:varchar(3);not null;default:'USD'" json:"currency"`
	EstimatedDeliveryDays  *int      `gorm:"type:integer" json:"estimated_delivery_days"`
	ActualDeliveryDays     *int      `gorm:"type:integer" json:"actual_delivery_days"`
	DeliveryDelayDays      *int      `gorm:"type:integer" json:"delivery_delay_days"`
	WasOnTime              *bool     `gorm:"type:boolean" json:"was_on_time"`
	TrackingUpdatesCount   int       `gorm:"type:integer;not null;default:0" json:"tracking_updates_count"`
	ExceptionEventsCount   int       `gorm:"type:integer;not null;default:0" json:"exception_events_count"`
	DeliveryAttempts       int       `gorm:"type:integer;not null;default:0" json:"delivery_attempts"`
	OriginCountry          *string   `gorm:"type:varchar(2)" json:"origin_country"`
	DestinationCountry     *string   `gorm:"type:varchar(2)" json:"destination_country"`
	DistanceKm             *float64  `gorm:"type:double precision" json:"distance_km"`
	Carrier                *string   `gorm:"type:varchar(50)" json:"carrier"`
	Service                *string   `gorm:"type:varchar(50)" json:"service"`
	PackageType            *string   `gorm:"type:varchar(50)" json:"package_type"`
	WeightKg               *float64  `gorm:"type:double precision" json:"weight_kg"`
	CreatedAt              Time      `gorm:"->;type:timestamptz;not null;default:now()" json:"created_at"`
	UpdatedAt              Time      `gorm:"->;type:timestamptz;not null;default:now()" json:"updated_at"`
}

// ShipmentMetrics's table is shipment_metrics.
func (ShipmentMetrics) TableName() string { return "shipment_metrics" }

// AnalyticsSummary is a rollup of one period's shipments in one currency.
type AnalyticsSummary struct {
	ID                      uuid.UUID `gorm:"type:uuid;primaryKey;default:gen_random_uuid()" json:"id"`
	Date                    Date      `gorm:"type:date;not null" json:"date"`
	Period                  string    `gorm:"type:varchar(20);not null" json:"period"`
	TotalShipments          int       `gorm:"type:integer;not null;default:0" json:"total_shipments"`
	SuccessfulShipments     int       `gorm:"type:integer;not null;default:0" json:"successful_shipments"`
	FailedShipments         int       `gorm:"type:integer;not null;default:0" json:"failed_shipments"`
	TotalCost               Money     `gorm:"type:numeric(12,2);not null;default:0" json:"total_cost"`
	AverageCostPerShipment  *Money    `gorm:"type:numeric(12,2)" json:"average_cost_per_shipment"`
	Currency                string    `gorm:"type:varchar(3);not null;default:'USD'" json:"currency"`
	AverageDeliveryDays     *float64  `gorm:"type:double precision" json:"average_delivery_days"`
	OnTimeDeliveryRate      *float64  `gorm:"type:double precision" json:"on_time_delivery_rate"`
	CarrierStats            JSON      `gorm:"type:jsonb" json:"carrier_stats"`
	TopDestinations         JSON      `gorm:"type:jsonb" json:"top_destinations"`
	DomesticVsInternational JSON      `gorm:"type:jsonb" json:"domestic_vs_international"`
	ServiceBreakdown        JSON      `gorm:"type:jsonb" json:"service_breakdown"`
	CreatedAt               Time      `gorm:"->;type:timestamptz;not null;default:now()" json:"created_at"`
	UpdatedAt               Time      `gorm:"->;type:timestamptz;not null;default:now()" json:"updated_at"`
}

// AnalyticsSummary's table is analytics_summaries.
func (AnalyticsSummary) TableName() string { return "analytics_summaries" }

// CarrierPerformance is a rollup of one carrier service's day.
type CarrierPerformance struct {
	ID                  uuid.UUID `gorm:"type:uuid;primaryKey;default:gen_random_uuid()" json:"id"`
	Carrier             string    `gorm:"type:varchar(50);not null" json:"carrier"`
	Service             string    `gorm:"type:varchar(50);not null" json:"service"`
	Date                Date      `gorm:"type:date;not null" json:"date"`
	TotalShipments      int       `gorm:"type:integer;not null;default:0" json:"total_shipments"`
	OnTimeDeliveries    int       `gorm:"type:integer;not null;default:0" json:"on_time_deliveries"`
	DelayedDeliveries   int       `gorm:"type:integer;not null;default:0" json:"delayed_deliveries"`
	FailedDeliveries    int       `gorm:"type:integer;not null;default:0" json:"failed_deliveries"`
	TotalCost           Money     `gorm:"type:numeric(12,2);not null;default:0" json:"total_cost"`
	AverageCost         *Money    `gorm:"type:numeric(12,2)" json:"average_cost"`
	Currency            string    `gorm:"type:varchar(3);not null;default:'USD'" json:"currency"`
	AverageDeliveryDays *float64  `gorm:"type:double precision" json:"average_delivery_days"`
	MinDeliveryDays     *int      `gorm:"type:integer" json:"min_delivery_days"`
	MaxDeliveryDays     *int      `gorm:"type:integer" json:"max_delivery_days"`
	OnTimeRate          *float64  `gorm:"type:double precision" json:"on_time_rate"`
	ReliabilityScore    *float64  `gorm:"type:double precision" json:"reliability_score"`
	CreatedAt           Time      `gorm:"->;type:timestamptz;not null;default:now()" json:"created_at"`
	UpdatedAt           Time      `gorm:"->;type:timestamptz;not null;default:now()" json:"updated_at"`
}

// CarrierPerformance's table is carrier_performance.
func (CarrierPerformance) TableName() string { return "carrier_performance" }

// SystemMetric is one sample of the service's own metrics. Samples do not
// change, so the table has no updated_at.
type SystemMetric struct {
	ID                  uuid.UUID `gorm:"type:uuid;primaryKey;default:gen_random_uuid()" json:"id"`
	Timestamp           Time      `gorm:"column:timestamp;type:timestamptz;not null;default:now()" json:"timestamp"`
	ActiveConnections   int       `gorm:"type:integer;not null;default:0" json:"active_connections"`
	TotalRequests       int       `gorm:"type:integer;not null;default:0" json:"total_requests"`
	ErrorRate           *float64  `gorm:"type:double precision" json:"error_rate"`
	AvgResponseTimeMs   *float64  `gorm:"column:avg_response_time_ms;type:double precision" json:"avg_response_time_ms"`
	P95ResponseTimeMs   *float64  `gorm:"column:p95_response_time_ms;type:double precision" json:"p95_response_time_ms"`
	P99ResponseTimeMs   *float64  `gorm:"column:p99_response_time_ms;type:double precision" json:"p99_response_time_ms"`
	CPUUsagePercent     *float64  `gorm:"column:cpu_usage_percent;type:double precision" json:"cpu_usage_percent"`
	MemoryUsageMb       *float64  `gorm:"column:memory_usage_mb;type:double precision" json:"memory_usage_mb"`
	DiskUsagePercent    *float64  `gorm:"type:double precision" json:"disk_usage_percent"`
	DBConnectionsActive int       `gorm:"column:db_connections_active;type:integer;not null;default:0" json:"db_connections_active"`
	DBConnectionsIdle   int       `gorm:"column:db_connections_idle;type:integer;not null;default:0" json:"db_connections_idle"`
	DBQueryCount        int       `gorm:"column:db_query_count;type:integer;not null;default:0" json:"db_query_count"`
	DBSlowQueries       int       `gorm:"column:db_slow_queries;type:integer;not null;default:0" json:"db_slow_queries"`
	CacheHitRate        *float64  `gorm:"type:double precision" json:"cache_hit_rate"`
	CacheMissRate       *float64  `gorm:"type:double precision" json:"cache_miss_rate"`
	CreatedAt           Time      `gorm:"->;type:timestamptz;not null;default:now()" json:"created_at"`
}

// APIKey is a credential for the REST API. Only the SHA-256 of the key is
// stored.
type APIKey struct {
	ID         uuid.UUID `gorm:"type:uuid;primaryKey;default:gen_random_uuid()" json:"id"`
	Name       string    `gorm:"type:text;not null" json:"name"`
	Scope      string    `gorm:"type:text;not null" json:"scope"`
	KeyHash    []byte    `gorm:"type:bytea;not null" json:"-"`
	CreatedAt  Time      `gorm:"->;type:timestamptz;not null;default:now()" json:"created_at"`
	UpdatedAt  Time      `gorm:"->;type:timestamptz;not null;default:now()" json:"updated_at"`
	LastUsedAt *Time     `gorm:"type:timestamptz" json:"last_used_at"`
	RevokedAt  *Time     `gorm:"type:timestamptz" json:"revoked_at"`
}

// IdempotencyKey records a POST made with an Idempotency-Key header and,
// once it completed, its response.
type IdempotencyKey struct {
	ID              uuid.UUID `gorm:"type:uuid;primaryKey;default:gen_random_uuid()"`
	APIKeyID        uuid.UUID `gorm:"column:api_key_id;type:uuid;not null"`
	Key             string    `gorm:"type:text;not null"`
	Method          string    `gorm:"type:text;not null"`
	Path            string    `gorm:"type:text;not null"`
	RequestHash     []byte    `gorm:"type:bytea;not null"`
	StatusCode      *int      `gorm:"type:integer"`
	ResponseHeaders JSON      `gorm:"type:jsonb"`
	ResponseBody    []byte    `gorm:"type:bytea"`
	CreatedAt       Time      `gorm:"->;type:timestamptz;not null;default:now()"`
	UpdatedAt       Time      `gorm:"->;type:timestamptz;not null;default:now()"`
	ExpiresAt       Time      `gorm:"->;type:timestamptz;not null;default:(now() + '24:00:00'::interval)"`
}

// All lists every model, for the schema-drift test and documentation.
func All() []any {
	return []any{
		&Address{}, &Parcel{}, &CustomsInfo{}, &Shipment{}, &ShipmentEvent{}, &ShipmentMetrics{},
		&AnalyticsSummary{}, &CarrierPerformance{}, &SystemMetric{}, &APIKey{}, &IdempotencyKey{},
		&UserActivity{},
		&WebhookDelivery{},
	}
}
