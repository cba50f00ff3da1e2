// Package limit protects a server from one client taking more than its share: token
// buckets per key (a client address, a user) for request rates, and a listener that caps
// the connections one address may hold open. Both exempt configured networks, so that a
// load test from loopback, or a trusted load balancer, is not throttled as one client.
package limit

import (
	"context"
	"hash/maphash"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Exempt is a set of networks no limit applies to.
type Exempt []netip.Prefix

// ParseExempt reads networks ("127.0.0.0/8") and addresses ("::1").
func ParseExempt(list []string) (Exempt, error) {
	var out Exempt
	for _, s := range list {
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, err
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Contains reports whether addr is in one of the networks.
func (e Exempt) Contains(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range e {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

const shards = 64

// Rate is a token bucket per key: perSecond requests a second on average, burst at once.
// Keys unseen for ten minutes are forgotten. A nil *Rate allows everything.
type Rate struct {
	limit rate.Limit
	burst int
	seed  maphash.Seed
	shard [shards]struct {
		mu sync.Mutex
		m  map[string]*bucket
	}
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewRate returns a limiter of perSecond with burst; nil (no limit) when perSecond <= 0.
func NewRate(perSecond float64, burst int) *Rate {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = max(1, int(math.Ceil(perSecond)))
	}
	r := &Rate{limit: rate.Limit(perSecond), burst: burst, seed: maphash.MakeSeed()}
	for i := range r.shard {
		r.shard[i].m = map[string]*bucket{}
	}
	return r
}

// Allow takes a token from key's bucket. When there is none it reports false and how
// long until there will be one (for Retry-After).
func (r *Rate) Allow(key string, now time.Time) (bool, time.Duration) {
	if r == nil {
		return true, 0
	}
	sh := &r.shard[maphash.String(r.seed, key)%shards]
	sh.mu.Lock()
	b := sh.m[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(r.limit, r.burst)}
		sh.m[key] = b
	}
	b.seen = now
	res := b.lim.ReserveN(now, 1)
	wait := res.DelayFrom(now)
	if wait > 0 {
		res.CancelAt(now) // refused: the token is not taken
	}
	sh.mu.Unlock()
	return wait == 0, wait
}

// Len is the number of keys tracked.
func (r *Rate) Len() int {
	if r == nil {
		return 0
	}
	n := 0
	for i := range r.shard {
		r.shard[i].mu.Lock()
		n += len(r.shard[i].m)
		r.shard[i].mu.Unlock()
	}
	return n
}

// Forget drops the keys unseen since before.
func (r *Rate) Forget(before time.Time) {
	if r == nil {
		return
	}
	for i := range r.shard {
		sh := &r.shard[i]
		sh.mu.Lock()
		for k, b := range sh.m {
			if b.seen.Before(before) {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}

// Run forgets idle keys every minute until ctx ends.
func (r *Rate) Run(ctx context.Context) {
	if r == nil {
		return
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.Forget(now.Add(-10 * time.Minute))
		}
	}
}

// Conns wraps a listener so that one address holds at most max connections at once; a
// connection past that is closed as soon as it is accepted. Exempt addresses are not
// counted. Rejected counts the connections closed that way.
type Conns struct {
	net.Listener
	max    int
	exempt Exempt
	mu     sync.Mutex
	open   map[netip.Addr]int
	// OnReject, when set, is called for each connection refused.
	OnReject func()
}

// NewConns wraps ln; max <= 0 returns ln as it is.
func NewConns(ln net.Listener, max int, exempt Exempt) net.Listener {
	if max <= 0 {
		return ln
	}
	return &Conns{Listener: ln, max: max, exempt: exempt, open: map[netip.Addr]int{}}
}

// Accept returns the next connection within its address's cap.
func (c *Conns) Accept() (net.Conn, error) {
	for {
		conn, err := c.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := remoteAddr(conn)
		if !addr.IsValid() || c.exempt.Contains(addr) {
			return conn, nil
		}
		c.mu.Lock()
		if c.open[addr] >= c.max {
			c.mu.Unlock()
			// Counted before the close, so that whoever sees the connection closed
			// also finds it counted.
			if c.OnReject != nil {
				c.OnReject()
			}
			conn.Close()
			continue
		}
		c.open[addr]++
		c.mu.Unlock()
		return &countedConn{Conn: conn, owner: c, addr: addr}, nil
	}
}

func (c *Conns) release(addr netip.Addr) {
	c.mu.Lock()
	if c.open[addr] <= 1 {
		delete(c.open, addr)
	} else {
		c.open[addr]--
	}
	c.mu.Unlock()
}

type countedConn struct {
	net.Conn
	owner *Conns
	addr  netip.Addr
	once  sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.owner.release(c.addr) })
	return err
}

func remoteAddr(conn net.Conn) netip.Addr {
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}
