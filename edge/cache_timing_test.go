package edge

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// hitCtx returns a request context for path that the edge answers from its cache.
func hitCtx(tb testing.TB, e *Server, path string, headers ...string) *fasthttp.RequestCtx {
	tb.Helper()
	var req fasthttp.Request
	req.SetRequestURI(path)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, nil, nil)
	for i := 0; i < 50; i++ {
		ctx.Response.Reset()
		e.handle(ctx)
		e.cache.Wait()
		if string(ctx.Response.Header.Peek("Cache-Status")) == "luffy-edge; hit" {
			return ctx
		}
	}
	tb.Fatalf("GET %s never became a hit: %d %q", path, ctx.Response.StatusCode(), ctx.Response.Header.Peek("Cache-Status"))
	return nil
}

func catalogOrigin(t testing.TB) *scriptOrigin {
	o := newScriptOrigin(t)
	body := `{"items":[` + strings.Repeat(`{"id":1,"title":"Python全栈开发就业班","price_from_fen":99900},`, 24) + `{}]}`
	o.route("/api/v1/courses", func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "public, max-age=30, s-maxage=60, stale-while-revalidate=30, stale-if-error=86400")
		ctx.Response.Header.Set("ETag", `"abc"`)
		ctx.Response.Header.Set("Surrogate-Key", "courses course-1 course-2")
		ctx.SetContentType("application/json")
		ctx.SetBodyString(body)
	})
	return o
}

// A cache hit allocates nothing: plain, gzip and conditional requests alike.
func TestCacheHitAllocatesNothing(t *testing.T) {
	o := catalogOrigin(t)
	e := startEdge(t, Config{Origins: []string{o.base}})
	for _, h := range [][]string{nil, {"Accept-Encoding", "gzip"}, {"If-None-Match", `"abc"`}} {
		ctx := hitCtx(t, e, "/api/v1/courses?limit=20&category=3", h...)
		allocs := testing.AllocsPerRun(1000, func() {
			ctx.Response.Reset()
			e.handle(ctx)
		})
		if allocs != 0 {
			t.Errorf("headers %v: %.1f allocs per hit, want 0", h, allocs)
		}
	}
}

func BenchmarkCacheHit(b *testing.B) {
	o := catalogOrigin(b)
	e := startEdge(b, Config{Origins: []string{o.base}})
	ctx := hitCtx(b, e, "/api/v1/courses?limit=20&category=3")
	b.SetBytes(int64(len(ctx.Response.Body())))
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		e.handle(ctx)
	}
}
