// Package handlers is Waybill's HTTP layer: routes, middleware, request
// decoding and the mapping of errors to problem details. Every query goes
// through models.Store; handlers hold no SQL.
//
// New, in this file, registers every route, so the API can be read in one
// place. Every handler is a function that takes its dependencies and
// returns an echo.HandlerFunc (createShipment(store), getOne(store.Shipment),
// readyz(o.Health); one with no dependencies, such as livez, is the
// echo.HandlerFunc itself), never a method on a struct of dependencies
// (Mat Ryer's "How I write HTTP services in Go"): the route list then
// names what each route uses, the generic makers (getOne, patchOne,
// deleteOne) and the specific handlers read alike, and no type exists only
// to carry a store.
package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"

	"github.com/waybill/waybill/dbhealth"
	"github.com/waybill/waybill/metrics"
	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/web"
)

// Options are the HTTP layer's dependencies and settings.
type Options struct {
	// Store is the database; nil when none is configured (degraded mode:
	// data routes answer 503).
	Store *models.Store
	Log   *logrus.Logger
	// RequestTimeout is every request's deadline.
	RequestTimeout time.Duration
	// BodyLimit is the largest accepted request body, in bytes.
	BodyLimit int64
	// RateLimitRPS is each API key's request rate; 0 is unlimited.
	RateLimitRPS float64
	// AuthCacheTTL is how long a valid API key is trusted without asking
	// the database again; 0 asks on every request. With KeyEvents, a
	// revocation ends the trust at once; without, only this TTL does.
	AuthCacheTTL time.Duration
	// KeyEvents reports API key revocations from every instance; while it
	// is not listening, keys are not cached. nil: the cache expires by
	// AuthCacheTTL only.
	KeyEvents *models.KeyEvents
	// CORSOrigins are the exact origins whose pages may call /v1 from a
	// browser (CORS_ORIGINS); none: no route sends a CORS header.
	CORSOrigins []string
	// AuthFailureRPS is each client address's budget of requests with a
	// bad API key per second (bursts of twice that), past which it gets
	// 429; 0 is unlimited.
	AuthFailureRPS float64
	// AppInstances is how many Waybill processes share the database, for
	// the capacity plan of the monitor New makes when Health is nil.
	AppInstances int
	// WebhookSecrets are the secrets carrier webhooks may be signed with
	// (several while one is rotated); none refuses every webhook.
	WebhookSecrets []string
	// Version is reported by /health.
	Version string
	// Metrics is the Prometheus registry served at /metrics; nil means a
	// fresh one without pool collectors.
	Metrics *metrics.Metrics
	// Health is the database's health monitor that /readyz and /health
	// read; nil means a fresh one of Store, without a background loop,
	// publishing to Metrics.
	Health *dbhealth.Monitor
	// Draining reports whether the server is shutting down (readiness
	// fails first, so load balancers stop sending traffic); only for the
	// monitor New makes when Health is nil (else the monitor's own).
	Draining func() bool
	// Batches imports the batches POST /v1/batches leaves for the
	// background, woken by each; nil means a fresh one that nothing runs
	// (such batches wait for a worker of another instance).
	Batches *BatchWorker
}

