package edge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"
)

// PoolConfig tunes the origin pool's health checks and hashing; zero values mean the
// documented defaults.
type PoolConfig struct {
	HealthPath     string        `help:"Path on every origin that answers 2xx while the origin can serve." default:"/healthz" env:"LUFFY_HEALTH_PATH"`
	HealthInterval time.Duration `help:"Time between active health checks of each origin." default:"2s" env:"LUFFY_HEALTH_INTERVAL"`
	HealthTimeout  time.Duration `help:"Time a health check may take before the origin counts as down." default:"1s" env:"LUFFY_HEALTH_TIMEOUT"`
	EjectAfter     int           `help:"Consecutive failed requests (errors, 5xx) after which an origin gets no traffic for --eject-for." default:"3" env:"LUFFY_EJECT_AFTER"`
	EjectFor       time.Duration `help:"How long an origin ejected for failed requests gets no traffic." default:"10s" env:"LUFFY_EJECT_FOR"`
	VirtualNodes   int           `help:"Points per origin on the hash ring; more spread keys more evenly over origins." default:"160" env:"LUFFY_VIRTUAL_NODES"`
}

func (c *PoolConfig) setDefaults() {
	if c.HealthPath == "" {
		c.HealthPath = "/healthz"
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = 2 * time.Second
	}
	if c.HealthTimeout == 0 {
		c.HealthTimeout = time.Second
	}
	if c.EjectAfter == 0 {
		c.EjectAfter = 3
	}
	if c.EjectFor == 0 {
		c.EjectFor = 10 * time.Second
	}
	if c.VirtualNodes == 0 {
		c.VirtualNodes = 160
	}
}

func (c *PoolConfig) validate() error {
	switch {
	case !strings.HasPrefix(c.HealthPath, "/"):
		return fmt.Errorf("health path %q does not start with /", c.HealthPath)
	case c.HealthInterval < 0, c.HealthTimeout < 0, c.EjectFor < 0:
		return errors.New("health interval, health timeout and eject-for cannot be negative")
	case c.EjectAfter < 0:
		return fmt.Errorf("eject-after %d is negative", c.EjectAfter)
	case c.VirtualNodes < 0:
		return fmt.Errorf("virtual nodes %d is negative", c.VirtualNodes)
	}
	return nil
}

// Origin is one upstream server of the pool. Its health is the conjunction of two
// signals: the active check (does HealthPath answer 2xx) and passive ejection (did real
// requests keep failing). Both are needed: a health endpoint can answer while the routes
// behind it fail, and requests can be too rare to notice an origin that went away.
type Origin struct {
	BaseURL string // scheme://host:port[/prefix], the port always explicit
	Addr    string // host:port, for fasthttp.HostClient.Addr
	TLS     bool   // https: set fasthttp.HostClient.IsTLS

	// up is the verdict of the last active check. It starts true so an edge serves from
	// its first request rather than refusing everything until the first check returns.
	up           atomic.Bool
	failures     atomic.Int32 // consecutive failed requests
	ejectedUntil atomic.Int64 // unix nanoseconds; 0 when never ejected
	ejections    atomic.Uint64

	ejectAfter int32
	ejectFor   time.Duration
	now        func() time.Time // time.Now; tests move it
	health     *fasthttp.HostClient
}

// String returns the base URL, for logs.
func (o *Origin) String() string { return o.BaseURL }

// Healthy reports whether the origin takes traffic: its last health check passed and it
// is not ejected.
func (o *Origin) Healthy() bool {
	if !o.up.Load() {
		return false
	}
	// The common case, never ejected, costs no clock read.
	until := o.ejectedUntil.Load()
	return until == 0 || o.now().UnixNano() >= until
}

// ReportSuccess records a request the origin answered (below 500): it ends a run of
// failures.
func (o *Origin) ReportSuccess() {
	// Load first: under load every request reports, and a store to a cache line that every
	// core reads would bounce it between them for nothing.
	if o.failures.Load() != 0 {
		o.failures.Store(0)
	}
}

