package edge

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// poolKeys are cache-key-shaped keys, the kind Pick hashes in production.
func poolKeys(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte("g|edge.luffycity.com/api/v1/courses/" + strconv.Itoa(i) + "?limit=20")
	}
	return keys
}

func mustPool(t *testing.T, origins []string, cfg PoolConfig) *Pool {
	t.Helper()
	p, err := NewPool(origins, cfg)
	if err != nil {
		t.Fatalf("NewPool(%q): %v", origins, err)
	}
	return p
}

func mustPick(t *testing.T, p *Pool, key []byte, attempt int) *Origin {
	t.Helper()
	o, ok := p.Pick(key, attempt)
	if !ok {
		t.Fatalf("Pick(%q, %d): no origin", key, attempt)
	}
	return o
}

// startHealthOrigin serves h on a loopback port until the test ends and returns its base URL.
func startHealthOrigin(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := &fasthttp.Server{Handler: h}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	return "http://" + ln.Addr().String()
}

// closedHealthOrigin returns the base URL of a loopback port nothing listens on any more.
func closedHealthOrigin(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return "http://" + addr
}

func healthAnswering(status *atomic.Int32, checks *atomic.Int64) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if checks != nil && string(ctx.Path()) == "/healthz" {
			checks.Add(1)
		}
		ctx.SetStatusCode(int(status.Load()))
	}
}

