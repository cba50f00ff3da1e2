package origin

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"golang.org/x/sync/singleflight"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/catalog"
	"github.com/luffy-edu/luffy/features"
	"github.com/luffy-edu/luffy/internal/limit"
	"github.com/luffy-edu/luffy/jobs"
	"github.com/luffy-edu/luffy/judge"
	"github.com/luffy-edu/luffy/learning"
	"github.com/luffy-edu/luffy/orders"
	"github.com/luffy-edu/luffy/storage"
	"github.com/luffy-edu/luffy/video"
	"github.com/luffy-edu/luffy/web"
)

// Config is the origin's configuration; the field help is the user documentation of
// `luffy origin --help`, and zero values mean the documented defaults.
type Config struct {
	Listen     string        `help:"Address to serve HTTP on." default:"127.0.0.1:8080" env:"LUFFY_LISTEN"`
	CacheBytes int64         `help:"Byte budget of the in-process cache of rendered catalog responses." default:"268435456" env:"LUFFY_CACHE_BYTES"`
	CacheTTL   time.Duration `help:"Longest time a rendered response stays cached; changes drop it sooner, through Postgres NOTIFY." default:"10m" env:"LUFFY_CACHE_TTL"`

	MaxAge               time.Duration `help:"Cache-Control max-age of catalog responses (browsers and apps)." default:"30s" env:"LUFFY_MAX_AGE"`
	SMaxAge              time.Duration `name:"s-maxage" help:"Cache-Control s-maxage of catalog responses (edges)." default:"60s" env:"LUFFY_S_MAXAGE"`
	StaleWhileRevalidate time.Duration `help:"Cache-Control stale-while-revalidate of catalog responses." default:"30s" env:"LUFFY_STALE_WHILE_REVALIDATE"`
	StaleIfError         time.Duration `help:"Cache-Control stale-if-error of catalog responses: how long edges may serve them while origins fail." default:"24h" env:"LUFFY_STALE_IF_ERROR"`

	MaxBodyBytes      int           `help:"Largest request body accepted; admin JSON bodies are further capped at 64 KiB." default:"1048576" env:"LUFFY_MAX_BODY_BYTES"`
	MaxUploadBytes    int64         `help:"Largest test-archive upload an admin may send." default:"67108864" env:"LUFFY_MAX_UPLOAD_BYTES"`
	ReadTimeout       time.Duration `help:"Time allowed to read a request, headers and body." default:"10s" env:"LUFFY_READ_TIMEOUT"`
	WriteTimeout      time.Duration `help:"Time allowed to write a response." default:"10s" env:"LUFFY_WRITE_TIMEOUT"`
	IdleTimeout       time.Duration `help:"Time a keep-alive connection may wait for its next request." default:"60s" env:"LUFFY_IDLE_TIMEOUT"`
	TokenTTL          time.Duration `help:"Lifetime of a login's bearer token." default:"168h" env:"LUFFY_TOKEN_TTL"`
	EdgeURL           string        `name:"edge-url" help:"Base URL of the edge that playback URLs point at." default:"http://127.0.0.1:8081" env:"LUFFY_EDGE_URL"`
	PlaybackTTL       time.Duration `help:"Lifetime of a playback token." default:"6h" env:"LUFFY_PLAYBACK_TTL"`
	BindNetwork       bool          `help:"Bind playback tokens to the viewer's network (/24 or /48)." env:"LUFFY_BIND_NETWORK"`
	TokenKey          string        `help:"Ed25519 seed (32 bytes, base64) that signs playback tokens; empty: the site's key kept in Postgres." env:"LUFFY_TOKEN_KEY"`
	RefererHosts      []string      `help:"Sites that may embed the platform's video (subdomains included); other Referers get 403." default:"127.0.0.1,localhost,luffycity.com" env:"LUFFY_REFERER_HOSTS"`
	RequireReferer    bool          `help:"Refuse video requests that carry no Referer (native apps and many players send none)." env:"LUFFY_REQUIRE_REFERER"`
	TrustedProxies    []string      `help:"Networks of edges and proxies whose X-Forwarded-For names the viewer." default:"127.0.0.0/8,::1/128" env:"LUFFY_TRUSTED_PROXIES"`
	SegmentCacheBytes int64         `help:"Byte budget of the in-process cache of hot HLS segments and playlists." default:"536870912" env:"LUFFY_SEGMENT_CACHE_BYTES"`

	EdgePurgeURLs []string `name:"edge-purge-url" help:"Purge endpoints (http://edge/edge/purge) that admin writes notify, comma-separated." env:"LUFFY_EDGE_PURGE_URLS"`
	PurgeSecret   string   `help:"Shared secret presented to the edges' purge endpoints." env:"LUFFY_PURGE_SECRET"`

	GatewayURL    string        `name:"gateway-url" help:"Payment gateway (the simulator, luffy paysim) that pay URLs point at and reconciliation asks." default:"http://127.0.0.1:8083" env:"LUFFY_GATEWAY_URL"`
	GatewaySecret string        `help:"HMAC secret shared with the payment gateway: signs pay URLs, verifies callbacks (demo default; set your own)." default:"luffy-dev-gateway-secret" env:"LUFFY_GATEWAY_SECRET"`
	OrderTTL      time.Duration `name:"order-ttl" help:"Unpaid orders expire after this, releasing their coupon and points." default:"30m" env:"LUFFY_ORDER_TTL"`
	JobWorkers    int           `help:"Timers (order expiry, sweeps, question escalation) this origin works at once; 0 only inserts them." default:"4" env:"LUFFY_JOB_WORKERS"`

	RateLimit      float64  `help:"API requests a second one client address may make on average (0: no limit); the address is the X-Forwarded-For of trusted proxies." default:"50" env:"LUFFY_RATE_LIMIT"`
	RateBurst      int      `help:"API requests one client address may make at once above its rate." default:"100" env:"LUFFY_RATE_BURST"`
	UserRateLimit  float64  `help:"API requests a second one signed-in user may make on average (0: no limit)." default:"20" env:"LUFFY_USER_RATE_LIMIT"`
	UserRateBurst  int      `help:"API requests one signed-in user may make at once above their rate." default:"40" env:"LUFFY_USER_RATE_BURST"`
	MaxConnsPerIP  int      `name:"max-conns-per-ip" help:"Connections one client address may hold open (0: no cap)." default:"256" env:"LUFFY_MAX_CONNS_PER_IP"`
	LimitExempt    []string `help:"Networks no rate limit or connection cap applies to (loopback: local load tests and edges)." default:"127.0.0.0/8,::1" env:"LUFFY_LIMIT_EXEMPT"`
	MaxHeaderBytes int      `help:"Largest request line plus headers accepted; larger ones get 431." default:"8192" env:"LUFFY_MAX_HEADER_BYTES"`

	PGReplicaURL    string        `name:"pg-replica-url" help:"Postgres read replica for catalog reads (empty: the primary serves them)." env:"LUFFY_PG_REPLICA_URL"`
	PGReplicaMaxLag time.Duration `name:"pg-replica-max-lag" help:"Catalog reads leave a replica further behind the primary than this (or down) for the primary." default:"10s" env:"LUFFY_PG_REPLICA_MAX_LAG"`

	RequestTimeout  time.Duration `help:"Deadline of one request's database work." default:"5s" env:"LUFFY_REQUEST_TIMEOUT"`
	ShutdownTimeout time.Duration `help:"On SIGTERM, time in-flight requests get to finish." default:"20s" env:"LUFFY_SHUTDOWN_TIMEOUT"`
}

