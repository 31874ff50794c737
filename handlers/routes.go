// Package handlers is Waybill's HTTP layer: routes, middleware, request
// decoding and the mapping of errors to problem details. Every query goes
// through models.Store; handlers hold no SQL.
package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"

	"github.com/waybill/waybill/capacity"
	"github.com/waybill/waybill/metrics"
	"github.com/waybill/waybill/models"
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
	// AuthFailureRPS is each client address's budget of requests with a
	// bad API key per second (bursts of twice that), past which it gets
	// 429; 0 is unlimited.
	AuthFailureRPS float64
	// AppInstances is how many Waybill processes share the database, for
	// the capacity plan in /health.
	AppInstances int
	// Version is reported by /health.
	Version string
	// Metrics is the Prometheus registry served at /metrics; nil means a
	// fresh one without pool collectors.
	Metrics *metrics.Metrics
	// Draining reports whether the server is shutting down (readiness
	// fails first, so load balancers stop sending traffic).
	Draining func() bool
}

// New returns the Echo instance with every route and middleware.
func New(o Options) *echo.Echo {
	if o.Metrics == nil {
		o.Metrics = metrics.New(o.Version, nil)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(o.Log)
	e.Use(
		assignRequestID,
		accessLog(o.Log, o.Metrics),
		recoverPanic(o.Log),
		deadline(o.RequestTimeout),
		bodyLimit(o.BodyLimit),
	)
	// Echo answers an unknown route and a wrong method with its own
	// errors; the error handler turns them into problem details.

	get(e.Add, "/livez", livez)
	auth := newAuthGuard(o)
	health := &healthChecker{store: o.Store, auth: auth, instances: max(o.AppInstances, 1), version: o.Version, started: time.Now(),
		onPlan: func(p capacity.Plan) { o.Metrics.SetCapacity(CapacityGauges(p)) }}
	get(e.Add, "/readyz", readyz(health, o.Draining))
	get(e.Add, "/health", health.serve)
	get(e.Add, "/metrics", echo.WrapHandler(o.Metrics.Handler()))
	get(e.Add, "/problems/:code", problemDoc)
	get(e.Add, "/openapi.json", openAPIJSON)
	get(e.Add, "/openapi.yaml", openAPIYAML)

	v1 := api{group: e.Group("/v1"), middleware: []echo.MiddlewareFunc{
		requireDatabase(o.Store),
		auth.authenticate(),
		rateLimit(o.RateLimitRPS),
		idempotent(o.Store),
	}}
	shipments := shipmentRoutes{o.Store}
	v1.POST("/shipments", shipments.create)
	v1.GET("/shipments", shipments.list)
	v1.GET("/shipments/:id", getOne(o.Store.Shipment))
	v1.PATCH("/shipments/:id", patchOne[models.Shipment, shipmentPatch](o.Store.UpdateShipment))
	v1.DELETE("/shipments/:id", deleteOne(o.Store.DeleteShipment))
	v1.POST("/shipments/:id/events", shipments.addEvent)
	v1.GET("/shipments/:id/events", shipments.events)
	v1.GET("/shipments/:id/metrics", getOne(o.Store.Metrics))
	v1.PUT("/shipments/:id/metrics", shipments.putMetrics)

	addresses := addressRoutes{o.Store}
	v1.POST("/addresses", addresses.create)
	v1.GET("/addresses", addresses.list)
	v1.GET("/addresses/:id", getOne(o.Store.Address))
	v1.PATCH("/addresses/:id", addresses.patch)
	v1.DELETE("/addresses/:id", deleteOne(o.Store.DeleteAddress))

	routeAnalytics(v1, o.Store)
	v1.GET("/analytics/dashboard", dashboard(o.Store))
	v1.POST("/analytics/rollups", rollups(o.Store))

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
