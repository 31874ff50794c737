package handlers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"
	"golang.org/x/sync/singleflight"

	"github.com/waybill/waybill/models"
)

// ctxAPIKey is the echo.Context key under which authenticate leaves the
// request's models.APIKey; read it with requestAPIKey.
const ctxAPIKey = "waybill.api_key"

// errNoAPIKey means a middleware that needs the request's API key ran
// without authenticate before it: a wiring mistake, answered 500.
var errNoAPIKey = errors.New("handlers: no authenticated API key on the request (authenticate must run first)")

// requestAPIKey returns the API key authenticate found for the request,
// or errNoAPIKey (an internal error, not a panic) if there is none.
func requestAPIKey(c echo.Context) (models.APIKey, error) {
	k, ok := c.Get(ctxAPIKey).(models.APIKey)
	if !ok {
		return models.APIKey{}, errNoAPIKey
	}
	return k, nil
}

// Bounds of authentication's memory, so that a flood of made-up keys or
// addresses cannot grow it without limit.
const (
	// unknownKeyTTL is how long a key the database did not know (or knew
	// as revoked) is answered 401 without asking again. Keys are random,
	// so a key cannot be created after it was tried; the cost of the
	// cache is at most this delay for a key revived by hand in SQL.
	unknownKeyTTL = time.Second
	// maxUnknownKeys bounds that cache; past it, unknown keys are looked
	// up again (the per-address limit still bounds the lookups).
	maxUnknownKeys = 10_000
	// maxCachedKeys bounds the cache of valid keys, which holds only keys
	// the database confirmed.
	maxCachedKeys = 10_000
	// maxLimitedAddresses bounds the per-address failure limits; past it,
	// new addresses share one limit.
	maxLimitedAddresses = 10_000
)

// sha is a key's SHA-256, as map keys hold it.
type sha = [sha256.Size]byte

// newAuthGuard returns the state that authenticate and /health share: the
// key caches, the per-address failure limit and the revocation watch.
func newAuthGuard(o Options) *authGuard {
	g := &authGuard{
		store:   o.Store,
		log:     o.Log,
		keys:    &keyCache{ttl: o.AuthCacheTTL, keys: map[sha]cachedKey{}},
		unknown: &unknownKeys{until: map[sha]time.Time{}},
		limit:   newFailureLimiter(o.AuthFailureRPS),
		touched: &lastUse{store: o.Store, log: o.Log, seen: map[uuid.UUID]time.Time{}},
	}
	if o.KeyEvents != nil {
		o.KeyEvents.Watch(g.keys.revoked, g.listening)
	}
	return g
}

