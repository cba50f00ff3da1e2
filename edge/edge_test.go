package edge

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// scriptOrigin is an origin whose answers a test sets per path, and which counts what it
// is asked: the edge's behaviours are about what reaches the origin.
type scriptOrigin struct {
	mu      sync.Mutex
	routes  map[string]func(ctx *fasthttp.RequestCtx)
	counts  map[string]int
	failing atomic.Bool
	base    string
	ln      net.Listener
}

func newScriptOrigin(t testing.TB) *scriptOrigin {
	t.Helper()
	o := &scriptOrigin{routes: map[string]func(*fasthttp.RequestCtx){}, counts: map[string]int{}}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.ln, o.base = ln, "http://"+ln.Addr().String()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		path := string(ctx.Path())
		if path == "/healthz" {
			return
		}
		o.mu.Lock()
		o.counts[path]++
		h := o.routes[path]
		o.mu.Unlock()
		if o.failing.Load() {
			ctx.SetStatusCode(500)
			return
		}
		if h == nil {
			ctx.SetStatusCode(404)
			return
		}
		h(ctx)
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return o
}

func (o *scriptOrigin) route(path string, h func(ctx *fasthttp.RequestCtx)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.routes[path] = h
}

func (o *scriptOrigin) count(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[path]
}

// static answers body with a Cache-Control and a version number that changes when the
// test bumps it.
func static(cc string, version *atomic.Int64) func(ctx *fasthttp.RequestCtx) {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", cc)
		ctx.Response.Header.Set("Surrogate-Key", "things thing-1")
		ctx.SetContentType("application/json")
		fmt.Fprintf(ctx, `{"version":%d}`, version.Load())
	}
}

func startEdge(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.PurgeSecret == "" {
		cfg.PurgeSecret = "test-purge-secret"
	}
	if cfg.TokenPublicKey == "" {
		cfg.TokenPublicKey = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=" // any valid key: these tests do not play video
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(context.Background(), ln); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	return s
}

type resp struct {
	status int
	header http.Header
	body   string
}

var client = &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 1100}, Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t testing.TB, url string, headers ...string) resp {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	r, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, r.Header, string(b)}
}

func purge(t testing.TB, edge *Server, body, secret string) resp {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+edge.Addr()+"/edge/purge", strings.NewReader(body))
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	r, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, r.Header, string(b)}
}