func (c *Config) setDefaults() {
	d := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = 256 << 20
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxUploadBytes == 0 {
		c.MaxUploadBytes = 64 << 20
	}
	d(&c.CacheTTL, 10*time.Minute)
	d(&c.MaxAge, 30*time.Second)
	d(&c.SMaxAge, 60*time.Second)
	d(&c.StaleWhileRevalidate, 30*time.Second)
	d(&c.StaleIfError, 24*time.Hour)
	d(&c.ReadTimeout, 10*time.Second)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 8 << 10
	}
	d(&c.WriteTimeout, 10*time.Second)
	d(&c.IdleTimeout, 60*time.Second)
	d(&c.ShutdownTimeout, 20*time.Second)
	d(&c.RequestTimeout, 5*time.Second)
	d(&c.PlaybackTTL, 6*time.Hour)
	if c.EdgeURL == "" {
		c.EdgeURL = "http://127.0.0.1:8081"
	}
	c.EdgeURL = strings.TrimRight(c.EdgeURL, "/")
	if c.RefererHosts == nil {
		c.RefererHosts = []string{"127.0.0.1", "localhost", "luffycity.com"}
	}
	if c.TrustedProxies == nil {
		c.TrustedProxies = []string{"127.0.0.0/8", "::1/128"}
	}
	if c.SegmentCacheBytes == 0 {
		c.SegmentCacheBytes = 512 << 20
	}
}

