package edge

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/singleflight"
	"golang.org/x/sys/unix"

	"github.com/luffy-edu/luffy/internal/limit"
	"github.com/luffy-edu/luffy/video"
)

// Config is the edge's configuration; field help is the documentation of
// `luffy edge --help`, and zero values mean the documented defaults.
type Config struct {
	Listen         string        `help:"Address to serve HTTP on." default:"127.0.0.1:8081" env:"LUFFY_LISTEN"`
	Origins        []string      `name:"origin" help:"Origin base URLs, comma-separated; keys spread over them by consistent hashing." env:"LUFFY_ORIGINS"`
	Parent         string        `help:"Another edge to fetch misses from instead of the origins (a shield tier)." env:"LUFFY_PARENT"`
	CacheBytes     int64         `help:"Byte budget of the response cache." default:"1073741824" env:"LUFFY_CACHE_BYTES"`
	NegativeTTL    time.Duration `help:"How long a 404 from the origin is cached." default:"5s" env:"LUFFY_NEGATIVE_TTL"`
	OriginTimeout  time.Duration `help:"Time an origin gets to answer one request." default:"10s" env:"LUFFY_ORIGIN_TIMEOUT"`
	Prefetch       int           `help:"Segments after the one asked for that are fetched into the cache in the background (negative: none)." default:"2" env:"LUFFY_PREFETCH"`
	PurgeSecret    string        `help:"Shared secret that POST /edge/purge must present as a bearer token; empty disables purging." env:"LUFFY_PURGE_SECRET"`
	TokenPublicKey string        `help:"Ed25519 public key (base64) that checks playback tokens; empty: fetched from an origin at start." env:"LUFFY_TOKEN_PUBLIC_KEY"`
	RefererHosts   []string      `help:"Sites that may embed the platform's video (subdomains included)." default:"127.0.0.1,localhost,luffycity.com" env:"LUFFY_REFERER_HOSTS"`
	RequireReferer bool          `help:"Refuse video requests without a Referer." env:"LUFFY_REQUIRE_REFERER"`
	MaxObjectBytes int           `help:"Largest response the edge caches; larger ones fail with 502." default:"67108864" env:"LUFFY_MAX_OBJECT_BYTES"`
	ReadTimeout    time.Duration `help:"Time allowed to read a request." default:"10s" env:"LUFFY_READ_TIMEOUT"`
	Workers        int           `help:"Processes sharing the listen port (SO_REUSEPORT): one process may open only so many files, a node can hold more connections with several." default:"1" env:"LUFFY_WORKERS"`
	// Set by the supervisor of --workers for each worker process.
	WorkerID      int           `name:"worker-id" hidden:"" env:"LUFFY_EDGE_WORKER"`
	ControlListen string        `help:"Private address of this worker for purges from its siblings and per-worker /metrics (empty: none)." env:"LUFFY_EDGE_CONTROL"`
	Peers         []string      `name:"peer" help:"Control addresses of sibling workers that purges are passed on to." env:"LUFFY_EDGE_PEERS"`
	IdleTimeout   time.Duration `help:"Time a keep-alive connection may wait for its next request." default:"120s" env:"LUFFY_IDLE_TIMEOUT"`

	RateLimit      float64  `help:"Requests a second one client address may make on average (0: no limit)." default:"200" env:"LUFFY_RATE_LIMIT"`
	RateBurst      int      `help:"Requests one client address may make at once above its rate." default:"400" env:"LUFFY_RATE_BURST"`
	MaxConnsPerIP  int      `name:"max-conns-per-ip" help:"Connections one client address may hold open, per worker process (0: no cap)." default:"256" env:"LUFFY_MAX_CONNS_PER_IP"`
	LimitExempt    []string `help:"Networks no rate limit or connection cap applies to (loopback: local load tests)." default:"127.0.0.0/8,::1" env:"LUFFY_LIMIT_EXEMPT"`
	MaxHeaderBytes int      `help:"Largest request line plus headers accepted; larger ones get 431." default:"8192" env:"LUFFY_MAX_HEADER_BYTES"`
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8081"
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = 1 << 30
	}
	if c.Prefetch == 0 {
		c.Prefetch = 2
	}
	if c.NegativeTTL == 0 {
		c.NegativeTTL = 5 * time.Second
	}
	if c.OriginTimeout == 0 {
		c.OriginTimeout = 10 * time.Second
	}
	if c.RefererHosts == nil {
		c.RefererHosts = []string{"127.0.0.1", "localhost", "luffycity.com"}
	}
	if c.MaxObjectBytes == 0 {
		c.MaxObjectBytes = 64 << 20
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 10 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 8 << 10
	}
}

