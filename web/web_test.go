package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// The first load of the home page (index.html, the stylesheet, main.js and the modules
// it imports, and the catalog page it preloads) must stay small enough for a slow mobile
// connection: under 32 KiB as sent gzipped, 96 KiB before compression. hls.js (about
// 600 KiB) loads only on the player page and is not part of it.
const (
	firstLoadBudgetGzip = 32 << 10
	firstLoadBudgetRaw  = 96 << 10
)

func mustSite(t *testing.T) *Site {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// serve runs one request through s by hand; hdr is name, value pairs.
func serve(s *Site, method, uri string, hdr ...string) (*fasthttp.RequestCtx, bool) {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(uri)
	for i := 0; i+1 < len(hdr); i += 2 {
		ctx.Request.Header.Set(hdr[i], hdr[i+1])
	}
	ok := s.Serve(ctx)
	return ctx, ok
}

// header reads a response header as a client would, whatever its case: Serve sets
// "ETag" as spelled, which fasthttp's Peek (normalizing to "Etag") does not find.
func header(ctx *fasthttp.RequestCtx, name string) string {
	var v string
	for k, val := range ctx.Response.Header.All() {
		if strings.EqualFold(string(k), name) {
			v = string(val)
		}
	}
	return v
}

var fingerprinted = regexp.MustCompile(`^/static/[a-z0-9_/.-]+\.[0-9a-f]{10}\.(js|css)$`)

func TestEmbeddedAppIsFingerprinted(t *testing.T) {
	s := mustSite(t)
	for _, name := range []string{"main.js", "api.js", "ui.js", "app.css", "pages/catalog.js", "pages/player.js", "pages/problems.js"} {
		f := s.byName[name]
		if f == nil {
			t.Fatalf("%s is not in the site", name)
		}
		if !fingerprinted.MatchString(f.url) {
			t.Errorf("%s is served at %q, not a fingerprinted URL", name, f.url)
		}
		sum := sha256.Sum256(f.body)
		if want := hex.EncodeToString(sum[:])[:hashLen]; !strings.Contains(f.url, "."+want+".") {
			t.Errorf("%s: URL %s does not carry the hash of what it serves (%s)", name, f.url, want)
		}
	}
	// Every reference left in what is served is fingerprinted, but for an optional
	// asset this build lacks.
	bare := regexp.MustCompile(`/static/[A-Za-z0-9_./-]+`)
	for name, f := range s.byName {
		for _, ref := range bare.FindAllString(string(f.body), -1) {
			if fingerprinted.MatchString(ref) || (optionalAssets[strings.TrimPrefix(ref, staticPrefix)] && s.byName[strings.TrimPrefix(ref, staticPrefix)] == nil) {
				continue
			}
			t.Errorf("%s still refers to %s", name, ref)
		}
	}
	if !bytes.Contains(s.index.body, []byte(`<script type="module" src="`+s.byName["main.js"].url+`"></script>`)) {
		t.Errorf("index.html does not load main.js by its fingerprinted URL:\n%s", s.index.body)
	}
}

func TestFingerprintCoversImports(t *testing.T) {
	build := func(lib string) *Site {
		t.Helper()
		s, err := newSite(fstest.MapFS{
			"index.html": {Data: []byte(`<script type="module" src="/static/main.js"></script>`)},
			"main.js":    {Data: []byte(`import { f } from '/static/lib.js'; f();`)},
			"lib.js":     {Data: []byte(lib)},
			"other.js":   {Data: []byte(`export const x = 1;`)},
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := build(`export const f = () => 1;`), build(`export const f = () => 2;`)
	if a.byName["lib.js"].url == b.byName["lib.js"].url {
		t.Fatal("lib.js changed and kept its URL")
	}
	if a.byName["main.js"].url == b.byName["main.js"].url {
		t.Error("main.js imports a changed lib.js and kept its URL: a browser holding the old main.js would never load the new lib.js")
	}
	if a.byName["other.js"].url != b.byName["other.js"].url {
		t.Error("other.js did not change but its URL did")
	}
	if want := `import { f } from '` + a.byName["lib.js"].url + `'; f();`; string(a.byName["main.js"].body) != want {
		t.Errorf("main.js = %q, want %q", a.byName["main.js"].body, want)
	}
	if !bytes.Contains(a.index.body, []byte(a.byName["main.js"].url)) || bytes.Equal(a.index.etag, b.index.etag) {
		t.Error("index.html must name the new main.js and change its ETag")
	}
}

func TestNewRefusesBrokenApps(t *testing.T) {
	f := func(name string, app fstest.MapFS, wantErr string) {
		t.Helper()
		_, err := newSite(app)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: err = %v, want one mentioning %q", name, err, wantErr)
		}
	}
	f("no index", fstest.MapFS{"main.js": {Data: []byte(`1`)}}, "no index.html")
	f("unknown reference", fstest.MapFS{
		"index.html": {Data: []byte(`<script type="module" src="/static/mian.js"></script>`)},
		"main.js":    {Data: []byte(`1`)},
	}, "refers to /static/mian.js")
	f("cycle", fstest.MapFS{
		"index.html": {Data: []byte(`<script type="module" src="/static/a.js"></script>`)},
		"a.js":       {Data: []byte(`import '/static/b.js';`)},
		"b.js":       {Data: []byte(`import '/static/a.js';`)},
	}, "acyclic")
}

func TestOptionalAssetMayBeMissing(t *testing.T) {
	s, err := newSite(fstest.MapFS{
		"index.html":    {Data: []byte(`<script type="module" src="/static/player.js"></script>`)},
		"player.js":     {Data: []byte(`const src = '/static/vendor/hls.min.js';`)},
		"vendor/README": {Data: []byte(`copied at build time`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(s.byName["player.js"].body); got != `const src = '/static/vendor/hls.min.js';` {
		t.Errorf("player.js = %q: the reference to the missing file must stay as it is", got)
	}
	if _, ok := s.byName["vendor/README"]; ok {
		t.Error("the vendor README is served")
	}
}

func TestStaticImportsOnlyCountAsFirstLoad(t *testing.T) {
	f := func(before string, want bool) {
		t.Helper()
		if got := staticImport([]byte(before)); got != want {
			t.Errorf("staticImport(%q) = %v, want %v", before, got, want)
		}
	}
	f(`import { a } from '`, true)
	f("import {\n  a,\n} from\n  \"", true)
	f(`import '`, true)
	f(`export * from "`, true)
	f(`import('`, false)
	f(`const u = '`, false)
	f(`s.src = "`, false)
	f(`reimport '`, false)
	f(``, false)
}

func TestAssetHeaders(t *testing.T) {
	s := mustSite(t)
	main := s.byName["main.js"]
	ctx, ok := serve(s, "GET", main.url)
	if !ok || ctx.Response.StatusCode() != 200 {
		t.Fatalf("GET %s: served %v, status %d", main.url, ok, ctx.Response.StatusCode())
	}
	want := map[string]string{
		"Cache-Control":          "public, max-age=31536000, immutable",
		"Content-Type":           "text/javascript; charset=utf-8",
		"Vary":                   "Accept-Encoding",
		"X-Content-Type-Options": "nosniff",
		"ETag":                   string(main.etag),
		"Content-Encoding":       "",
	}
	for k, v := range want {
		if got := header(ctx, k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if !bytes.Equal(ctx.Response.Body(), main.body) {
		t.Error("body is not main.js")
	}
	css := s.byName["app.css"]
	ctx, _ = serve(s, "GET", css.url)
	if got := header(ctx, "Content-Type"); got != "text/css; charset=utf-8" {
		t.Errorf("app.css Content-Type %q", got)
	}
}

func TestGzip(t *testing.T) {
	s := mustSite(t)
	main := s.byName["main.js"]
	f := func(acceptEncoding string, wantGzip bool) {
		t.Helper()
		ctx, _ := serve(s, "GET", main.url, "Accept-Encoding", acceptEncoding)
		gotGzip := header(ctx, "Content-Encoding") == "gzip"
		if gotGzip != wantGzip {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", acceptEncoding, gotGzip, wantGzip)
			return
		}
		body := ctx.Response.Body()
		if gotGzip {
			if header(ctx, "ETag") != string(main.gzETag) {
				t.Errorf("gzip answer carries ETag %s, want its own %s", header(ctx, "ETag"), main.gzETag)
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(body, main.body) {
			t.Errorf("Accept-Encoding %q: body differs from main.js", acceptEncoding)
		}
	}
	f("gzip, deflate, br", true)
	f("br;q=1.0, gzip;q=0.8", true)
	f("*", true)
	f("", false)
	f("br", false)
	f("gzip;q=0", false)
	f("gzip; q=0.000", false)
	f("x-gzip-not", false)
}

func TestIfNoneMatch(t *testing.T) {
	s := mustSite(t)
	main := s.byName["main.js"]
	f := func(uri, inm string, want int) {
		t.Helper()
		ctx, _ := serve(s, "GET", uri, "If-None-Match", inm, "Accept-Encoding", "gzip")
		if got := ctx.Response.StatusCode(); got != want {
			t.Errorf("GET %s If-None-Match %s: %d, want %d", uri, inm, got, want)
		}
		if want == 304 && len(ctx.Response.Body()) != 0 {
			t.Errorf("304 with a body")
		}
	}
	f(main.url, string(main.etag), 304)
	f(main.url, string(main.gzETag), 304)
	f(main.url, `W/`+string(main.gzETag), 304)
	f(main.url, `"other", `+string(main.etag), 304)
	f(main.url, `"other"`, 200)
	f("/", string(s.index.gzETag), 304)
	f("/courses/2", string(s.index.etag), 304)
	f("/", `"stale"`, 200)
}

func TestIndexForEveryAppRoute(t *testing.T) {
	s := mustSite(t)
	for _, uri := range []string{"/", "/index.html", "/courses/2", "/problems/a-plus-b?x=1", "/static", "/apis", "/video", "/favicon.ico"} {
		for _, method := range []string{"GET", "HEAD"} {
			ctx, ok := serve(s, method, uri)
			if !ok || ctx.Response.StatusCode() != 200 {
				t.Errorf("%s %s: served %v, status %d; want the index", method, uri, ok, ctx.Response.StatusCode())
				continue
			}
			if got := header(ctx, "Cache-Control"); got != "public, max-age=60" {
				t.Errorf("%s %s: Cache-Control %q", method, uri, got)
			}
			if got := header(ctx, "Content-Type"); got != "text/html; charset=utf-8" {
				t.Errorf("%s %s: Content-Type %q", method, uri, got)
			}
			if header(ctx, "ETag") == "" || header(ctx, "Content-Security-Policy") == "" {
				t.Errorf("%s %s: no ETag or CSP", method, uri)
			}
			if !bytes.Equal(ctx.Response.Body(), s.index.body) {
				t.Errorf("%s %s: body is not index.html", method, uri)
			}
		}
	}
}

func TestOtherPathsAreNotServed(t *testing.T) {
	s := mustSite(t)
	f := func(method, uri string) {
		t.Helper()
		ctx, ok := serve(s, method, uri)
		if ok {
			t.Errorf("%s %s: served, want it left to the origin", method, uri)
		}
		if ctx.Response.StatusCode() != 200 || len(ctx.Response.Body()) != 0 || header(ctx, "Cache-Control") != "" {
			t.Errorf("%s %s: the response was touched", method, uri)
		}
	}
	f("GET", "/api/v1/courses")
	f("GET", "/api/v1/courses/2?x=1")
	f("GET", "/api")
	f("GET", "/api/")
	f("GET", "/v/TOKEN/vid/master.m3u8")
	f("GET", "/edge/purge")
	f("GET", "/metrics")
	f("GET", "/healthz")
	f("GET", "/readyz")
	f("POST", "/")
	f("POST", "/api/v1/orders")
	f("PUT", "/static/x.js")
	f("DELETE", "/courses/2")
}

func TestUnknownStaticIs404(t *testing.T) {
	s := mustSite(t)
	main := s.byName["main.js"]
	for _, uri := range []string{"/static/", "/static/nope.js", "/static/main.js", "/static/main.0000000000.js", main.url + "x"} {
		ctx, ok := serve(s, "GET", uri)
		if !ok || ctx.Response.StatusCode() != 404 {
			t.Errorf("GET %s: served %v, status %d; want a 404", uri, ok, ctx.Response.StatusCode())
			continue
		}
		var body struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(ctx.Response.Body(), &body); err != nil || body.Error.Code != "not_found" || body.Error.Message == "" {
			t.Errorf("GET %s: body %s", uri, ctx.Response.Body())
		}
		if got := header(ctx, "Content-Type"); got != "application/json" {
			t.Errorf("GET %s: Content-Type %q", uri, got)
		}
		if got := header(ctx, "Cache-Control"); got != "no-store" {
			t.Errorf("GET %s: Cache-Control %q: a 404 of an asset a newer origin has must not be cached", uri, got)
		}
	}
}

func TestFirstLoadBudget(t *testing.T) {
	s := mustSite(t)
	raw, gz := s.FirstLoadBytes()
	t.Logf("first load of the home page: %d bytes, %d gzipped", raw, gz)
	if gz > firstLoadBudgetGzip || raw > firstLoadBudgetRaw {
		t.Errorf("first load %d bytes (%d gzipped), over the budget of %d (%d gzipped)", raw, gz, firstLoadBudgetRaw, firstLoadBudgetGzip)
	}
	in := map[string]bool{}
	for _, f := range s.firstLoad {
		in[f.name] = true
	}
	for _, name := range []string{"index.html", "app.css", "main.js", "api.js", "ui.js", "pages/catalog.js"} {
		if !in[name] {
			t.Errorf("%s is loaded at once but not counted", name)
		}
	}
	for _, name := range []string{"vendor/hls.min.js", "pages/player.js", "pages/problems.js"} {
		if in[name] {
			t.Errorf("%s is counted in the first load; it loads only on its page", name)
		}
	}
}

// TestOverHTTP serves through a real fasthttp server: HEAD answers headers only, and a
// client that asks for gzip gets it.
func TestOverHTTP(t *testing.T) {
	s := mustSite(t)
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if !s.Serve(ctx) {
			ctx.Error("origin", fasthttp.StatusTeapot)
		}
	}}
	go srv.Serve(ln)
	defer srv.Shutdown()
	c := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
	do := func(method, uri string, hdr ...string) *fasthttp.Response {
		t.Helper()
		req, resp := fasthttp.AcquireRequest(), &fasthttp.Response{}
		defer fasthttp.ReleaseRequest(req)
		req.Header.SetMethod(method)
		req.SetRequestURI("http://web" + uri)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		if method == "HEAD" {
			resp.SkipBody = true
		}
		if err := c.Do(req, resp); err != nil {
			t.Fatalf("%s %s: %v", method, uri, err)
		}
		return resp
	}
	main := s.byName["main.js"]
	r := do("GET", main.url, "Accept-Encoding", "gzip")
	if string(r.Header.ContentEncoding()) != "gzip" || !bytes.Equal(r.Body(), main.gz) {
		t.Errorf("GET with gzip: encoding %q, %d bytes", r.Header.ContentEncoding(), len(r.Body()))
	}
	r = do("HEAD", "/", "Accept-Encoding", "gzip")
	if r.StatusCode() != 200 || r.Header.ContentLength() != len(s.index.gz) || len(r.Body()) != 0 {
		t.Errorf("HEAD /: %d, Content-Length %d (want %d), %d body bytes", r.StatusCode(), r.Header.ContentLength(), len(s.index.gz), len(r.Body()))
	}
	if r = do("GET", "/api/v1/courses"); r.StatusCode() != fasthttp.StatusTeapot {
		t.Errorf("GET /api/v1/courses: %d, want the origin's answer", r.StatusCode())
	}
}

func TestServeAssetAllocatesNothing(t *testing.T) {
	s := mustSite(t)
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI(s.byName["main.js"].url)
	ctx.Request.Header.Set("Accept-Encoding", "gzip, deflate, br")
	s.Serve(ctx)
	if n := testing.AllocsPerRun(100, func() {
		ctx.Response.Reset()
		s.Serve(ctx)
	}); n != 0 {
		t.Errorf("serving a cached asset allocates %.1f times", n)
	}
}
