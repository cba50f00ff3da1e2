package edge

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/luffy-edu/luffy/internal/httprange"
	"github.com/luffy-edu/luffy/internal/httpx"
)

// Encoding classes in cache keys: the origin answers gzip clients with gzip, so
// Vary: Accept-Encoding comes down to two variants.
const (
	encGzip     = 'g'
	encIdentity = 'i'
)

var (
	hdrCacheStatus = []byte("Cache-Status")
	hdrCacheCtl    = []byte("Cache-Control")
	hdrETag        = []byte("ETag")
	hdrContentEnc  = []byte("Content-Encoding")
	hdrSurrogate   = []byte("Surrogate-Key")
	hdrVary        = []byte("Vary")
	hdrAge         = []byte("Age")
	hdrAcceptEnc   = []byte("Accept-Encoding")
	hdrINM         = []byte("If-None-Match")
	hdrRange       = []byte("Range")
	valGzip        = []byte("gzip")
	valHit         = []byte("luffy-edge; hit")
	valStale       = []byte("luffy-edge; hit; fwd=stale")
	valStaleError  = []byte("luffy-edge; hit; fwd=miss; detail=stale-if-error")
	valMiss        = []byte("luffy-edge; fwd=miss; stored")
	valMissNoStore = []byte("luffy-edge; fwd=miss")
	valRevalidated = []byte("luffy-edge; fwd=stale; fwd-status=304; stored")
	valPass        = []byte("luffy-edge; fwd=bypass")
)

type keyBuf struct{ b []byte }

var keyBufs = sync.Pool{New: func() any { return &keyBuf{b: make([]byte, 0, 512)} }}

// cacheKey appends the key of a request: its encoding class, then the normalized path
// and query. The host is left out: an edge serves one site under whatever names point at
// it, and a purge by URL must reach the entry whichever name filled it.
func cacheKey(dst []byte, enc byte, path, query []byte) []byte {
	dst = append(dst, enc, '|')
	return NormalizeKey(dst, nil, path, query)
}

func (s *Server) cacheStatus(ctx *fasthttp.RequestCtx, v []byte) {
	ctx.Response.Header.SetCanonical(hdrCacheStatus, v)
}

// serveCacheable answers a GET or HEAD from the cache, fetching on a miss. key is the
// cache key for video files (built by the caller without the token); nil means "derive
// it from the request".
func (s *Server) serveCacheable(ctx *fasthttp.RequestCtx, key []byte) {
	kb := keyBufs.Get().(*keyBuf)
	defer keyBufs.Put(kb)
	if key == nil {
		enc := byte(encIdentity)
		if httpx.AcceptsGzip(ctx.Request.Header.PeekBytes(hdrAcceptEnc)) {
			enc = encGzip
		}
		kb.b = cacheKey(kb.b[:0], enc, ctx.Request.URI().PathOriginal(), ctx.URI().QueryString())
		key = kb.b
	}
	now := time.Now()
	e, ok := s.cache.Get(key)
	if ok && bytes.Equal(e.key, key) {
		if e.fresh(now) {
			s.metrics.hits.Inc()
			s.writeEntry(ctx, e, valHit, now)
			return
		}
		if e.staleWhileRevalidate(now) {
			s.metrics.stale.Inc()
			s.writeEntry(ctx, e, valStale, now)
			if e.refreshing.CompareAndSwap(false, true) {
				s.refresh(ctx, e)
			}
			return
		}
	} else {
		e = nil
	}
	s.metrics.misses.Inc()
	// the origin learns the viewer's address from this edge alone, never from the client
	ctx.Request.Header.Set("X-Forwarded-For", clientIP(ctx))
	fresh, err := s.lookupOrFetch(key, &ctx.Request, e)
	switch {
	case err == nil:
		status := valMiss
		if !fresh.storable {
			status = valMissNoStore
		} else if e != nil && bytes.Equal(fresh.body, e.body) && fresh.stored != e.stored && len(e.etag) > 0 {
			status = valRevalidated
		}
		s.writeEntry(ctx, fresh, status, time.Now())
	case e != nil && e.staleIfError(now) && s.stillCached(e):
		s.metrics.staleErrors.Inc()
		s.writeEntry(ctx, e, valStaleError, now)
	case fresh != nil: // the origin's own error answer, relayed as it is
		s.writeEntry(ctx, fresh, valMissNoStore, time.Now())
	default:
		writeError(ctx, fasthttp.StatusBadGateway, "origin_unavailable", "no origin could answer: "+err.Error())
	}
}

// stillCached reports whether e is still the cache's entry for its key: a purge since it
// was read means it must not be served, not even stale.
func (s *Server) stillCached(e *entry) bool {
	cur, ok := s.cache.Get(e.key)
	return ok && cur == e
}