// New returns the Echo instance with every route and middleware.
func New(o Options) *echo.Echo {
	if o.Metrics == nil {
		o.Metrics = metrics.New(o.Version, nil)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(o.Log)
	e.JSONSerializer = jsonSerializer{}
	e.Use(
		assignRequestID,
		accessLog(o.Log, o.Metrics),
		recoverPanic(o.Log),
		deadline(o.RequestTimeout),
		bodyLimit(o.BodyLimit),
		cors(o.CORSOrigins),
	)
	// Echo answers an unknown route and a wrong method with its own
	// errors; the error handler turns them into problem details.

	get(e.Add, "/livez", livez)
	if o.Health == nil {
		o.Health = dbhealth.New(o.Store, dbhealth.Options{Instances: o.AppInstances, Metrics: o.Metrics, Draining: o.Draining})
	}
	auth := newAuthGuard(o)
	get(e.Add, "/readyz", readyz(o.Health))
	get(e.Add, "/health", health(o.Store, o.Health, auth, o.Version))
	get(e.Add, "/metrics", echo.WrapHandler(o.Metrics.Handler()))
	get(e.Add, "/problems/:code", problemDoc)
	get(e.Add, "/openapi.json", openAPIJSON)
	get(e.Add, "/openapi.yaml", openAPIYAML)
	// The console and the API reference (package web): static pages that
	// call /v1 with a key the user pastes, with their own strict headers.
	// One route each: /console* is /console, /console/ and below.
	site := echo.WrapHandler(web.Handler())
	get(e.Add, "/console*", site)
	get(e.Add, "/docs*", site)

	v1 := api{group: e.Group("/v1"), middleware: []echo.MiddlewareFunc{
		requireDatabase(o.Store),
		auth.authenticate(),
		recordActor,
		rateLimit(o.RateLimitRPS),
		replicaRouting(o.Store),
		idempotent(o.Store),
	}}
	store := o.Store
	v1.GET("/me", me)
	v1.POST("/shipments", createShipment(store))
	v1.GET("/shipments", csvOr(exportShipments(store), listShipments(store)))
	v1.GET("/shipments.csv", exportShipments(store))
	v1.GET("/shipments/:id", getOne(store.Shipment))
	v1.PATCH("/shipments/:id", patchOne(store.UpdateShipment))
	v1.DELETE("/shipments/:id", deleteOne(store.DeleteShipment))
	v1.POST("/shipments/:id/events", addEvent(store))
	v1.GET("/shipments/:id/events", listEvents(store))
	v1.GET("/shipments/:id/metrics", getOne(store.Metrics))
	v1.PUT("/shipments/:id/metrics", putMetrics(store))

	if o.Batches == nil {
		o.Batches = NewBatchWorker(store, o.Log)
	}
	v1.POST("/batches", createBatch(store, o.Batches))
	v1.GET("/batches/:id", getBatch(store))

	v1.GET("/trackers/:tracking_code", getTracker(store))
	// Carrier webhooks carry no API key: the body's signature
	// authenticates them, and bad signatures spend the budget of bad keys.
	e.POST("/v1/webhooks/easypost", receiveWebhook(store, o.WebhookSecrets, auth.limit, o.Log),
		requireDatabase(store), addressRateLimit(o.RateLimitRPS), recordActor)

	v1.POST("/addresses", createAddress(store))
	v1.GET("/addresses", listAddresses(store))
	v1.GET("/addresses/:id", getOne(store.Address))
	v1.PATCH("/addresses/:id", patchAddress(store))
	v1.DELETE("/addresses/:id", deleteOne(store.DeleteAddress))

	v1.POST("/analytics/summaries", createSummary(store))
	v1.GET("/analytics/summaries", listSummaries(store))
	v1.GET("/analytics/summaries/:id", getOne(store.Summary))
	v1.PATCH("/analytics/summaries/:id", patchOne(store.UpdateSummary))
	v1.DELETE("/analytics/summaries/:id", deleteOne(store.DeleteSummary))

	v1.POST("/analytics/carrier-performance", createCarrierPerformance(store))
	v1.GET("/analytics/carrier-performance", listCarrierPerformance(store))
	v1.GET("/analytics/carrier-performance/:id", getOne(store.CarrierPerformance))
	v1.PATCH("/analytics/carrier-performance/:id", patchOne(store.UpdateCarrierPerformance))
	v1.DELETE("/analytics/carrier-performance/:id", deleteOne(store.DeleteCarrierPerformance))

	v1.GET("/analytics/dashboard", dashboard(store))
	v1.POST("/analytics/rollups", rollups(store))

	v1.GET("/activity", listActivity(store))

	// Samples do not change once taken: no PATCH.
	v1.POST("/system-metrics", createSystemMetric(store))
	v1.GET("/system-metrics", listSystemMetrics(store))
	v1.GET("/system-metrics/:id", getOne(store.SystemMetric))
	v1.DELETE("/system-metrics/:id", deleteOne(store.DeleteSystemMetric))

	return e
}

// api registers /v1 routes, each with the API's middleware. The middleware
// is attached per route rather than with Group.Use, which would add a
// catch-all route that answers a wrong method with 404 instead of 405.
type api struct {
	group      *echo.Group
	middleware []echo.MiddlewareFunc
}

func (a api) GET(path string, h echo.HandlerFunc)    { get(a.group.Add, path, h, a.middleware...) }
func (a api) POST(path string, h echo.HandlerFunc)   { a.group.POST(path, h, a.middleware...) }
func (a api) PUT(path string, h echo.HandlerFunc)    { a.group.PUT(path, h, a.middleware...) }
func (a api) PATCH(path string, h echo.HandlerFunc)  { a.group.PATCH(path, h, a.middleware...) }
func (a api) DELETE(path string, h echo.HandlerFunc) { a.group.DELETE(path, h, a.middleware...) }

// get registers h, with middleware m, for GET path and for HEAD path
// (e.Add or a group's Add): HEAD answers with the status and headers the
// GET would have, ETag and authentication included, and no body — net/http
// drops what the handler writes, and sets Content-Length as it would for
// the GET. OpenAPI leaves HEAD implied; docs/api.md says so.
func get(add func(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route,
	path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	add(http.MethodGet, path, h, m...)
	add(http.MethodHead, path, h, m...)
}