// Server is one edge process.
type Server struct {
	cfg     Config
	pool    *Pool
	clients map[*Origin]*fasthttp.HostClient
	// streamClients relay server-sent event streams (see stream.go).
	streamMu      sync.Mutex
	streamClients map[*Origin]*fasthttp.HostClient
	cache         *ristretto.Cache[[]byte, *entry]
	index         surrogateIndex
	purgeGen      atomic.Uint64
	flights       singleflight.Group
	verifier      atomic.Pointer[video.Verifier]
	// purgeMu orders purges against stores: a store checks the purge generation and
	// publishes its entry under the read lock, a purge bumps it and deletes under the
	// write lock, so no entry fetched before a purge can appear after it.
	purgeMu     sync.RWMutex
	prefetching chan struct{} // bounds background prefetches
	referers    video.RefererPolicy
	metrics     *metrics
	srv         *fasthttp.Server
	ctl         *fasthttp.Server // control listener: purges from siblings, per-worker metrics
	ctlLn       net.Listener
	ln          net.Listener
	serveErr    chan error
	cancel      context.CancelFunc
	bg          sync.WaitGroup
	perIP       *limit.Rate // nil: no rate limit
	exempt      limit.Exempt
}

// New builds an edge.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	upstreams := cfg.Origins
	if cfg.Parent != "" {
		upstreams = []string{cfg.Parent}
	}
	if len(upstreams) == 0 {
		return nil, errors.New("an edge needs --origin or --parent")
	}
	pool, err := NewPool(upstreams, PoolConfig{})
	if err != nil {
		return nil, err
	}
	exempt, err := limit.ParseExempt(cfg.LimitExempt)
	if err != nil {
		return nil, fmt.Errorf("limit exempt: %w", err)
	}
	s := &Server{
		cfg: cfg, pool: pool, clients: map[*Origin]*fasthttp.HostClient{}, prefetching: make(chan struct{}, 64),
		streamClients: map[*Origin]*fasthttp.HostClient{},
		referers:      video.RefererPolicy{Hosts: cfg.RefererHosts, RequireReferer: cfg.RequireReferer},
		perIP:         limit.NewRate(cfg.RateLimit, cfg.RateBurst),
		exempt:        exempt,
	}
	for _, o := range pool.Origins() {
		s.clients[o] = &fasthttp.HostClient{
			Addr: o.Addr, IsTLS: o.TLS, Name: "luffy-edge", MaxConns: 1024, MaxResponseBodySize: cfg.MaxObjectBytes,
			ReadTimeout: cfg.OriginTimeout, WriteTimeout: cfg.OriginTimeout, MaxIdleConnDuration: 30 * time.Second,
			DisablePathNormalizing: true, NoDefaultUserAgentHeader: true,
		}
	}
	s.cache, err = ristretto.NewCache(&ristretto.Config[[]byte, *entry]{
		NumCounters: max(cfg.CacheBytes/4096*10, 100_000), MaxCost: cfg.CacheBytes, BufferItems: 64,
		Metrics: true, IgnoreInternalCost: true,
		OnEvict: func(it *ristretto.Item[*entry]) { s.index.remove(it.Value) },
	})
	if err != nil {
		return nil, err
	}
	if cfg.TokenPublicKey != "" {
		key, err := base64.StdEncoding.DecodeString(cfg.TokenPublicKey)
		if err != nil {
			return nil, fmt.Errorf("token public key: %w", err)
		}
		if err := s.setPublicKey(key); err != nil {
			return nil, err
		}
	}
	s.srv = &fasthttp.Server{
		Handler: s.handle, Name: "luffy-edge", ReadTimeout: cfg.ReadTimeout, IdleTimeout: cfg.IdleTimeout,
		MaxRequestBodySize: 1 << 20, CloseOnShutdown: true, DisablePreParseMultipartForm: true,
		ReadBufferSize: cfg.MaxHeaderBytes,
		ErrorHandler: func(ctx *fasthttp.RequestCtx, err error) {
			var ne net.Error
			switch {
			case errors.As(err, new(*fasthttp.ErrSmallBuffer)):
				writeError(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "headers_too_large", "the request line and headers are too large")
			case errors.Is(err, fasthttp.ErrBodyTooLarge):
				writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "body_too_large", "the request body is too large")
			case errors.As(err, &ne) && ne.Timeout():
				writeError(ctx, fasthttp.StatusRequestTimeout, "timeout", "the request was not received in time")
			default:
				writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "malformed HTTP request")
			}
		},
	}
	s.metrics = newMetrics(s)
	return s, nil
}