// refresh revalidates a stale entry in the background, once.
func (s *Server) refresh(ctx *fasthttp.RequestCtx, stale *entry) {
	req := fasthttp.AcquireRequest()
	ctx.Request.CopyTo(req)
	req.Header.Set("X-Forwarded-For", clientIP(ctx))
	key := append([]byte(nil), stale.key...)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer fasthttp.ReleaseRequest(req)
		defer stale.refreshing.Store(false)
		s.metrics.refreshes.Inc()
		_, _ = s.lookupOrFetch(key, req, stale)
	}()
}

// lookupOrFetch fetches key from an origin, one fetch per key at a time: concurrent
// callers wait for the one in flight and share its answer.
func (s *Server) lookupOrFetch(key []byte, req *fasthttp.Request, stale *entry) (*entry, error) {
	leader := false
	// a request that arrives after a purge never joins a fetch that started before it
	flight := string(key) + "|" + strconv.FormatUint(s.purgeGen.Load(), 10)
	v, err, _ := s.flights.Do(flight, func() (any, error) {
		leader = true
		e, err := s.fetch(key, req, stale)
		if e == nil {
			return nil, err
		}
		return fetched{e, err}, nil
	})
	if !leader {
		s.metrics.coalesced.Inc()
	}
	if err != nil {
		return nil, err
	}
	f := v.(fetched)
	return f.e, f.err
}

// fetched is an origin's answer: an error with an entry is an origin error response
// (a 5xx) that can be relayed when nothing stale may be served instead.
type fetched struct {
	e   *entry
	err error
}

var errOrigin = errors.New("origin error")

// hdrOriginUp marks an origin's 503 given while the origin itself is healthy.
var hdrOriginUp = []byte("Luffy-Origin-Up")

// fetch asks the origins (in consistent-hash order, failing over) for key, and stores a
// cacheable answer. A stale entry with an ETag is revalidated with If-None-Match.
func (s *Server) fetch(key []byte, in *fasthttp.Request, stale *entry) (*entry, error) {
	gen := s.purgeGen.Load()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	// The client's end-to-end headers go along (Accept-Language, User-Agent...); the
	// ones that would make the answer one client's, or that the edge decides itself, do not.
	in.Header.CopyTo(&req.Header)
	for _, h := range []string{"Connection", "Keep-Alive", "Te", "Upgrade", "Proxy-Authorization", "Range",
		"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Accept-Encoding"} {
		req.Header.Del(h)
	}
	req.Header.SetMethod("GET")
	req.SetRequestURIBytes(in.RequestURI())
	if key[0] == encGzip {
		req.Header.SetBytesKV(hdrAcceptEnc, valGzip)
	}
	if stale != nil && len(stale.etag) > 0 {
		req.Header.SetBytesKV(hdrINM, stale.etag)
	}
	// Both encoding variants of a URL go to the same origin, whose cache holds both.
	hashKey := key
	if len(key) > 2 && key[1] == '|' && (key[0] == encGzip || key[0] == encIdentity) {
		hashKey = key[2:]
	}
	var lastErr error = errOrigin
	var tried triedOrigins
	for {
		o, ok := s.next(hashKey, &tried)
		if !ok {
			return nil, lastErr
		}
		c := s.clients[o]
		req.SetHost(o.Addr)
		start := time.Now()
		err := c.DoTimeout(req, resp, s.cfg.OriginTimeout)
		s.metrics.originLatency.Observe(time.Since(start).Seconds())
		if err != nil {
			o.ReportFailure()
			lastErr = err
			continue
		}
		if st := resp.StatusCode(); (st == 502 || st == 503 || st == 504) && len(resp.Header.PeekBytes(hdrOriginUp)) == 0 {
			// the origin is down or overloaded: another may answer. Other 5xx are the
			// application's answer to this request, and must not eject an origin that a
			// client can make fail on purpose; so is a 503 the origin marks as its own
			// answer (Postgres or the object store out: every origin shares them).
			o.ReportFailure()
			lastErr = errors.New("origin answered " + itoa(st))
			continue
		}
		o.ReportSuccess()
		s.metrics.originBytes.Add(float64(len(resp.Body())))
		break
	}
	now := time.Now()
	if resp.StatusCode() == fasthttp.StatusNotModified && stale != nil {
		d := ParseCacheControl(resp.Header.PeekBytes(hdrCacheCtl))
		e := stale.renewed(now, d)
		if !d.NoStore {
			s.store(e, gen)
		}
		return e, nil
	}
	e := entryFrom(key, resp, now)
	switch {
	case resp.StatusCode() >= 500:
		return e, errors.New("origin answered " + itoa(resp.StatusCode()))
	case resp.StatusCode() == fasthttp.StatusOK:
		d := ParseCacheControl(resp.Header.PeekBytes(hdrCacheCtl))
		if !d.Storable() || len(resp.Header.PeekBytes([]byte("Set-Cookie"))) > 0 || !varyOnlyEncoding(resp.Header.PeekBytes(hdrVary)) {
			return e, nil // served once, not stored
		}
		e.storable = true
		e.ttl = d.TTL()
		if d.MayServeStale() {
			e.swr, e.sie = d.StaleWhileRevalidate, d.StaleIfError
		}
	case resp.StatusCode() == fasthttp.StatusNotFound:
		if d := ParseCacheControl(resp.Header.PeekBytes(hdrCacheCtl)); !d.NoStore && !d.Private {
			e.storable, e.ttl = true, s.cfg.NegativeTTL
		}
	}
	// An entry with no freshness (max-age=0, no-cache) is still kept when it has an
	// ETag: every request revalidates it, and a 304 spares the origin the body.
	if e.storable && (e.ttl > 0 || len(e.etag) > 0) {
		s.store(e, gen)
	}
	return e, nil
}