// Deps are the connections an origin serves from.
type Deps struct {
	Pool    *pgxpool.Pool
	PGURL   string // for the LISTEN connection, which cannot come from the pool
	Objects *storage.Objects
}

// Server is one origin process.
type Server struct {
	cfg      Config
	pool     *pgxpool.Pool
	pgURL    string
	catalog  *catalog.Store
	accounts *accounts.Service
	cache    *respCache
	renders  singleflight.Group // one render per key at a time
	metrics  *metrics
	srv      *fasthttp.Server
	prom     fasthttp.RequestHandler

	objects        *storage.Objects
	enrollments    *orders.Enrollments
	signer         *video.Signer
	verifier       *video.Verifier
	referers       video.RefererPolicy
	trustedProxies []netip.Prefix
	hotObjects     *ristretto.Cache[string, []byte]
	seenObjects    *ristretto.Cache[string, struct{}] // doorkeeper: asked for once already
	masters        *ristretto.Cache[string, *masterEntry]
	objectLoads    singleflight.Group
	purgeClient    fasthttp.Client

	judge *judge.Store

	// commerce and learning (commerce_http.go), and the job client that runs their timers
	shop     *orders.Shop
	learning *learning.Service
	jobs     *river.Client[pgx.Tx]
	events   *submissionHub

	cacheControl []byte
	stopping     atomic.Bool
	stopListen   context.CancelFunc
	replica      *pgxpool.Pool // nil without --pg-replica-url
	reads        *storage.ReadSplit
	features     *features.Switches
	limits       limits
	web          *web.Site
	listenDone   chan struct{}
	ln           net.Listener
	serveErr     chan error
	stopOnce     sync.Once
}