func (s *Server) setPublicKey(key []byte) error {
	v, err := video.NewVerifier(ed25519.PublicKey(key), 1_000_000)
	if err != nil {
		return err
	}
	s.verifier.Store(v)
	return nil
}

// reusePort lets several worker processes listen on one port; the kernel spreads new
// connections over them.
var reusePort = net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
	if err != nil {
		return err
	}
	return serr
}}

// Start listens and serves in the background.
func (s *Server) Start(ctx context.Context) error {
	ln, err := reusePort.Listen(ctx, "tcp4", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	if s.cfg.ControlListen != "" {
		s.ctlLn, err = net.Listen("tcp4", s.cfg.ControlListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("control listen on %s: %w", s.cfg.ControlListen, err)
		}
		s.ctl = &fasthttp.Server{Handler: s.handleControl, Name: "luffy-edge-control"}
		go s.ctl.Serve(s.ctlLn)
	}
	return s.Serve(ctx, ln)
}

// handleControl serves a worker's private address: purges passed on by a sibling (not
// passed on again) and this worker's own metrics.
func (s *Server) handleControl(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/edge/purge":
		s.servePurge(ctx)
	case "/metrics":
		s.metrics.serve(ctx)
	default:
		writeError(ctx, fasthttp.StatusNotFound, "not_found", "no such endpoint")
	}
}

// Serve is Start on a listener the caller opened.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.pool.Start(bctx)
	if s.verifier.Load() == nil {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.fetchPublicKey(bctx)
		}()
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.perIP.Run(bctx)
	}()
	s.ln = ln
	s.serveErr = make(chan error, 1)
	served := limit.NewConns(ln, s.cfg.MaxConnsPerIP, s.exempt)
	if c, ok := served.(*limit.Conns); ok {
		c.OnReject = func() { s.metrics.limited.WithLabelValues("conns").Inc() }
	}
	go func() { s.serveErr <- s.srv.Serve(served) }()
	slog.Info("edge serving", "addr", ln.Addr().String(), "origins", s.cfg.Origins, "parent", s.cfg.Parent)
	return nil
}

// Addr is the address the edge listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Stop refuses new connections and lets in-flight requests finish.
func (s *Server) Stop(ctx context.Context) error {
	err := s.srv.ShutdownWithContext(ctx)
	if s.ctl != nil {
		s.ctl.ShutdownWithContext(ctx)
	}
	s.cancel()
	s.pool.Stop()
	s.bg.Wait()
	if serr := <-s.serveErr; serr != nil && !errors.Is(serr, net.ErrClosed) && err == nil {
		err = serr
	}
	return err
}