// varyOnlyEncoding reports whether a Vary header names nothing the cache key does not
// cover: Accept-Encoding alone (or nothing). Any other field would need a key per value.
func varyOnlyEncoding(v []byte) bool {
	for len(v) > 0 {
		var f []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			f, v = v[:i], v[i+1:]
		} else {
			f, v = v, nil
		}
		f = bytes.TrimSpace(f)
		if len(f) > 0 && !bytes.EqualFold(f, hdrAcceptEnc) {
			return false
		}
	}
	return true
}

// store caches e unless a purge happened since its fetch began.
func (s *Server) store(e *entry, gen uint64) {
	s.purgeMu.RLock()
	defer s.purgeMu.RUnlock()
	if s.purgeGen.Load() != gen {
		return
	}
	e.gen = gen
	if s.cache.SetWithTTL(e.key, e, e.cost(), e.retention()) {
		s.index.add(e)
		// ristretto applies sets asynchronously; the flight for this key must not end
		// before the entry is visible, or a request arriving in between would start a
		// second origin fetch
		s.cache.Wait()
	}
}

func entryFrom(key []byte, resp *fasthttp.Response, now time.Time) *entry {
	h := &resp.Header
	e := &entry{
		key:             append([]byte(nil), key...),
		status:          resp.StatusCode(),
		contentType:     append([]byte(nil), h.ContentType()...),
		contentEncoding: append([]byte(nil), h.PeekBytes(hdrContentEnc)...),
		etag:            append([]byte(nil), h.PeekBytes(hdrETag)...),
		cacheControl:    append([]byte(nil), h.PeekBytes(hdrCacheCtl)...),
		surrogate:       append([]byte(nil), h.PeekBytes(hdrSurrogate)...),
		vary:            append([]byte(nil), h.PeekBytes(hdrVary)...),
		body:            append([]byte(nil), resp.Body()...),
		stored:          now,
	}
	e.surrogateKeys = strings.Fields(string(e.surrogate))
	for k, v := range h.All() {
		if !handledHeader(k) {
			e.extra = append(e.extra, [2][]byte{append([]byte(nil), k...), append([]byte(nil), v...)})
		}
	}
	return e
}

// handledHeader reports headers the edge sets itself or must not relay (hop-by-hop).
func handledHeader(k []byte) bool {
	switch strings.ToLower(string(k)) {
	case "content-type", "content-encoding", "etag", "cache-control", "surrogate-key", "vary", "content-length",
		"date", "server", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
		"proxy-authenticate", "proxy-authorization", "age", "cache-status":
		return true
	}
	return false
}

// renewed is a copy of e that a 304 made fresh again.
func (e *entry) renewed(now time.Time, d Directives) *entry {
	n := &entry{key: e.key, status: e.status, contentType: e.contentType, contentEncoding: e.contentEncoding,
		etag: e.etag, cacheControl: e.cacheControl, surrogate: e.surrogate, vary: e.vary, body: e.body, extra: e.extra,
		surrogateKeys: e.surrogateKeys, stored: now, ttl: e.ttl, swr: e.swr, sie: e.sie, storable: e.storable}
	if d.Storable() {
		n.ttl, n.swr, n.sie = d.TTL(), 0, 0
		if d.MayServeStale() {
			n.swr, n.sie = d.StaleWhileRevalidate, d.StaleIfError
		}
	}
	return n
}