// ReportFailure records a request the origin did not answer or answered with a 5xx.
// EjectAfter of them in a row eject the origin for EjectFor; after that it gets traffic
// again with a clean count, and the next run of failures ejects it again.
func (o *Origin) ReportFailure() {
	if o.failures.Add(1) < o.ejectAfter {
		return
	}
	o.failures.Store(0)
	o.ejectedUntil.Store(o.now().Add(o.ejectFor).UnixNano())
	o.ejections.Add(1)
}

// Ejections counts passive ejections since the pool was built, for metrics.
func (o *Origin) Ejections() uint64 { return o.ejections.Load() }

// Pool spreads cache keys over origins by consistent hashing, so each origin's own cache
// holds a share of the catalog instead of all of it, and adding or losing an origin moves
// only that origin's share.
//
// It is a hash ring with virtual nodes (as groupcache's consistenthash) rather than
// rendezvous hashing: a pick is one binary search and usually one step, against one hash
// per origin for rendezvous; and failover order is simply the ring order after the key,
// where rendezvous would need the origins' scores sorted on every failover. The ring's
// next distinct origin is also exactly where the key would live if its origin were
// removed, so failover traffic lands on the origin that would inherit the key anyway.
type Pool struct {
	cfg     PoolConfig
	origins []*Origin

	// The ring, as parallel slices sorted by point: the point's hash, its origin, and how
	// many ring steps back the previous point of the same origin is (the whole ring for an
	// origin with one point). A walk from any start meets a point's origin for the first
	// time exactly when it is fewer steps in than that distance, which gives Pick "next
	// distinct origin" without a seen-set to allocate.
	points []uint64
	owner  []int32
	gap    []int32

	mu     sync.Mutex
	cancel context.CancelFunc // of the running health checks; nil before Start
	wg     sync.WaitGroup
}

// NewPool builds a pool over origin base URLs such as "http://127.0.0.1:8080". Every
// origin starts healthy; Start adds active health checks.
func NewPool(origins []string, cfg PoolConfig) (*Pool, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("origin pool: %w", err)
	}
	if len(origins) == 0 {
		return nil, errors.New("origin pool: no origins")
	}
	// Ring positions are int32 to keep the ring small in cache; 16M points is far past any
	// useful size anyway.
	if len(origins)*cfg.VirtualNodes > 1<<24 {
		return nil, fmt.Errorf("origin pool: %d origins with %d virtual nodes each is too big a ring", len(origins), cfg.VirtualNodes)
	}
	p := &Pool{cfg: cfg}
	seen := map[string]bool{}
	for _, raw := range origins {
		o, err := newOrigin(raw, cfg)
		if err != nil {
			return nil, fmt.Errorf("origin %q: %w", raw, err)
		}
		if seen[o.BaseURL] {
			return nil, fmt.Errorf("origin %q: listed twice", raw)
		}
		seen[o.BaseURL] = true
		p.origins = append(p.origins, o)
	}
	p.buildRing()
	return p, nil
}