// fetchPublicKey asks origins for the token public key until one answers; until then
// video requests are refused with 503.
func (s *Server) fetchPublicKey(ctx context.Context) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		for _, o := range s.pool.Origins() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.SetRequestURI(o.BaseURL + "/api/v1/video/public-key")
			err := s.clients[o].DoTimeout(req, resp, 2*time.Second)
			var out struct {
				PublicKey string `json:"public_key"`
			}
			if err == nil && resp.StatusCode() == 200 && json.Unmarshal(resp.Body(), &out) == nil {
				key, derr := base64.StdEncoding.DecodeString(out.PublicKey)
				if derr == nil && s.setPublicKey(key) == nil {
					fasthttp.ReleaseRequest(req)
					fasthttp.ReleaseResponse(resp)
					slog.Info("edge has the token public key", "from", o.BaseURL)
					return
				}
			}
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(time.Duration(attempt+1)*200*time.Millisecond, 2*time.Second)):
		}
	}
}

// Handler exposes the request handler for tests and benchmarks.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	start := ctx.Time()
	if start.IsZero() {
		start = time.Now()
	}
	path := ctx.Path()
	if s.limited(ctx, path) {
		s.metrics.observe(ctx.Response.StatusCode(), time.Since(start))
		return
	}
	switch string(path) {
	case "/edge/purge":
		s.servePurge(ctx)
	case "/metrics":
		s.metrics.serve(ctx)
	case "/healthz":
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"status":"ok"}`)
	default:
		raw := ctx.Request.URI().PathOriginal()
		m := ctx.Method()
		switch {
		case !canonicalPath(raw):
			// The edge routes, keys and purges on the path as sent; one that would need
			// dot-segment removal or decoding of '/' and '.' to be read could reach the
			// origin as another path than the one checked here (a /v/ path without its
			// token check, say), so it is refused.
			writeError(ctx, fasthttp.StatusBadRequest, "non_canonical_path", "the path has dot segments, empty segments or encoded separators")
		case string(m) != "GET" && string(m) != "HEAD":
			s.pass(ctx)
		case bytes.HasPrefix(raw, []byte("/v/")):
			s.serveVideo(ctx)
		case wantsStream(ctx):
			s.stream(ctx)
		case len(ctx.Request.Header.Peek("Authorization")) > 0 || len(ctx.Request.Header.Peek("Cookie")) > 0:
			// a request made as someone is answered for them alone, never from or into
			// the shared cache
			s.pass(ctx)
		default:
			s.serveCacheable(ctx, nil)
		}
	}
	s.metrics.observe(ctx.Response.StatusCode(), time.Since(start))
}

// canonicalPath reports whether a raw request path means what it says: no "." or ".."
// segments, no empty segments, no percent-encoded '/', '.' or '%'.
func canonicalPath(p []byte) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '/':
			rest := p[i+1:]
			if i > 0 && len(rest) == 0 {
				continue // a trailing slash
			}
			if len(rest) > 0 && rest[0] == '/' {
				return false
			}
			if bytes.HasPrefix(rest, []byte(".")) && (len(rest) == 1 || rest[1] == '/' ||
				(rest[1] == '.' && (len(rest) == 2 || rest[2] == '/'))) {
				return false
			}
		case '%':
			if i+2 < len(p) {
				h := p[i+1 : i+3]
				if bytes.EqualFold(h, []byte("2f")) || bytes.EqualFold(h, []byte("2e")) || bytes.EqualFold(h, []byte("5c")) || string(h) == "25" {
					return false
				}
			}
		case '\\':
			return false
		}
	}
	return true
}

var valError = []byte("luffy-edge; detail=error")

func writeError(ctx *fasthttp.RequestCtx, status int, code, msg string) {
	ctx.Response.Reset()
	ctx.Response.Header.SetCanonical(hdrCacheStatus, valError)
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	ctx.SetBody(b)
}

// serveVideo checks a /v/ request's Referer and token before anything else, then serves
// it from the cache under a key without the token; content keys are never stored.
func (s *Server) serveVideo(ctx *fasthttp.RequestCtx) {
	raw := ctx.Request.URI().PathOriginal()
	req, err := video.ParsePath(string(raw))
	if err != nil {
		writeError(ctx, fasthttp.StatusNotFound, "not_found", "no such video file")
		return
	}
	if !s.referers.Allows(string(ctx.Request.Header.Referer())) {
		s.metrics.refused.Inc()
		writeError(ctx, fasthttp.StatusForbidden, "hotlink_refused", "this video may not be embedded on that site")
		return
	}
	v := s.verifier.Load()
	if v == nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "unavailable", "the edge has not got the token key yet")
		return
	}
	claims, err := v.Verify(req.Token, time.Now())
	if err == nil {
		client, _ := netip.AddrFromSlice(ctx.RemoteIP())
		err = claims.Authorize(req.VideoID, client.Unmap())
	}
	if err != nil {
		s.metrics.refused.Inc()
		writeError(ctx, fasthttp.StatusForbidden, "forbidden_token", err.Error())
		return
	}
	if req.Kind == video.KindKey {
		s.pass(ctx)
		return
	}
	// the cache key: the path without its token
	key := make([]byte, 0, len(raw))
	key = append(key, "v|"...)
	key = append(key, raw[len("/v/")+len(req.Token):]...)
	s.serveCacheable(ctx, key)
	if req.Kind == video.KindSegment && s.cfg.Prefetch > 0 && ctx.Response.StatusCode() < 300 {
		s.prefetch(ctx, req, raw)
	}
}

// prefetch fetches the next segments of a rendition into the cache in the background,
// through the same flights as viewers' own requests, so a viewer who gets there first
// waits for the prefetch instead of starting a second fetch.
func (s *Server) prefetch(ctx *fasthttp.RequestCtx, req video.Request, raw []byte) {
	dir := string(raw[:bytes.LastIndexByte(raw, '/')+1])
	tokenEnd := len("/v/") + len(req.Token)
	xff := clientIP(ctx)
	for i := 1; i <= s.cfg.Prefetch; i++ {
		path := dir + video.SegmentName(req.Segment+i)
		key := []byte("v|" + path[tokenEnd:])
		if e, ok := s.cache.Get(key); ok && bytes.Equal(e.key, key) {
			continue
		}
		select {
		case s.prefetching <- struct{}{}:
		default:
			s.metrics.prefetchSkipped.Inc()
			return // enough already in flight: viewers' own requests come first
		}
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			defer func() { <-s.prefetching }()
			r := fasthttp.AcquireRequest()
			defer fasthttp.ReleaseRequest(r)
			r.SetRequestURI(path)
			r.Header.Set("X-Forwarded-For", xff)
			s.metrics.prefetches.Inc()
			_, _ = s.lookupOrFetch(key, r, nil)
		}()
	}
}

func clientIP(ctx *fasthttp.RequestCtx) string {
	return ctx.RemoteIP().String()
}

// servePurge drops cached responses by URL and by surrogate key. A purge is final: the
// entries are deleted, and fetches in flight when it arrived are not stored.
func (s *Server) servePurge(ctx *fasthttp.RequestCtx) {
	if string(ctx.Method()) != "POST" {
		writeError(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "use POST")
		return
	}
	auth := ctx.Request.Header.Peek("Authorization")
	tok, ok := bytes.CutPrefix(auth, []byte("Bearer "))
	if s.cfg.PurgeSecret == "" || !ok || subtle.ConstantTimeCompare(tok, []byte(s.cfg.PurgeSecret)) != 1 {
		writeError(ctx, fasthttp.StatusUnauthorized, "unauthenticated", "purging needs Authorization: Bearer <purge secret>")
		return
	}
	var in struct {
		URLs []string `json:"urls"`
		Keys []string `json:"keys"`
	}
	dec := json.NewDecoder(bytes.NewReader(ctx.PostBody()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || len(in.URLs)+len(in.Keys) == 0 || len(in.URLs)+len(in.Keys) > 10_000 {
		writeError(ctx, fasthttp.StatusBadRequest, "invalid_purge", `send {"urls": [...], "keys": [...]} with 1 to 10000 entries`)
		return
	}
	s.purgeMu.Lock()
	s.purgeGen.Add(1)
	purged := 0
	for _, u := range in.URLs {
		for _, key := range s.keysForURL(u) {
			s.cache.Del(key)
			purged++
		}
	}
	for _, k := range in.Keys {
		for _, key := range s.index.take(k) {
			s.cache.Del([]byte(key))
			purged++
		}
	}
	s.cache.Wait() // the deletes are applied before the purge is acknowledged
	s.purgeMu.Unlock()
	s.metrics.purges.Add(float64(len(in.URLs) + len(in.Keys)))
	// A purge reaches every worker of this node before it is acknowledged; one passed on
	// by a sibling is not passed on again.
	if len(ctx.Request.Header.Peek(hdrForwardedPurge)) == 0 {
		for _, peer := range s.cfg.Peers {
			if err := s.forwardPurge(peer, ctx.PostBody()); err != nil {
				writeError(ctx, fasthttp.StatusBadGateway, "purge_incomplete", "worker "+peer+" did not take the purge: "+err.Error())
				return
			}
		}
	}
	ctx.SetContentType("application/json")
	fmt.Fprintf(ctx, `{"purged":%d}`, purged)
}

const hdrForwardedPurge = "X-Luffy-Purge-Forwarded"

func (s *Server) forwardPurge(peer string, body []byte) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + peer + "/edge/purge")
	req.Header.SetMethod("POST")
	req.Header.Set("Authorization", "Bearer "+s.cfg.PurgeSecret)
	req.Header.Set(hdrForwardedPurge, "1")
	req.SetBody(body)
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
		return err
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode())
	}
	return nil
}

// keysForURL returns the cache keys a URL (absolute, or a path with query) may be stored
// under: both encoding variants, and for a video file the key without its token.
func (s *Server) keysForURL(raw string) [][]byte {
	var uri fasthttp.URI
	if err := uri.Parse(nil, []byte(raw)); err != nil {
		return nil
	}
	path := uri.PathOriginal()
	if req, err := video.ParsePath(string(path)); err == nil {
		return [][]byte{append([]byte("v|"), path[len("/v/")+len(req.Token):]...)}
	}
	var keys [][]byte
	for _, enc := range []byte{encGzip, encIdentity} {
		keys = append(keys, cacheKey(nil, enc, path, uri.QueryString()))
	}
	return keys
}

// surrogateIndex maps surrogate keys to the cache keys of the entries that carry them.
type surrogateIndex struct {
	mu sync.Mutex
	m  map[string]map[string]struct{}
}

func (x *surrogateIndex) add(e *entry) {
	if len(e.surrogateKeys) == 0 {
		return
	}
	k := string(e.key)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m == nil {
		x.m = map[string]map[string]struct{}{}
	}
	for _, sk := range e.surrogateKeys {
		set := x.m[sk]
		if set == nil {
			set = map[string]struct{}{}
			x.m[sk] = set
		}
		set[k] = struct{}{}
	}
}

func (x *surrogateIndex) remove(e *entry) {
	if e == nil || len(e.surrogateKeys) == 0 {
		return
	}
	k := string(e.key)
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, sk := range e.surrogateKeys {
		if set := x.m[sk]; set != nil {
			delete(set, k)
			if len(set) == 0 {
				delete(x.m, sk)
			}
		}
	}
}

func (x *surrogateIndex) take(sk string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	set := x.m[sk]
	delete(x.m, sk)
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	return keys
}
