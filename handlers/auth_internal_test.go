package handlers

import (
	"encoding/binary"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/waybill/waybill/models"
)

func hashOf(i int) sha {
	var h sha
	binary.BigEndian.PutUint64(h[:], uint64(i))
	return h
}

// TestAuthMemoryIsBounded floods each of authentication's maps with more
// distinct entries than it may hold.
func TestAuthMemoryIsBounded(t *testing.T) {
	u := &unknownKeys{until: map[sha]time.Time{}}
	for i := range 2 * maxUnknownKeys {
		u.add(hashOf(i))
	}
	if len(u.until) > maxUnknownKeys {
		t.Errorf("unknown keys: %d entries, want at most %d", len(u.until), maxUnknownKeys)
	}
	// Expired entries make room at the next sweep.
	for h := range u.until {
		u.until[h] = time.Now().Add(-time.Second)
	}
	u.swept = time.Time{}
	u.add(hashOf(-1))
	if len(u.until) != 1 || !u.has(hashOf(-1)) {
		t.Errorf("after a sweep of expired entries: %d entries, want only the new one", len(u.until))
	}

	l := newFailureLimiter(1) // burst 2
	for i := range maxLimitedAddresses + 100 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if _, wait := l.take(netip.PrefixFrom(a, 32)); wait > 0 && i < maxLimitedAddresses {
			t.Fatalf("address %d: limited on its first failure", i)
		}
	}
	if len(l.addrs) > maxLimitedAddresses {
		t.Errorf("failure limits: %d addresses, want at most %d", len(l.addrs), maxLimitedAddresses)
	}
	// New addresses past the bound share one budget, already spent by
	// the 100 before.
	if _, wait := l.take(netip.MustParsePrefix("192.0.2.7/32")); wait <= 0 {
		t.Error("a new address past the bound was not limited by the shared budget")
	}

	kc := &keyCache{ttl: time.Minute, keys: map[sha]cachedKey{}}
	for i := range maxCachedKeys + 10 {
		kc.put(hashOf(i), models.APIKey{ID: uuid.New()}, kc.generation())
	}
	if len(kc.keys) > maxCachedKeys {
		t.Errorf("key cache: %d entries, want at most %d", len(kc.keys), maxCachedKeys)
	}
}

// TestKeyCacheInvalidation checks that a revocation evicts its key, and
// that a lookup that began before a revocation (or before the listener
// blinked) does not cache what it read.
func TestKeyCacheInvalidation(t *testing.T) {
	kc := &keyCache{ttl: time.Minute, keys: map[sha]cachedKey{}}
	k := models.APIKey{ID: uuid.New()}
	kc.put(hashOf(1), k, kc.generation())
	if _, ok := kc.get(hashOf(1)); !ok {
		t.Fatal("a key just put is not cached")
	}
	kc.revoked(uuid.New())
	if _, ok := kc.get(hashOf(1)); !ok {
		t.Error("another key's revocation evicted this one")
	}
	kc.revoked(k.ID)
	if _, ok := kc.get(hashOf(1)); ok {
		t.Error("a revoked key is still cached")
	}

	gen := kc.generation() // a lookup starts
	kc.revoked(uuid.New()) // a revocation arrives meanwhile
	kc.put(hashOf(2), k, gen)
	if _, ok := kc.get(hashOf(2)); ok {
		t.Error("a lookup that began before a revocation filled the cache")
	}

	kc.listening(false)
	kc.put(hashOf(3), k, kc.generation())
	if _, ok := kc.get(hashOf(3)); ok {
		t.Error("a key was cached while the listener was down")
	}
	kc.listening(true)
	kc.put(hashOf(3), k, kc.generation())
	if _, ok := kc.get(hashOf(3)); !ok {
		t.Error("no key is cached after the listener is back")
	}
}

func TestClientAddress(t *testing.T) {
	tests := []struct{ remote, want string }{
		{"192.0.2.1:1234", "192.0.2.1/32"},
		{"[::ffff:192.0.2.1]:1234", "192.0.2.1/32"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:443", "fe80::/64"},
		{"192.0.2.9", "192.0.2.9/32"},
		{"@", "invalid Prefix"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		r.Header.Set("X-Forwarded-For", "203.0.113.1")
		if got := clientAddress(r).String(); got != tt.want {
			t.Errorf("clientAddress(%q) = %s, want %s", tt.remote, got, tt.want)
		}
	}
}