func newOrigin(raw string, cfg PoolConfig) (*Origin, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	var port string
	switch u.Scheme {
	case "http":
		port = "80"
	case "https":
		port = "443"
	default:
		return nil, fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("no host")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("a base URL has no user info, query or fragment")
	}
	if p := u.Port(); p != "" {
		port = p
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	o := &Origin{
		// The explicit port makes http://h and http://h:80 one origin, with one place on
		// the ring.
		BaseURL:    u.Scheme + "://" + addr + strings.TrimRight(u.EscapedPath(), "/"),
		Addr:       addr,
		TLS:        u.Scheme == "https",
		ejectAfter: int32(min(cfg.EjectAfter, 1<<30)),
		ejectFor:   cfg.EjectFor,
		now:        time.Now,
	}
	o.up.Store(true)
	o.health = &fasthttp.HostClient{
		Addr: addr, IsTLS: o.TLS, Name: "luffy-edge-health",
		// One check at a time; the second connection covers one that a timed-out check
		// has not released yet.
		MaxConns:    2,
		ReadTimeout: cfg.HealthTimeout, WriteTimeout: cfg.HealthTimeout,
		MaxResponseBodySize: 64 << 10,
	}
	return o, nil
}

func (p *Pool) buildRing() {
	type point struct {
		hash  uint64
		owner int32
	}
	ring := make([]point, 0, len(p.origins)*p.cfg.VirtualNodes)
	var buf []byte
	for i, o := range p.origins {
		for v := range p.cfg.VirtualNodes {
			// Points hash the origin's URL, not its position in the list, so the ring
			// does not depend on the order origins are configured in.
			buf = append(append(append(buf[:0], o.BaseURL...), '#'), strconv.Itoa(v)...)
			ring = append(ring, point{xxhash.Sum64(buf), int32(i)})
		}
	}
	// Ties on hash (practically never) are broken by owner so every edge builds the same
	// ring from the same origins.
	slices.SortFunc(ring, func(a, b point) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(a.owner, b.owner))
	})
	n := len(ring)
	p.points = make([]uint64, n)
	p.owner = make([]int32, n)
	p.gap = make([]int32, n)
	last := make([]int, len(p.origins)) // each origin's latest point, seen from one lap earlier
	for i, pt := range ring {
		p.points[i], p.owner[i] = pt.hash, pt.owner
		last[pt.owner] = i - n
	}
	for i, pt := range ring {
		p.gap[i] = int32(i - last[pt.owner])
		last[pt.owner] = i
	}
}

// Pick returns the origin for a cache key: for attempt 0 the first healthy origin at or
// after the key's place on the ring, for attempt 1, 2, ... the next distinct healthy
// origins in ring order (failover). It returns false when the healthy origins run out.
// It does not allocate.
//
// Attempts are counted over the origins healthy at the time of each call, so an origin
// ejected between two attempts of one request can shift the order by one (one origin is
// skipped); the loop that counts attempts still ends.
func (p *Pool) Pick(key []byte, attempt int) (*Origin, bool) {
	if attempt < 0 {
		return nil, false
	}
	n := len(p.points)
	h := xxhash.Sum64(key)
	// The first point at or after h; past the last point the ring wraps to the first.
	lo, hi := 0, n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if p.points[mid] < h {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	distinct := 0
	for step := range n {
		i := lo + step
		if i >= n {
			i -= n
		}
		if int(p.gap[i]) <= step {
			continue // this origin came up earlier in the walk
		}
		o := p.origins[p.owner[i]]
		if o.Healthy() {
			if attempt == 0 {
				return o, true
			}
			attempt--
		}
		if distinct++; distinct == len(p.origins) {
			break
		}
	}
	return nil, false
}

// Origins returns the pool's origins in configuration order, for metrics and for building
// one HTTP client per origin.
func (p *Pool) Origins() []*Origin { return slices.Clone(p.origins) }

// Start runs the active health checks, one goroutine per origin, each checking at once
// and then every HealthInterval, until ctx ends or Stop is called. A second Start is a
// no-op.
func (p *Pool) Start(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		return
	}
	ctx, p.cancel = context.WithCancel(ctx)
	for _, o := range p.origins {
		p.wg.Go(func() { p.watch(ctx, o) })
	}
}

// Stop ends the health checks and waits for them; a check in flight may take up to
// HealthTimeout to return. Stop without Start returns at once.
func (p *Pool) Stop() {
	p.mu.Lock()
	cancel := p.cancel
	p.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	p.wg.Wait()
}

func (p *Pool) watch(ctx context.Context, o *Origin) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(o.BaseURL + p.cfg.HealthPath)
	req.Header.SetMethod(fasthttp.MethodGet)
	t := time.NewTicker(p.cfg.HealthInterval)
	defer t.Stop()
	for {
		// One failed check marks the origin down: a check runs every couple of seconds,
		// so waiting for several would keep sending viewers to a dead origin for longer
		// than passive ejection takes; one passing check brings it back for the same
		// reason.
		err := o.health.DoTimeout(req, resp, p.cfg.HealthTimeout)
		o.up.Store(err == nil && resp.StatusCode() >= 200 && resp.StatusCode() < 300)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