// New builds an origin.
func New(ctx context.Context, cfg Config, deps Deps) (*Server, error) {
	cfg.setDefaults()
	pool := deps.Pool
	// Services insert their timers through enq in their own transactions; the client
	// behind it needs those services' workers, so it is made after them.
	enq := &jobs.Late{}
	cache, err := newRespCache(cfg.CacheBytes, cfg.CacheTTL)
	if err != nil {
		return nil, fmt.Errorf("response cache: %w", err)
	}
	seed, err := video.LoadSigningSeed(ctx, pool, cfg.TokenKey)
	if err != nil {
		return nil, err
	}
	signer, err := video.NewSigner(seed)
	if err != nil {
		return nil, err
	}
	verifier, err := video.NewVerifier(signer.PublicKey(), 1_000_000)
	if err != nil {
		return nil, err
	}
	var proxies []netip.Prefix
	for _, p := range cfg.TrustedProxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", p, err)
		}
		proxies = append(proxies, pfx)
	}
	hot, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
		NumCounters: max(cfg.SegmentCacheBytes/(256<<10)*10, 10_000), MaxCost: cfg.SegmentCacheBytes, BufferItems: 64, Metrics: true,
	})
	if err != nil {
		return nil, err
	}
	seen, err := ristretto.NewCache(&ristretto.Config[string, struct{}]{NumCounters: 2_000_000, MaxCost: 200_000, BufferItems: 64})
	if err != nil {
		return nil, err
	}
	masters, err := ristretto.NewCache(&ristretto.Config[string, *masterEntry]{NumCounters: 100_000, MaxCost: 8 << 20, BufferItems: 64})
	if err != nil {
		return nil, err
	}
	var replica *pgxpool.Pool
	if cfg.PGReplicaURL != "" {
		if replica, err = storage.OpenReplica(cfg.PGReplicaURL, pool.Config().MaxConns); err != nil {
			return nil, err
		}
	}
	reads := storage.NewReadSplit(pool, replica, cfg.PGReplicaMaxLag)
	exempt, err := limit.ParseExempt(cfg.LimitExempt)
	if err != nil {
		return nil, fmt.Errorf("limit exempt: %w", err)
	}
	site, err := web.New()
	if err != nil {
		return nil, fmt.Errorf("web front: %w", err)
	}
	switches := features.New(pool)
	if err := switches.Reload(ctx); err != nil {
		slog.Warn("feature switches not read; all on until they are", "err", err)
	}
	s := &Server{
		cfg: cfg, pool: pool, pgURL: deps.PGURL, replica: replica, reads: reads, features: switches, web: site,
		limits:         limits{perIP: limit.NewRate(cfg.RateLimit, cfg.RateBurst), perUser: limit.NewRate(cfg.UserRateLimit, cfg.UserRateBurst), exempt: exempt},
		catalog:        catalog.NewStore(pool).ReadFrom(reads.Reader),
		accounts:       accounts.NewService(pool, cfg.TokenTTL),
		cache:          cache,
		objects:        deps.Objects,
		enrollments:    orders.NewEnrollments(pool),
		signer:         signer,
		verifier:       verifier,
		referers:       video.RefererPolicy{Hosts: cfg.RefererHosts, RequireReferer: cfg.RequireReferer},
		trustedProxies: proxies,
		hotObjects:     hot,
		seenObjects:    seen,
		masters:        masters,
		judge:          judge.NewStore(pool, deps.Objects),
		shop:           orders.NewShop(pool, enq, orders.Config{PendingTTL: cfg.OrderTTL, GatewayURL: cfg.GatewayURL, GatewaySecret: cfg.GatewaySecret}),
		events:         newSubmissionHub(deps.PGURL),
		cacheControl: fmt.Appendf(nil, "public, max-age=%d, s-maxage=%d, stale-while-revalidate=%d, stale-if-error=%d",
			int(cfg.MaxAge.Seconds()), int(cfg.SMaxAge.Seconds()), int(cfg.StaleWhileRevalidate.Seconds()), int(cfg.StaleIfError.Seconds())),
	}
	s.srv = &fasthttp.Server{
		Handler:            s.handle,
		ErrorHandler:       serverError,
		Name:               "luffy-origin",
		ReadTimeout:        cfg.ReadTimeout,
		WriteTimeout:       cfg.WriteTimeout,
		IdleTimeout:        cfg.IdleTimeout,
		MaxRequestBodySize: int(max(int64(cfg.MaxBodyBytes), cfg.MaxUploadBytes)),
		ReadBufferSize:     cfg.MaxHeaderBytes,
		HeaderReceived:     s.requestConfig,
		CloseOnShutdown:    true,
	}
	s.metrics = newMetrics(s)
	s.shop.OnEvent = func(e string) { s.metrics.orders.WithLabelValues(e).Inc() }
	s.prom = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	s.learning = learning.New(pool, deps.Objects, enq, learning.Config{})
	workers := river.NewWorkers()
	orders.RegisterWorkers(workers, s.shop)
	learning.RegisterWorkers(workers, s.learning)
	s.jobs, err = jobs.NewClient(pool, jobs.Config{Workers: cfg.JobWorkers}, workers, orders.PeriodicJobs())
	if err != nil {
		return nil, err
	}
	enq.Set(s.jobs)
	return s, nil
}

// Start listens, starts the invalidation listener and serves in the background.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp4", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Start on a listener the caller opened (tests pass one on a random port).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.ln = ln
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopListen = cancel
	s.listenDone = make(chan struct{})
	var background sync.WaitGroup
	background.Go(func() { s.listenForChanges(lctx) })
	background.Go(func() { s.reads.Run(lctx) })
	background.Go(func() { s.pollFeatures(lctx) })
	background.Go(func() { s.limits.perIP.Run(lctx) })
	background.Go(func() { s.limits.perUser.Run(lctx) })
	go func() {
		background.Wait()
		close(s.listenDone)
	}()
	s.events.start()
	if s.cfg.JobWorkers > 0 {
		if err := s.jobs.Start(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("start jobs: %w", err)
		}
	}
	s.serveErr = make(chan error, 1)
	served := limit.NewConns(ln, s.cfg.MaxConnsPerIP, s.limits.exempt)
	if c, ok := served.(*limit.Conns); ok {
		c.OnReject = func() { s.metrics.limited.WithLabelValues("conns").Inc() }
	}
	go func() { s.serveErr <- s.srv.Serve(served) }()
	slog.Info("origin serving", "addr", ln.Addr().String())
	return nil
}

