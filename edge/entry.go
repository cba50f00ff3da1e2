package edge

import (
	"sync/atomic"
	"time"
)

// entry is one cached response. It is immutable once stored, but for the flag that lets
// one request, not all of them, refresh it in the background.
type entry struct {
	key             []byte
	status          int
	contentType     []byte
	contentEncoding []byte
	etag            []byte
	cacheControl    []byte
	surrogate       []byte
	vary            []byte
	body            []byte
	surrogateKeys   []string
	// extra are the other end-to-end headers of the response (Last-Modified, Location,
	// CORS, WWW-Authenticate...), relayed as they came.
	extra [][2][]byte

	// storable says the origin allowed keeping the response (public, fresh for some time
	// or revalidatable); an entry that is not was fetched for one request only.
	storable bool
	stored   time.Time
	ttl      time.Duration // fresh until stored+ttl
	swr      time.Duration // then servable while refreshing, until stored+ttl+swr
	sie      time.Duration // or while the origin fails, until stored+ttl+sie
	// gen is the purge generation the fetch started from: an entry whose fetch overlapped
	// a purge is not stored, so a purge cannot be undone by a response already in flight.
	gen uint64

	refreshing atomic.Bool
}

func (e *entry) fresh(now time.Time) bool { return now.Before(e.stored.Add(e.ttl)) }

func (e *entry) staleWhileRevalidate(now time.Time) bool {
	return now.Before(e.stored.Add(e.ttl + e.swr))
}

func (e *entry) staleIfError(now time.Time) bool { return now.Before(e.stored.Add(e.ttl + e.sie)) }

// cost is what the entry weighs against the cache's byte budget.
func (e *entry) cost() int64 {
	n := len(e.key) + len(e.contentType) + len(e.contentEncoding) + len(e.etag) + len(e.cacheControl) +
		len(e.surrogate) + len(e.vary) + len(e.body) + 256
	for _, k := range e.surrogateKeys {
		n += len(k) + 16
	}
	for _, kv := range e.extra {
		n += len(kv[0]) + len(kv[1]) + 48
	}
	return int64(n)
}

// revalidateWindow is how long past its stale windows an entry with an ETag is kept: not
// to be served, but so that the next miss can ask the origin for a 304 instead of the body.
const revalidateWindow = 10 * time.Minute

// retention is how long the cache keeps the entry: past freshness for as long as it may
// still be served stale, and longer when it can be revalidated.
func (e *entry) retention() time.Duration {
	r := e.ttl + max(e.swr, e.sie)
	if len(e.etag) > 0 {
		r += revalidateWindow
	}
	return r
}
