package handlers

import (
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"
)

// rateLimit allows each API key rps requests per second on average, with
// bursts of one second's worth; past that it answers 429 with Retry-After.
// rps 0 turns it off. The budget is per process: with APP_INSTANCES
// processes a key gets up to that many times rps.
func rateLimit(rps float64) echo.MiddlewareFunc {
	if rps <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	wait := time.Duration(float64(time.Second) / rps) // one request's worth of budget
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate: rate.Limit(rps), ExpiresIn: 3 * time.Minute,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) {
			k, err := requestAPIKey(c)
			return k.ID.String(), err
		},
		// Only requestAPIKey fails: an internal error, not a 403.
		ErrorHandler: func(_ echo.Context, err error) error { return err },
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			return rateLimited(wait, "this API key sent more than %g requests per second", rps)
		},
	})
}