// PublicKey is the key that checks this origin's playback tokens, for edges.
func (s *Server) PublicKey() []byte { return s.signer.PublicKey() }

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Stop refuses new connections, lets in-flight requests finish (up to ctx's deadline),
// then stops the listener.
func (s *Server) Stop(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		s.stopping.Store(true)
		// Event streams would hold their connections open for minutes; end them first so
		// that shutdown waits only for ordinary requests. Their clients reconnect elsewhere.
		s.events.stop()
		err = s.srv.ShutdownWithContext(ctx)
		if s.cfg.JobWorkers > 0 {
			// jobs in flight finish (or are retried by another origin if the deadline cuts them)
			if jerr := s.jobs.Stop(ctx); jerr != nil && err == nil && !errors.Is(jerr, context.DeadlineExceeded) {
				err = jerr
			}
		}
		if s.stopListen != nil {
			s.stopListen()
			<-s.listenDone
		}
		if s.replica != nil {
			s.replica.Close()
		}
		if serr := <-s.serveErr; serr != nil && !errors.Is(serr, net.ErrClosed) && err == nil {
			err = serr
		}
	})
	return err
}

// Handler exposes the request handler, for tests and benchmarks that drive it directly.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	// fasthttp stamps each request when its headers are read; reuse that clock reading
	// (the hit path is short enough for a second one to show).
	start := ctx.Time()
	if start.IsZero() {
		start = time.Now()
	}
	r := routeUnknown
	if !s.limitedByIP(ctx) {
		r = s.dispatch(ctx)
	}
	s.metrics.observe(r, ctx.Response.StatusCode(), time.Since(start))
}

var (
	methodGet    = []byte("GET")
	methodHead   = []byte("HEAD")
	methodPost   = []byte("POST")
	methodPatch  = []byte("PATCH")
	methodDelete = []byte("DELETE")
)

const coursesPrefix = "/api/v1/courses/"
const lessonsPrefix = "/api/v1/lessons/"
const adminCoursesPrefix = "/api/v1/admin/courses/"

