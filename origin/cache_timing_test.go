package origin

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The origin's cache-hit path beside a bare fasthttp handler that returns the same bytes:
// the ratio of their throughputs is what the cache, routing, headers, ETag handling and
// metrics cost. Run with `make bench`.

const (
	benchCoursePath = "/api/v1/courses/3"
	benchListPath   = "/api/v1/courses?category=2&limit=20"
)

// warm renders path into the cache and waits until ristretto has stored it.
func warm(tb testing.TB, o *testOrigin, path string) []byte {
	tb.Helper()
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI(path)
	ctx.Init(&req, nil, nil)
	for i := 0; ; i++ {
		ctx.Response.Reset()
		o.srv.handle(&ctx)
		if ctx.Response.StatusCode() != 200 {
			tb.Fatalf("GET %s: %d %s", path, ctx.Response.StatusCode(), ctx.Response.Body())
		}
		o.srv.cache.c.Wait()
		if string(ctx.Response.Header.Peek("Cache-Status")) == "luffy-origin; hit" {
			return append([]byte(nil), ctx.Response.Body()...)
		}
		if i == 50 {
			tb.Fatalf("GET %s never became a cache hit", path)
		}
	}
}

func bareHandler(body []byte) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
		ctx.Response.SetBodyRaw(body)
	}
}

func benchHandler(b *testing.B, h fasthttp.RequestHandler, path string, size int) {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI(path)
	ctx.Init(&req, nil, nil)
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		ctx.Response.Reset()
		h(&ctx)
	}
	if ctx.Response.StatusCode() != 200 {
		b.Fatalf("status %d", ctx.Response.StatusCode())
	}
}

// pipeConn is a client that sends the same request n times down one keep-alive
// connection and throws the responses away: the whole server (parse, handle, write) runs.
type pipeConn struct {
	req     []byte
	n, off  int
	written int64
}

func (c *pipeConn) Read(p []byte) (int, error) {
	if c.off == len(c.req) {
		if c.n == 0 {
			return 0, io.EOF
		}
		c.n--
		c.off = 0
	}
	k := copy(p, c.req[c.off:])
	c.off += k
	return k, nil
}
func (c *pipeConn) Write(p []byte) (int, error) { c.written += int64(len(p)); return len(p), nil }
func (c *pipeConn) Close() error                { return nil }
func (c *pipeConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080} }
func (c *pipeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *pipeConn) SetDeadline(time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }

func benchServer(b *testing.B, srv *fasthttp.Server, path string, size int) {
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: origin\r\nUser-Agent: luffy-bench\r\n\r\n")
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	conn := &pipeConn{req: req, n: b.N - 1}
	if err := srv.ServeConn(conn); err != nil && err != io.EOF {
		b.Fatal(err)
	}
}

func BenchmarkCacheHit(b *testing.B) {
	o := newTestOrigin(b, 30)
	course := warm(b, o, benchCoursePath)
	list := warm(b, o, benchListPath)
	bareServer := func(body []byte) *fasthttp.Server {
		return &fasthttp.Server{Handler: bareHandler(body), Name: "bare"}
	}

	b.Run("handler/course", func(b *testing.B) { benchHandler(b, o.srv.handle, benchCoursePath, len(course)) })
	b.Run("handler/course-bare", func(b *testing.B) { benchHandler(b, bareHandler(course), benchCoursePath, len(course)) })
	b.Run("handler/list", func(b *testing.B) { benchHandler(b, o.srv.handle, benchListPath, len(list)) })
	b.Run("handler/list-bare", func(b *testing.B) { benchHandler(b, bareHandler(list), benchListPath, len(list)) })
	b.Run("server/course", func(b *testing.B) { benchServer(b, o.srv.srv, benchCoursePath, len(course)) })
	b.Run("server/course-bare", func(b *testing.B) { benchServer(b, bareServer(course), benchCoursePath, len(course)) })
	b.Run("server/list", func(b *testing.B) { benchServer(b, o.srv.srv, benchListPath, len(list)) })
	b.Run("server/list-bare", func(b *testing.B) { benchServer(b, bareServer(list), benchListPath, len(list)) })
}

// A cache hit allocates nothing: not for the course detail, not for a list page, not for
// a 304 or a gzip answer.
func TestCacheHitAllocatesNothing(t *testing.T) {
	o := newTestOrigin(t, 30)
	for _, tc := range []struct{ path, header, value string }{
		{benchCoursePath, "", ""},
		{benchListPath, "", ""},
		{benchListPath, "Accept-Encoding", "gzip, deflate, br"},
	} {
		warm(t, o, tc.path)
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.SetRequestURI(tc.path)
		if tc.header != "" {
			req.Header.Set(tc.header, tc.value)
		}
		ctx.Init(&req, nil, nil)
		allocs := testing.AllocsPerRun(1000, func() {
			ctx.Response.Reset()
			o.srv.handle(&ctx)
		})
		if status := string(ctx.Response.Header.Peek("Cache-Status")); status != "luffy-origin; hit" {
			t.Fatalf("%s was not a hit: %q", tc.path, status)
		}
		if allocs != 0 {
			t.Errorf("GET %s %s: %.1f allocs per cache hit, want 0", tc.path, tc.value, allocs)
		}
	}
}