func TestCoalescesConcurrentMisses(t *testing.T) {
	o := newScriptOrigin(t)
	var v atomic.Int64
	o.route("/slow", func(ctx *fasthttp.RequestCtx) {
		time.Sleep(200 * time.Millisecond)
		static("public, s-maxage=60", &v)(ctx)
	})
	e := startEdge(t, Config{Origins: []string{o.base}})
	const n = 1000
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := get(t, "http://"+e.Addr()+"/slow"); r.status == 200 && r.body == `{"version":0}` {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != n || o.count("/slow") != 1 {
		t.Fatalf("%d of %d requests answered; the origin was asked %d times, want 1", ok.Load(), n, o.count("/slow"))
	}
}

func TestHonorsCacheControl(t *testing.T) {
	o := newScriptOrigin(t)
	var v atomic.Int64
	for path, cc := range map[string]string{
		"/shared": "public, max-age=0, s-maxage=60", "/maxage": "public, max-age=60",
		"/private": "private, max-age=60", "/nostore": "no-store", "/none": "",
	} {
		o.route(path, static(cc, &v))
	}
	e := startEdge(t, Config{Origins: []string{o.base}})
	f := func(path string, wantOrigin int) {
		t.Helper()
		for range 3 {
			get(t, "http://"+e.Addr()+path)
		}
		e.cache.Wait()
		get(t, "http://"+e.Addr()+path)
		if got := o.count(path); got != wantOrigin {
			t.Errorf("%s: the origin was asked %d times for 4 requests, want %d", path, got, wantOrigin)
		}
	}
	f("/shared", 1)
	f("/maxage", 1)
	f("/private", 4)
	f("/nostore", 4)
	f("/none", 4)
	r := get(t, "http://"+e.Addr()+"/shared")
	if r.header.Get("Cache-Status") != "luffy-edge; hit" || r.header.Get("Surrogate-Key") != "things thing-1" {
		t.Errorf("hit headers: Cache-Status %q, Surrogate-Key %q", r.header.Get("Cache-Status"), r.header.Get("Surrogate-Key"))
	}
	// query order and tracking parameters do not split the cache
	get(t, "http://"+e.Addr()+"/shared?b=2&a=1")
	e.cache.Wait()
	if r := get(t, "http://"+e.Addr()+"/shared?a=1&utm_source=x&b=2"); r.header.Get("Cache-Status") != "luffy-edge; hit" {
		t.Errorf("a reordered query with a tracking parameter missed: %q", r.header.Get("Cache-Status"))
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	o := newScriptOrigin(t)
	var v atomic.Int64
	o.route("/swr", static("public, s-maxage=1, stale-while-revalidate=30", &v))
	e := startEdge(t, Config{Origins: []string{o.base}})
	url := "http://" + e.Addr() + "/swr"
	get(t, url)
	e.cache.Wait()
	v.Store(1)
	time.Sleep(1100 * time.Millisecond)
	r := get(t, url)
	if r.body != `{"version":0}` || !strings.Contains(r.header.Get("Cache-Status"), "fwd=stale") {
		t.Fatalf("stale request: %s, %q", r.body, r.header.Get("Cache-Status"))
	}
	deadline := time.Now().Add(2 * time.Second)
	for get(t, url).body != `{"version":1}` {
		if time.Now().After(deadline) {
			t.Fatal("the background refresh never landed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := o.count("/swr"); n != 2 {
		t.Errorf("the origin was asked %d times, want 2 (one refresh)", n)
	}
}

func TestStaleIfErrorAndNeverAfterPurge(t *testing.T) {
	o := newScriptOrigin(t)
	var v atomic.Int64
	o.route("/sie", static("public, s-maxage=1, stale-if-error=60", &v))
	o.route("/other", static("public, s-maxage=1, stale-if-error=60", &v))
	e := startEdge(t, Config{Origins: []string{o.base}})
	url := "http://" + e.Addr() + "/sie"
	get(t, url)
	get(t, "http://"+e.Addr()+"/other")
	e.cache.Wait()
	o.failing.Store(true)
	time.Sleep(1100 * time.Millisecond)
	r := get(t, url)
	if r.status != 200 || r.body != `{"version":0}` || !strings.Contains(r.header.Get("Cache-Status"), "stale-if-error") {
		t.Fatalf("with the origin failing: %d %s %q", r.status, r.body, r.header.Get("Cache-Status"))
	}
	// purged content is not served again, not even as stale
	if p := purge(t, e, `{"urls": ["/sie"]}`, "test-purge-secret"); p.status != 200 {
		t.Fatalf("purge: %d %s", p.status, p.body)
	}
	if r := get(t, url); r.status != 500 || r.body == `{"version":0}` {
		t.Errorf("after a purge with the origin failing: %d %s, want the origin's 500", r.status, r.body)
	}
	if p := purge(t, e, `{"keys": ["thing-1"]}`, "test-purge-secret"); p.status != 200 {
		t.Fatalf("purge by key: %d %s", p.status, p.body)
	}
	if r := get(t, "http://"+e.Addr()+"/other"); r.status != 500 {
		t.Errorf("after a surrogate-key purge: %d, want the origin's 500", r.status)
	}
}

func TestPurgeNeedsTheSecret(t *testing.T) {
	o := newScriptOrigin(t)
	e := startEdge(t, Config{Origins: []string{o.base}})
	for _, secret := range []string{"", "wrong"} {
		if r := purge(t, e, `{"urls": ["/x"]}`, secret); r.status != 401 {
			t.Errorf("purge with secret %q: %d", secret, r.status)
		}
	}
	for _, body := range []string{`{}`, `{"urls": "x"}`, `not json`, `{"urls": [], "keys": []}`} {
		if r := purge(t, e, body, "test-purge-secret"); r.status != 400 {
			t.Errorf("purge %s: %d", body, r.status)
		}
	}
}

func TestRevalidatesWithETag(t *testing.T) {
	o := newScriptOrigin(t)
	var notModified atomic.Int64
	o.route("/etag", func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "public, s-maxage=1")
		ctx.Response.Header.Set("ETag", `"v1"`)
		if string(ctx.Request.Header.Peek("If-None-Match")) == `"v1"` {
			notModified.Add(1)
			ctx.SetStatusCode(304)
			return
		}
		ctx.SetBodyString("body-v1")
	})
	o.route("/always", func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "public, max-age=0")
		ctx.Response.Header.Set("ETag", `"a1"`)
		if string(ctx.Request.Header.Peek("If-None-Match")) == `"a1"` {
			notModified.Add(1)
			ctx.SetStatusCode(304)
			return
		}
		ctx.SetBodyString("always revalidated")
	})
	e := startEdge(t, Config{Origins: []string{o.base}})
	// max-age=0 with an ETag: kept, and revalidated on every request
	for range 3 {
		if r := get(t, "http://"+e.Addr()+"/always"); r.body != "always revalidated" {
			t.Fatalf("max-age=0: %q", r.body)
		}
		e.cache.Wait()
	}
	if n := notModified.Swap(0); n != 2 {
		t.Errorf("max-age=0 with an ETag: %d revalidations for 3 requests, want 2", n)
	}
	url := "http://" + e.Addr() + "/etag"
	get(t, url)
	e.cache.Wait()
	time.Sleep(1100 * time.Millisecond)
	r := get(t, url)
	if r.status != 200 || r.body != "body-v1" || notModified.Load() != 1 {
		t.Fatalf("revalidation: %d %q, origin 304s %d", r.status, r.body, notModified.Load())
	}
	e.cache.Wait()
	if r := get(t, url); r.header.Get("Cache-Status") != "luffy-edge; hit" {
		t.Errorf("after a 304 the entry is not fresh again: %q", r.header.Get("Cache-Status"))
	}
	if r := get(t, url, "If-None-Match", `"v1"`); r.status != 304 {
		t.Errorf("client revalidation at the edge: %d", r.status)
	}
}