// writeEntry answers from an entry: 304 on a matching If-None-Match, a byte range when
// asked for one.
func (s *Server) writeEntry(ctx *fasthttp.RequestCtx, e *entry, cacheStatus []byte, now time.Time) {
	h := &ctx.Response.Header
	h.SetCanonical(hdrCacheStatus, cacheStatus)
	if len(e.cacheControl) > 0 {
		h.SetCanonical(hdrCacheCtl, e.cacheControl)
	}
	if len(e.etag) > 0 {
		h.SetCanonical(hdrETag, e.etag)
	}
	if len(e.surrogate) > 0 {
		h.SetCanonical(hdrSurrogate, e.surrogate)
	}
	if len(e.vary) > 0 {
		h.SetCanonical(hdrVary, e.vary)
	}
	for _, kv := range e.extra {
		h.AddBytesKV(kv[0], kv[1])
	}
	if age := now.Sub(e.stored); age >= time.Second {
		var buf [20]byte
		h.SetCanonical(hdrAge, fasthttp.AppendUint(buf[:0], int(age.Seconds())))
	}
	if inm := ctx.Request.Header.PeekBytes(hdrINM); len(inm) > 0 && len(e.etag) > 0 && bytes.Contains(inm, e.etag) && e.status == 200 {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.SetStatusCode(e.status)
	h.SetContentTypeBytes(e.contentType)
	if len(e.contentEncoding) > 0 {
		h.SetCanonical(hdrContentEnc, e.contentEncoding)
	}
	s.metrics.cacheBytes.Add(float64(len(e.body)))
	if rh := ctx.Request.Header.PeekBytes(hdrRange); len(rh) > 0 && e.status == 200 {
		start, end, ranged, ok := httprange.Parse(string(rh), int64(len(e.body)))
		if !ok {
			writeError(ctx, fasthttp.StatusRequestedRangeNotSatisfiable, "bad_range", "range outside the file")
			h.Set("Content-Range", "bytes */"+itoa(len(e.body)))
			return
		}
		if ranged {
			ctx.SetStatusCode(fasthttp.StatusPartialContent)
			h.Set("Content-Range", "bytes "+itoa(int(start))+"-"+itoa(int(end))+"/"+itoa(len(e.body)))
			ctx.Response.SetBodyRaw(e.body[start : end+1])
			return
		}
	}
	ctx.Response.SetBodyRaw(e.body)
}

// pass proxies a request the edge does not cache (writes, content keys) to an origin.
func (s *Server) pass(ctx *fasthttp.RequestCtx) {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	ctx.Request.CopyTo(req)
	req.Header.Set("X-Forwarded-For", clientIP(ctx))
	kb := keyBufs.Get().(*keyBuf)
	defer keyBufs.Put(kb)
	kb.b = append(kb.b[:0], ctx.Path()...)
	var tried triedOrigins
	for {
		o, ok := s.next(kb.b, &tried)
		if !ok {
			writeError(ctx, fasthttp.StatusBadGateway, "origin_unavailable", "no origin could answer")
			return
		}
		req.SetHost(o.Addr)
		err := s.clients[o].DoTimeout(req, &ctx.Response, s.cfg.OriginTimeout)
		if err != nil {
			o.ReportFailure()
			// a request that may have reached the origin is not sent twice
			if !idempotent(ctx.Method()) {
				writeError(ctx, fasthttp.StatusBadGateway, "origin_unavailable", "the origin did not answer")
				return
			}
			continue
		}
		o.ReportSuccess()
		s.cacheStatus(ctx, valPass) // after the origin's response replaced ours
		return
	}
}

// triedOrigins remembers the origins one request has tried, without allocating.
type triedOrigins struct {
	list [8]*Origin
	n    int
}

func (t *triedOrigins) has(o *Origin) bool {
	for _, x := range t.list[:t.n] {
		if x == o {
			return true
		}
	}
	return false
}

// next picks the next origin for key that this request has not tried, in hash-ring
// order over the healthy origins. Health can change between two picks of one request
// (a check marks the origin it just failed on as down), so the ring is walked afresh and
// tried origins are skipped, rather than counting attempts. When no origin is healthy at
// all, every configured one is tried anyway: a wrong health path must not take the
// whole edge down.
func (s *Server) next(key []byte, t *triedOrigins) (*Origin, bool) {
	if t.n == len(t.list) {
		return nil, false
	}
	for a := 0; ; a++ {
		o, ok := s.pool.Pick(key, a)
		if !ok {
			break
		}
		if !t.has(o) {
			t.list[t.n] = o
			t.n++
			return o, true
		}
	}
	anyHealthy := false
	for _, o := range s.pool.Origins() {
		anyHealthy = anyHealthy || o.Healthy()
	}
	if anyHealthy {
		return nil, false
	}
	for _, o := range s.pool.Origins() {
		if !t.has(o) {
			t.list[t.n] = o
			t.n++
			return o, true
		}
	}
	return nil, false
}

func idempotent(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "PUT", "DELETE", "OPTIONS":
		return true
	}
	return false
}

func itoa(n int) string { return string(fasthttp.AppendUint(nil, n)) }