func (s *Server) dispatch(ctx *fasthttp.RequestCtx) route {
	path := ctx.Path()
	// requestConfig already refused most large bodies before reading them; this catches a
	// raw path that looked like an upload but is not one once normalized.
	if len(ctx.PostBody()) > s.cfg.MaxBodyBytes && !isTestsUpload(ctx.Method(), path) && !isHomeworkUpload(ctx.Method(), path) {
		writeError(ctx, errf(fasthttp.StatusRequestEntityTooLarge, "body_too_large", "the request body is larger than %d bytes", s.cfg.MaxBodyBytes))
		return routeUnknown
	}
	switch string(path) {
	case "/api/v1/categories":
		if s.allow(ctx, "GET, HEAD", methodGet, methodHead) {
			s.serveCategories(ctx)
		}
		return routeCategories
	case "/api/v1/courses":
		if s.allow(ctx, "GET, HEAD", methodGet, methodHead) {
			s.serveCourses(ctx)
		}
		return routeCourses
	case "/api/v1/auth/register":
		if s.allow(ctx, "POST", methodPost) {
			s.serveRegister(ctx)
		}
		return routeRegister
	case "/api/v1/auth/login":
		if s.allow(ctx, "POST", methodPost) {
			s.serveLogin(ctx)
		}
		return routeLogin
	case "/api/v1/auth/logout":
		if s.allow(ctx, "POST", methodPost) {
			s.serveLogout(ctx)
		}
		return routeLogout
	case "/api/v1/auth/me":
		if s.allow(ctx, "GET", methodGet) {
			s.serveMe(ctx)
		}
		return routeMe
	case "/api/v1/admin/courses":
		if s.allow(ctx, "POST", methodPost) {
			s.serveAdminCreate(ctx)
		}
		return routeAdminCourses
	case "/api/v1/admin/courses/reorder":
		if s.allow(ctx, "POST", methodPost) {
			s.serveAdminReorder(ctx)
		}
		return routeAdminReorder
	case "/api/v1/problems":
		if s.allow(ctx, "GET, HEAD", methodGet, methodHead) {
			s.serveProblems(ctx)
		}
		return routeProblems
	case "/api/v1/submissions":
		if string(ctx.Method()) == "POST" {
			s.serveSubmit(ctx)
			return routeSubmit
		}
		if s.allow(ctx, "GET, POST", methodGet) {
			s.serveSubmissions(ctx)
		}
		return routeSubmissions
	case "/api/v1/me/courses":
		if s.allow(ctx, "GET", methodGet) {
			s.serveMyCourses(ctx)
		}
		return routeMyCourses
	case "/api/v1/me/wrong-book":
		if s.allow(ctx, "GET", methodGet) {
			s.serveWrongBook(ctx)
		}
		return routeWrongBook
	case "/api/v1/admin/problems":
		if s.allow(ctx, "POST", methodPost) {
			s.serveAdminCreateProblem(ctx)
		}
		return routeAdminProblems
	case "/api/v1/video/public-key":
		// Public by nature: edges verify playback tokens with it and hold nothing secret.
		if s.allow(ctx, "GET", methodGet) {
			writeJSON(ctx, fasthttp.StatusOK, map[string]string{"public_key": base64.StdEncoding.EncodeToString(s.signer.PublicKey())})
		}
		return routePublicKey
	case "/metrics":
		s.prom(ctx)
		return routeMetrics
	case "/healthz":
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"status":"ok"}`)
		return routeHealthz
	case "/readyz":
		s.serveReady(ctx)
		return routeReadyz
	}
	if len(path) > len(coursesPrefix) && string(path[:len(coursesPrefix)]) == coursesPrefix {
		if s.allow(ctx, "GET, HEAD", methodGet, methodHead) {
			s.serveCourse(ctx, path[len(coursesPrefix):])
		}
		return routeCourse
	}
	if len(path) > 3 && string(path[:3]) == "/v/" {
		s.serveVideo(ctx)
		return routeVideo
	}
	if len(path) > len(lessonsPrefix) && string(path[:len(lessonsPrefix)]) == lessonsPrefix {
		rest := path[len(lessonsPrefix):]
		id, ok := bytes.CutSuffix(rest, []byte("/play"))
		if !ok {
			writeError(ctx, errRouteNotFound)
			return routeUnknown
		}
		if s.allow(ctx, "POST", methodPost) {
			s.servePlay(ctx, id)
		}
		return routePlay
	}
	if len(path) > len(adminCoursesPrefix) && string(path[:len(adminCoursesPrefix)]) == adminCoursesPrefix {
		if s.allow(ctx, "PATCH, DELETE", methodPatch, methodDelete) {
			s.serveAdminCourse(ctx, path[len(adminCoursesPrefix):])
		}
		return routeAdminCourse
	}
	if r, ok := s.dispatchJudge(ctx, path); ok {
		return r
	}
	if r, ok := s.dispatchCommerce(ctx, path); ok {
		return r
	}
	if r, ok := s.dispatchFeatures(ctx, path); ok {
		return r
	}
	if s.web.Serve(ctx) { // the web front: its assets, and its page for any app route
		return routeWeb
	}
	writeError(ctx, errRouteNotFound)
	return routeUnknown
}

// allow answers 405 unless the request's method is one of methods.
func (s *Server) allow(ctx *fasthttp.RequestCtx, allowHeader string, methods ...[]byte) bool {
	m := ctx.Method()
	for _, want := range methods {
		if string(m) == string(want) {
			return true
		}
	}
	writeError(ctx, errf(fasthttp.StatusMethodNotAllowed, "method_not_allowed", "use %s", allowHeader))
	ctx.Response.Header.Set("Allow", allowHeader)
	return false
}

// dbctx returns the context a request's queries run under: a deadline of the request
// timeout, and no cancellation from server shutdown. It is not the RequestCtx itself:
// fasthttp cancels that when shutdown begins, and a graceful shutdown lets in-flight
// requests finish their queries.
func (s *Server) dbctx(ctx *fasthttp.RequestCtx) context.Context {
	c, ok := ctx.UserValue(dbctxKey).(context.Context)
	if !ok {
		var cancel context.CancelFunc
		c, cancel = context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
		ctx.SetUserValue(dbctxKey, c)
		ctx.SetUserValue(dbcancelKey, cancelCloser(cancel))
	}
	return c
}

type ctxKey uint8

const (
	dbctxKey ctxKey = iota
	dbcancelKey
)

// cancelCloser releases a request's context when fasthttp resets the RequestCtx, which
// closes user values that are io.Closers.
type cancelCloser context.CancelFunc

func (c cancelCloser) Close() error { c(); return nil }

func (s *Server) serveReady(ctx *fasthttp.RequestCtx) {
	if s.stopping.Load() {
		writeError(ctx, errf(fasthttp.StatusServiceUnavailable, "stopping", "shutting down"))
		return
	}
	pctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.pool.Ping(pctx); err != nil {
		writeError(ctx, errf(fasthttp.StatusServiceUnavailable, "unavailable", "postgres is not reachable"))
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"status":"ready"}`)
}