func TestNegativeCaching(t *testing.T) {
	o := newScriptOrigin(t)
	e := startEdge(t, Config{Origins: []string{o.base}, NegativeTTL: time.Second})
	url := "http://" + e.Addr() + "/missing"
	get(t, url)
	e.cache.Wait()
	if r := get(t, url); r.status != 404 || o.count("/missing") != 1 {
		t.Errorf("second 404: %d, origin asked %d times", r.status, o.count("/missing"))
	}
	time.Sleep(1100 * time.Millisecond)
	get(t, url)
	if o.count("/missing") != 2 {
		t.Errorf("a 404 was cached past the negative TTL")
	}
}

func TestFailsOverToAnotherOrigin(t *testing.T) {
	good := newScriptOrigin(t)
	var v atomic.Int64
	for i := range 50 {
		good.route(fmt.Sprintf("/k%d", i), static("public, s-maxage=60", &v))
	}
	dead, _ := net.Listen("tcp4", "127.0.0.1:0")
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	e := startEdge(t, Config{Origins: []string{deadURL, good.base}})
	for i := range 50 {
		if r := get(t, fmt.Sprintf("http://%s/k%d", e.Addr(), i)); r.status != 200 {
			t.Fatalf("/k%d with one origin dead: %d %s", i, r.status, r.body)
		}
	}
}

func TestPassesWritesThrough(t *testing.T) {
	o := newScriptOrigin(t)
	o.route("/api/v1/auth/login", func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(201)
		ctx.SetBody(append([]byte("got "), ctx.PostBody()...))
	})
	e := startEdge(t, Config{Origins: []string{o.base}})
	r, err := client.Post("http://"+e.Addr()+"/api/v1/auth/login", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 201 || string(b) != `got {"a":1}` || r.Header.Get("Cache-Status") != "luffy-edge; fwd=bypass" {
		t.Errorf("POST through the edge: %d %q %q", r.StatusCode, b, r.Header.Get("Cache-Status"))
	}
}

// --parent makes an edge a child of another (a shield tier): the child's misses go to
// the parent, and the origin sees one request for any number of children's misses.
func TestParentShieldsTheOrigin(t *testing.T) {
	o := newScriptOrigin(t)
	var v atomic.Int64
	o.route("/shielded", static("public, s-maxage=60", &v))
	parent := startEdge(t, Config{Origins: []string{o.base}})
	children := []*Server{
		startEdge(t, Config{Parent: "http://" + parent.Addr()}),
		startEdge(t, Config{Parent: "http://" + parent.Addr()}),
	}
	for _, c := range children {
		if r := get(t, "http://"+c.Addr()+"/shielded"); r.status != 200 || r.body != `{"version":0}` {
			t.Fatalf("through a child: %d %s", r.status, r.body)
		}
		parent.cache.Wait()
	}
	if n := o.count("/shielded"); n != 1 {
		t.Errorf("the origin was asked %d times through two children and a parent, want 1", n)
	}
}