// waitHealth polls cond until it holds or d passes, and reports how long it took.
func waitHealth(d time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > d {
			return time.Since(start), false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestNewPool(t *testing.T) {
	f := func(origins []string, cfg PoolConfig, wantErr string, wantBase ...string) {
		t.Helper()
		p, err := NewPool(origins, cfg)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("NewPool(%q): error %v, want one containing %q", origins, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Errorf("NewPool(%q): %v", origins, err)
			return
		}
		var got []string
		for _, o := range p.Origins() {
			got = append(got, o.BaseURL+" "+o.Addr+" "+strconv.FormatBool(o.TLS))
		}
		if strings.Join(got, ",") != strings.Join(wantBase, ",") {
			t.Errorf("NewPool(%q) origins %q, want %q", origins, got, wantBase)
		}
	}
	f([]string{"http://127.0.0.1:8080", "https://origin.example/prefix/", "http://[::1]"}, PoolConfig{}, "",
		"http://127.0.0.1:8080 127.0.0.1:8080 false", "https://origin.example:443/prefix origin.example:443 true", "http://[::1]:80 [::1]:80 false")
	f(nil, PoolConfig{}, "no origins")
	f([]string{"127.0.0.1:8080"}, PoolConfig{}, `origin "127.0.0.1:8080": parse`)
	f([]string{"localhost:8080"}, PoolConfig{}, `scheme "localhost" is not http or https`)
	f([]string{"ftp://h"}, PoolConfig{}, `origin "ftp://h": scheme "ftp"`)
	f([]string{"http://"}, PoolConfig{}, "no host")
	f([]string{"http://h?x=1"}, PoolConfig{}, "no user info, query or fragment")
	f([]string{"http://h", "http://h:80/"}, PoolConfig{}, `origin "http://h:80/": listed twice`)
	f([]string{"http://h:bad"}, PoolConfig{}, `origin "http://h:bad": parse`)
	f([]string{"http://h"}, PoolConfig{HealthPath: "healthz"}, `health path "healthz" does not start with /`)
	f([]string{"http://h"}, PoolConfig{HealthInterval: -time.Second}, "cannot be negative")
	f([]string{"http://h"}, PoolConfig{EjectAfter: -1}, "eject-after -1 is negative")
	f([]string{"http://h"}, PoolConfig{VirtualNodes: 1 << 25}, "too big a ring")
}

func TestPoolSpread(t *testing.T) {
	p := mustPool(t, []string{"http://10.0.0.1:8080", "http://10.0.0.2:8080", "http://10.0.0.3:8080"}, PoolConfig{})
	keys := poolKeys(1000)
	count := map[*Origin]int{}
	for _, k := range keys {
		count[mustPick(t, p, k, 0)]++
	}
	for _, o := range p.Origins() {
		if share := count[o] * 100 / len(keys); share < 20 || share > 47 {
			t.Errorf("%s owns %d%% of the keys, want 20-47%%: %v", o, share, count)
		}
	}
}

func TestPoolStability(t *testing.T) {
	all := mustPool(t, []string{"http://10.0.0.1:8080", "http://10.0.0.2:8080", "http://10.0.0.3:8080"}, PoolConfig{})
	// the same origins in another order, minus the second
	fewer := mustPool(t, []string{"http://10.0.0.3:8080", "http://10.0.0.1:8080"}, PoolConfig{})
	const removed = "http://10.0.0.2:8080"
	moved := 0
	for _, k := range poolKeys(1000) {
		before, after := mustPick(t, all, k, 0), mustPick(t, fewer, k, 0)
		if before.BaseURL != removed {
			if after.BaseURL != before.BaseURL {
				t.Errorf("key %q moved from %s to %s though its origin stayed", k, before, after)
			}
			continue
		}
		moved++
		// failover sends a key where it would live without its origin
		if next := mustPick(t, all, k, 1); next.BaseURL != after.BaseURL {
			t.Errorf("key %q fails over to %s but without %s lives on %s", k, next, removed, after)
		}
	}
	if moved == 0 {
		t.Fatalf("no key was owned by %s", removed)
	}
}

// TestPoolFailover runs real origins, one answering its health check with 500 and one
// not listening, and checks that every key goes to the healthy origins in ring order.
func TestPoolFailover(t *testing.T) {
	up, down := &atomic.Int32{}, &atomic.Int32{}
	up.Store(200)
	down.Store(500)
	a, b := startHealthOrigin(t, healthAnswering(up, nil)), startHealthOrigin(t, healthAnswering(up, nil))
	sick, gone := startHealthOrigin(t, healthAnswering(down, nil)), closedHealthOrigin(t)
	p := mustPool(t, []string{a, b, sick, gone}, PoolConfig{HealthInterval: 20 * time.Millisecond, HealthTimeout: 500 * time.Millisecond})

	// Before any check every origin counts as healthy, so this is the plain ring order.
	keys := poolKeys(200)
	order := make([][]*Origin, len(keys))
	for i, k := range keys {
		for attempt := range 4 {
			order[i] = append(order[i], mustPick(t, p, k, attempt))
		}
		if _, ok := p.Pick(k, 4); ok {
			t.Fatalf("Pick(%q, 4) found a fifth origin among four", k)
		}
	}

	p.Start(t.Context())
	defer p.Stop()
	byURL := map[string]*Origin{}
	for _, o := range p.Origins() {
		byURL[o.BaseURL] = o
	}
	if _, ok := waitHealth(5*time.Second, func() bool { return !byURL[sick].Healthy() && !byURL[gone].Healthy() }); !ok {
		t.Fatalf("origins answering 500 and refusing connections still healthy")
	}
	if !byURL[a].Healthy() || !byURL[b].Healthy() {
		t.Fatalf("healthy origins marked down")
	}

	primaryDown := 0
	for i, k := range keys {
		var want []*Origin
		for _, o := range order[i] {
			if o.BaseURL == a || o.BaseURL == b {
				want = append(want, o)
			}
		}
		if order[i][0] != want[0] {
			primaryDown++
		}
		for attempt, w := range want {
			if got := mustPick(t, p, k, attempt); got != w {
				t.Errorf("Pick(%q, %d) = %s, want %s (ring order %v)", k, attempt, got, w, order[i])
			}
		}
		if o, ok := p.Pick(k, len(want)); ok {
			t.Errorf("Pick(%q, %d) = %s, want none left", k, len(want), o)
		}
	}
	if primaryDown == 0 {
		t.Fatalf("no key had a down origin first; the test proved nothing")
	}
}

func TestPoolPassiveEjection(t *testing.T) {
	p := mustPool(t, []string{"http://10.0.0.1:8080", "http://10.0.0.2:8080", "http://10.0.0.3:8080"},
		PoolConfig{EjectAfter: 3, EjectFor: 10 * time.Second})
	now := time.Unix(1_700_000_000, 0)
	for _, o := range p.Origins() {
		o.now = func() time.Time { return now }
	}
	key := poolKeys(1)[0]
	o, next := mustPick(t, p, key, 0), mustPick(t, p, key, 1)

	o.ReportFailure()
	o.ReportFailure()
	o.ReportSuccess() // breaks the run
	o.ReportFailure()
	o.ReportFailure()
	if !o.Healthy() || mustPick(t, p, key, 0) != o {
		t.Fatalf("ejected after two failures in a row")
	}
	o.ReportFailure()
	if o.Healthy() || o.Ejections() != 1 {
		t.Fatalf("three failures in a row: healthy %v, ejections %d", o.Healthy(), o.Ejections())
	}
	if got := mustPick(t, p, key, 0); got != next {
		t.Fatalf("with %s ejected, Pick = %s, want %s", o, got, next)
	}

	now = now.Add(10*time.Second - time.Nanosecond)
	if o.Healthy() {
		t.Fatalf("back before EjectFor passed")
	}
	now = now.Add(time.Nanosecond)
	if !o.Healthy() || mustPick(t, p, key, 0) != o {
		t.Fatalf("still ejected after EjectFor")
	}
	// the count starts over: one more failure does not eject again
	o.ReportFailure()
	if !o.Healthy() {
		t.Fatalf("ejected again by one failure after recovery")
	}
}

func TestPoolActiveHealthCheck(t *testing.T) {
	const interval = 100 * time.Millisecond
	// Scheduling slack on a loaded machine, on top of the two intervals the spec allows.
	const slack = 50 * time.Millisecond
	status, checks := &atomic.Int32{}, &atomic.Int64{}
	status.Store(200)
	p := mustPool(t, []string{startHealthOrigin(t, healthAnswering(status, checks))}, PoolConfig{HealthInterval: interval, HealthTimeout: time.Second})
	o := p.Origins()[0]
	ctx, cancel := context.WithCancel(t.Context())
	p.Start(ctx)
	if _, ok := waitHealth(time.Second, func() bool { return checks.Load() > 0 }); !ok {
		t.Fatalf("no health check arrived")
	}

	status.Store(500)
	if took, ok := waitHealth(2*interval+slack, func() bool { return !o.Healthy() }); !ok {
		t.Fatalf("origin answering 500 still healthy after %v", took)
	}
	if _, ok := p.Pick([]byte("k"), 0); ok {
		t.Fatalf("Pick returned the only origin while it is down")
	}
	status.Store(200)
	if took, ok := waitHealth(2*interval+slack, func() bool { return o.Healthy() }); !ok {
		t.Fatalf("origin answering 200 again still down after %v", took)
	}

	cancel()
	p.Stop()
	after := checks.Load()
	time.Sleep(3 * interval)
	if n := checks.Load(); n != after {
		t.Fatalf("%d health checks after Stop returned", n-after)
	}
}

func TestPoolStopWithoutStart(t *testing.T) {
	p := mustPool(t, []string{"http://10.0.0.1:8080"}, PoolConfig{})
	p.Stop()
}

func TestPoolPickAllocs(t *testing.T) {
	p := mustPool(t, []string{"http://10.0.0.1:8080", "http://10.0.0.2:8080", "http://10.0.0.3:8080"}, PoolConfig{})
	key := poolKeys(1)[0]
	// a down primary makes Pick walk the ring, the longer path
	down := mustPick(t, p, key, 0)
	for range 3 {
		down.ReportFailure()
	}
	allocs := testing.AllocsPerRun(1000, func() {
		p.Pick(key, 0)
		p.Pick(key, 1)
		p.Pick(key, 2)
	})
	if allocs != 0 {
		t.Fatalf("Pick allocates %.1f times per three calls", allocs)
	}
}