// authenticate requires Authorization: Bearer <key> with a known,
// unrevoked key, and a write- or admin-scoped key for anything but GET and
// HEAD.
//
// A missing key is 401 with WWW-Authenticate: Bearer; a key that was sent
// but is malformed, unknown or revoked is the same 401 with
// error="invalid_token" (RFC 6750 §3); a read key writing is 403 with
// error="insufficient_scope".
//
// Valid keys are cached for o.AuthCacheTTL. With o.KeyEvents the cache is
// used only while the revocation listener is connected, and a key revoked
// on any instance is dropped as its notification arrives; without it a
// revoked key works here for up to the TTL. Unknown keys are remembered
// for unknownKeyTTL. Each key the database must be asked about takes a
// token from its client address's budget of o.AuthFailureRPS failures a
// second (bursts of twice that), given back if the key is valid: past it
// the answer is 429 with Retry-After, before any lookup.
func (g *authGuard) authenticate() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			key, err := g.apiKey(c)
			if err != nil {
				return err
			}
			m := c.Request().Method
			if !key.CanWrite() && m != http.MethodGet && m != http.MethodHead {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer error="insufficient_scope", scope="write"`)
				return newError("forbidden", "this API key's scope is %s; %s needs write", key.Scope, m)
			}
			c.Set(ctxAPIKey, key)
			g.touched.record(key.ID)
			return next(c)
		}
	}
}

// authGuard is authenticate's state.
type authGuard struct {
	store   *models.Store
	log     *logrus.Logger
	keys    *keyCache
	unknown *unknownKeys
	limit   *failureLimiter // nil: no limit
	flights singleflight.Group
	touched *lastUse

	mu     sync.Mutex
	wasOn  bool // the revocation listener was connected
	warned bool // the listener's absence was logged
}

// errInvalidKey is a key the database knows but that may not be used.
var errInvalidKey = errors.New("revoked api key")

// apiKey returns the request's valid API key, or an unauthorized or
// rate-limited error. Store errors other than "not found" (the database
// being down) pass through, so they become 503, not 401.
func (g *authGuard) apiKey(c echo.Context) (models.APIKey, error) {
	token, sent := bearerToken(c.Request())
	if !sent {
		return models.APIKey{}, unauthorized(c, false)
	}
	if !b64token(token) {
		return models.APIKey{}, unauthorized(c, true)
	}
	hash := sha(models.HashKey(token))
	if k, ok := g.keys.get(hash); ok {
		return k, nil
	}
	if g.unknown.has(hash) {
		return models.APIKey{}, unauthorized(c, true)
	}
	budget, wait := g.limit.take(clientAddress(c.Request()))
	if wait > 0 {
		return models.APIKey{}, rateLimited(wait, "too many requests with invalid API keys from this address")
	}
	k, err := g.lookup(c.Request().Context(), hash)
	if errors.Is(err, models.ErrNotFound) || errors.Is(err, errInvalidKey) {
		return models.APIKey{}, unauthorized(c, true) // the failure keeps its token
	}
	budget.giveBack()
	if err != nil {
		return models.APIKey{}, err
	}
	return k, nil
}

// lookup asks the database about hash, once for all the requests that ask
// at the same time. The lookup runs to the first asker's deadline even if
// that client goes away, since others may be waiting for it.
func (g *authGuard) lookup(ctx context.Context, hash sha) (models.APIKey, error) {
	ch := g.flights.DoChan(string(hash[:]), func() (any, error) {
		gen := g.keys.generation() // before the query: see keyCache.put
		lctx, cancel := detach(ctx)
		defer cancel()
		k, err := g.store.APIKeyByHash(lctx, hash[:])
		if errors.Is(err, models.ErrNotFound) {
			g.unknown.add(hash)
			return nil, err
		}
		if err != nil {
			return nil, err
		}
		// The lookup matched on the hash already; compare again in
		// constant time so no code path depends on how much of a hash
		// matched.
		if subtle.ConstantTimeCompare(k.KeyHash, hash[:]) != 1 || !k.Active() {
			g.unknown.add(hash)
			return nil, errInvalidKey
		}
		g.keys.put(hash, k, gen)
		return k, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return models.APIKey{}, r.Err
		}
		return r.Val.(models.APIKey), nil
	case <-ctx.Done():
		return models.APIKey{}, ctx.Err()
	}
}

// detach returns a context with ctx's values and deadline that the end of
// ctx's request does not cancel.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(context.WithoutCancel(ctx), d)
	}
	return context.WithCancel(context.WithoutCancel(ctx))
}

// listening follows the revocation listener: the cache is dropped when it
// connects or loses its connection, and unused while it is down.
func (g *authGuard) listening(on bool, err error) {
	g.keys.listening(on)
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case on:
		g.log.Info("listening for API key revocations: verified keys are cached")
		g.wasOn, g.warned = true, false
	case errors.Is(err, models.ErrListenerClosed):
		g.wasOn = false // shutting down: nothing to report
	case g.wasOn:
		g.log.WithField("error", err.Error()).Warn("lost the API key revocation listener: every request checks its key in the database until it is back")
		g.wasOn = false
	case errors.Is(err, models.ErrListenUnsupported) && !g.warned:
		g.log.WithField("reason", err.Error()).Warn("no API key revocation listener (DB_PGBOUNCER): every request checks its key in the database")
		g.warned = true
	}
}

// unauthorized is the 401 of a missing or bad key, with the challenge of
// RFC 6750 §3: error="invalid_token" when a token was sent.
func unauthorized(c echo.Context, tokenSent bool) error {
	challenge := "Bearer"
	if tokenSent {
		challenge = `Bearer error="invalid_token"`
	}
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, challenge)
	return newError("unauthorized", "a valid API key is required: Authorization: Bearer <key>")
}

// bearerToken returns the token of an Authorization: Bearer header, and
// whether there was one.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get(echo.HeaderAuthorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// b64token reports whether token has RFC 6750's b64token syntax, which
// every Waybill key has: anything else is rejected without a lookup.
func b64token(token string) bool {
	body := strings.TrimRight(token, "=")
	if body == "" || len(token) > 512 {
		return false
	}
	for _, r := range body {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case strings.ContainsRune("-._~+/", r):
		default:
			return false
		}
	}
	return true
}

// clientAddress is whom a request's authentication failures are counted
// against: the connection's remote address, never a forwarding header
// (any client can write one, and no trusted proxy is configured). IPv6
// clients are counted by /64, the block one subscriber usually holds.
func clientAddress(r *http.Request) netip.Prefix {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{} // every unparseable address shares one budget
	}
	addr = addr.Unmap().WithZone("")
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, _ := addr.Prefix(bits)
	return p
}

// keyCache remembers valid keys by hash for ttl. Only keys the database
// confirmed are kept, so unknown keys cannot fill it.
type keyCache struct {
	ttl  time.Duration
	mu   sync.Mutex
	keys map[sha]cachedKey
	// gen counts the events that invalidate the cache (a revocation, the
	// listener lost or back): a lookup that began before one must not
	// fill the cache with what it read.
	gen uint64
	// off while the revocation listener is down: revocations would go
	// unnoticed, so nothing is cached (and what was, was dropped).
	off   bool
	swept time.Time
}

type cachedKey struct {
	key   models.APIKey
	until time.Time
}

func (kc *keyCache) get(hash sha) (models.APIKey, bool) {
	if kc.ttl <= 0 {
		return models.APIKey{}, false
	}
	kc.mu.Lock()
	defer kc.mu.Unlock()
	e, ok := kc.keys[hash]
	if !ok || time.Now().After(e.until) {
		return models.APIKey{}, false
	}
	return e.key, true
}

func (kc *keyCache) generation() uint64 {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	return kc.gen
}

// put caches k, read by a lookup that began at generation gen, unless the
// cache was invalidated since: the lookup may have read the key just
// before its revocation committed, and the notification has come and gone.
func (kc *keyCache) put(hash sha, k models.APIKey, gen uint64) {
	if kc.ttl <= 0 {
		return
	}
	now := time.Now()
	kc.mu.Lock()
	defer kc.mu.Unlock()
	if kc.off || gen != kc.gen {
		return
	}
	if now.Sub(kc.swept) >= kc.ttl {
		// Expired entries go, at most once a TTL, so the map stays as
		// small as the keys in use.
		kc.swept = now
		for h, e := range kc.keys {
			if now.After(e.until) {
				delete(kc.keys, h)
			}
		}
	}
	if len(kc.keys) < maxCachedKeys {
		kc.keys[hash] = cachedKey{key: k, until: now.Add(kc.ttl)}
	}
}

// revoked drops the key with id id.
func (kc *keyCache) revoked(id uuid.UUID) {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	kc.gen++
	for h, e := range kc.keys {
		if e.key.ID == id {
			delete(kc.keys, h)
		}
	}
}

// listening drops every key: when the listener is lost, revocations are
// no longer heard (and nothing is cached until it is back); when it is
// back, those sent meanwhile were lost.
func (kc *keyCache) listening(on bool) {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	kc.gen++
	kc.off = !on
	clear(kc.keys)
}

// unknownKeys remembers, for unknownKeyTTL, the hashes of keys the
// database did not accept.
type unknownKeys struct {
	mu    sync.Mutex
	until map[sha]time.Time
	swept time.Time
}

func (u *unknownKeys) has(hash sha) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	t, ok := u.until[hash]
	return ok && time.Now().Before(t)
}

func (u *unknownKeys) add(hash sha) {
	now := time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.until) >= maxUnknownKeys && now.Sub(u.swept) >= unknownKeyTTL {
		// At most one sweep per TTL: under a flood of distinct keys the
		// map stays full, and sweeping it on every add would cost more
		// than the lookups it saves.
		u.swept = now
		for h, t := range u.until {
			if now.After(t) {
				delete(u.until, h)
			}
		}
	}
	if len(u.until) < maxUnknownKeys {
		u.until[hash] = now.Add(unknownKeyTTL)
	}
}

// failureLimiter gives each client address a token bucket of
// authentication failures.
type failureLimiter struct {
	rate     float64 // tokens a second
	burst    float64
	mu       sync.Mutex
	addrs    map[netip.Prefix]*bucket
	overflow *bucket // shared by new addresses while addrs is full
	swept    time.Time
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// newFailureLimiter allows rps failures a second per address, in bursts of
// two seconds' worth; rps 0 is no limit (nil).
func newFailureLimiter(rps float64) *failureLimiter {
	if rps <= 0 {
		return nil
	}
	burst := max(1, math.Ceil(2*rps))
	return &failureLimiter{rate: rps, burst: burst, addrs: map[netip.Prefix]*bucket{}, overflow: &bucket{tokens: burst}}
}

// failureToken is a token taken from an address's budget.
type failureToken struct {
	l *failureLimiter
	b *bucket
}

// giveBack returns the token: the request did not fail authentication.
func (t failureToken) giveBack() {
	if t.l == nil {
		return
	}
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	t.b.tokens = min(t.l.burst, t.b.tokens+1)
}

// take takes a token from addr's budget, or returns how long until there
// is one. A nil limiter always has one.
func (l *failureLimiter) take(addr netip.Prefix) (failureToken, time.Duration) {
	if l == nil {
		return failureToken{}, 0
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(addr, now)
	if b.tokens < 1 {
		return failureToken{}, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	return failureToken{l, b}, 0
}

// bucket returns addr's bucket, brought up to date. l.mu is held.
func (l *failureLimiter) bucket(addr netip.Prefix, now time.Time) *bucket {
	b, ok := l.addrs[addr]
	if !ok {
		if len(l.addrs) >= maxLimitedAddresses && now.Sub(l.swept) >= time.Second {
			// A full bucket is the same as none: forget those addresses.
			l.swept = now
			for a, b := range l.addrs {
				if l.refill(b, now); b.tokens >= l.burst {
					delete(l.addrs, a)
				}
			}
		}
		switch {
		case len(l.addrs) >= maxLimitedAddresses:
			b = l.overflow
		default:
			b = &bucket{tokens: l.burst, at: now}
			l.addrs[addr] = b
		}
	}
	l.refill(b, now)
	return b
}

func (l *failureLimiter) refill(b *bucket, now time.Time) {
	if now.After(b.at) {
		b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
		b.at = now
	}
}

// lastUse keeps api_keys.last_used_at current to the minute without a
// write per request: each process writes a key's time at most once a
// minute, in the background.
type lastUse struct {
	store *models.Store
	log   *logrus.Logger
	mu    sync.Mutex
	seen  map[uuid.UUID]time.Time
}

func (l *lastUse) record(id uuid.UUID) {
	now := time.Now()
	l.mu.Lock()
	due := now.Sub(l.seen[id]) >= time.Minute
	if due {
		if len(l.seen) >= maxCachedKeys {
			for k, t := range l.seen { // keys not used for a minute are due anyway
				if now.Sub(t) >= time.Minute {
					delete(l.seen, k)
				}
			}
		}
		l.seen[id] = now
	}
	l.mu.Unlock()
	if !due {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.store.TouchAPIKey(ctx, id); err != nil {
			l.log.WithField("error", err.Error()).Debug("api key last_used_at not recorded")
		}
	}()
}