// What must not be shared or lost: answers to credentialed requests, responses that vary
// on more than the encoding, the origin's other headers, the viewer's address.
func TestSharesOnlyWhatIsShareable(t *testing.T) {
	o := newScriptOrigin(t)
	o.route("/me", func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "public, s-maxage=60")
		ctx.SetBodyString("auth=" + string(ctx.Request.Header.Peek("Authorization")))
	})
	o.route("/varies", func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "public, s-maxage=60")
		ctx.Response.Header.Set("Vary", "Cookie, Accept-Encoding")
		ctx.SetBodyString("for " + string(ctx.Request.Header.Peek("X-Who")))
	})
	o.route("/moved", func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Location", "/elsewhere")
		ctx.Response.Header.Set("Last-Modified", "Wed, 25 Nov 2026 10:00:00 GMT")
		ctx.SetStatusCode(302)
	})
	o.route("/xff", func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString(string(ctx.Request.Header.Peek("X-Forwarded-For")))
	})
	o.route("/boom", func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(500)
		ctx.SetBodyString("application error")
	})
	o.route("/strict", func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "public, s-maxage=1, must-revalidate, stale-if-error=600")
		ctx.SetBodyString("strict")
	})
	e := startEdge(t, Config{Origins: []string{o.base}})
	base := "http://" + e.Addr()

	if r := get(t, base+"/me", "Authorization", "Bearer alice"); r.body != "auth=Bearer alice" {
		t.Errorf("the Authorization header did not reach the origin: %q", r.body)
	}
	if r := get(t, base+"/me", "Authorization", "Bearer bob"); r.body != "auth=Bearer bob" {
		t.Errorf("bob got %q", r.body)
	}
	get(t, base+"/varies", "X-Who", "alice")
	e.cache.Wait()
	if r := get(t, base+"/varies", "X-Who", "bob"); r.body != "for bob" || o.count("/varies") != 2 {
		t.Errorf("a response that varies on Cookie was shared: bob got %q", r.body)
	}
	if r := get(t, base+"/moved"); r.status != 302 || r.header.Get("Location") != "/elsewhere" || r.header.Get("Last-Modified") == "" {
		t.Errorf("302: %d, Location %q, Last-Modified %q", r.status, r.header.Get("Location"), r.header.Get("Last-Modified"))
	}
	if r := get(t, base+"/xff", "X-Forwarded-For", "6.6.6.6"); r.body != "127.0.0.1" {
		t.Errorf("the origin was told the viewer is %q", r.body)
	}
	for range 5 {
		if r := get(t, base+"/boom"); r.status != 500 || r.body != "application error" {
			t.Fatalf("an application 500: %d %q", r.status, r.body)
		}
	}
	for _, org := range e.pool.Origins() {
		if !org.Healthy() {
			t.Errorf("application 500s ejected origin %s", org.BaseURL)
		}
	}
	get(t, base+"/strict")
	e.cache.Wait()
	o.failing.Store(true)
	time.Sleep(1100 * time.Millisecond)
	if r := get(t, base+"/strict"); r.status == 200 {
		t.Errorf("a must-revalidate response was served stale")
	}
	if r := get(t, base+"/a/../strict"); r.status != 400 {
		t.Errorf("a path with dot segments: %d", r.status)
	}
}

// Server-sent events pass through the edge as they come: the first event reaches the
// client while the origin is still writing the stream.
func TestRelaysEventStreams(t *testing.T) {
	o := newScriptOrigin(t)
	release := make(chan struct{})
	o.route("/api/v1/submissions/7/events", func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/event-stream")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			fmt.Fprintf(w, "event: progress\ndata: {\"n\":1}\n\n")
			w.Flush()
			<-release
			fmt.Fprintf(w, "event: done\ndata: {\"n\":2}\n\n")
			w.Flush()
		})
	})
	e := startEdge(t, Config{Origins: []string{o.base}})
	req, _ := http.NewRequest("GET", "http://"+e.Addr()+"/api/v1/submissions/7/events", nil)
	req.Header.Set("Authorization", "Bearer x")
	r, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	lines := bufio.NewReader(r.Body)
	first, err := lines.ReadString('\n')
	if err != nil || first != "event: progress\n" || r.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("first line %q (%v), content type %q", first, err, r.Header.Get("Content-Type"))
	}
	close(release) // only now does the origin finish the stream
	rest, _ := io.ReadAll(lines)
	if !strings.Contains(string(rest), "event: done") {
		t.Fatalf("rest of the stream: %q", rest)
	}
	if o.count("/api/v1/submissions/7/events") != 1 {
		t.Fatal("the stream was not fetched exactly once")
	}
}
