package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/waybill/waybill/models"
)

// The read-your-writes headers (docs/replicas.md): every successful write
// answers HeaderLSN, a WAL position of the primary read after its commit;
// a read that carries it back as HeaderMinLSN is served by a replica only
// if that replica has replayed that far, else by the primary.
const (
	HeaderLSN    = "X-Waybill-LSN"
	HeaderMinLSN = "X-Waybill-Min-LSN"
)

// replicaRouting routes the /v1 reads (GET, HEAD) to a healthy read
// replica, within the minimum of HeaderMinLSN, and answers HeaderLSN on
// every successful write; with no replica configured it does nothing. A
// read that fails because its replica could not be reached is answered by
// the primary (the replica is set aside until it is measured healthy
// again), so a replica going down costs a retry, never a 5xx; so is one
// the replica cancelled for a conflict with its replay, and one still
// waiting on a replica that a measurement finds down (hung: it accepts
// and never answers), which the Store cancels.
//
// It must run outside idempotent: a write's response is held back until
// its transaction commits, and HeaderLSN is read as the response leaves,
// so after the commit.
func replicaRouting(store *models.Store) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if store == nil || !store.HasReplicas() {
				return next(c)
			}
			req := c.Request()
			if req.Method != http.MethodGet && req.Method != http.MethodHead {
				res := c.Response()
				res.Writer = &lsnWriter{ResponseWriter: res.Writer, store: store, req: req}
				return next(c)
			}
			var min models.LSN
			if h := req.Header.Get(HeaderMinLSN); h != "" {
				l, err := models.ParseLSN(h)
				if err != nil {
					return newError("bad_request", "%s must be a WAL position such as 0/16B3748, as %s gives it", HeaderMinLSN, HeaderLSN)
				}
				min = l
			}
			ctx, route := models.ReadFromReplica(req.Context(), min)
			c.SetRequest(req.WithContext(ctx))
			err := next(c)
			route.Done()
			c.SetRequest(req)
			if _, onReplica := route.Replica(); !onReplica || err == nil || c.Response().Committed || req.Context().Err() != nil {
				return err
			}
			switch {
			case route.Lost(), models.Unavailable(err):
				store.ReplicaFailed(route)
				return next(c) // on the primary
			case models.RecoveryConflict(err):
				return next(c) // on the primary; the replica stays in use
			}
			return err
		}
	}
}

// lsnWriter sets HeaderLSN on a 2xx response as its status line leaves:
// the primary's WAL position then is at or after every commit the
// response reports.
type lsnWriter struct {
	http.ResponseWriter
	store *models.Store
	req   *http.Request
	sent  bool
}

func (w *lsnWriter) WriteHeader(status int) {
	if !w.sent {
		w.sent = true
		if status >= 200 && status < 300 {
			// Without a position the client reads as if it sent none: a
			// replica may show it older data, never an error.
			if lsn, err := w.store.WriteLSN(w.req.Context()); err == nil {
				w.Header().Set(HeaderLSN, lsn.String())
			}
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *lsnWriter) Write(b []byte) (int, error) {
	if !w.sent {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *lsnWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
