package origin

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/luffy-edu/luffy/video"
)

// BenchmarkSegmentHit serves a hot segment (held in the origin's memory) to a viewer
// whose token is remembered: what every player asks for every few seconds. "cold" is
// the first request for a segment, streamed from MinIO.
func BenchmarkSegmentHit(b *testing.B) {
	f := newVideoFixture(b)
	url, _ := f.play(b, f.freeLesson, "")
	path := strings.TrimPrefix(url, f.base)
	master := do(b, "GET", url, "", nil)
	lines := strings.Fields(string(master.body))
	rend := strings.TrimSuffix(lines[len(lines)-1], "/index.m3u8")
	seg := strings.TrimSuffix(path, "master.m3u8") + rend + "/" + video.SegmentName(1)

	serve := func(b *testing.B, path string) int {
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.SetRequestURI(path)
		ctx.Init(&req, nil, nil)
		f.srv.handle(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("GET %s: %d %s", path, ctx.Response.StatusCode(), ctx.Response.Body())
		}
		return len(ctx.Response.Body())
	}
	for range 3 { // the first streams, the second loads it into memory, the third hits
		serve(b, seg)
		f.srv.hotObjects.Wait()
	}
	if _, ok := f.srv.hotObjects.Get(video.ObjectPrefix(f.videoID, 1) + strings.TrimPrefix(rend, "v1-") + "/" + video.SegmentName(1)); !ok {
		b.Fatal("the segment is not hot after three requests")
	}
	// the handler alone: what serving a hot segment costs, with the bytes never copied
	b.Run("handler", func(b *testing.B) {
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.SetRequestURI(seg)
		ctx.Init(&req, nil, nil)
		f.srv.handle(&ctx)
		b.SetBytes(int64(len(ctx.Response.Body())))
		b.ReportAllocs()
		for b.Loop() {
			ctx.Response.Reset()
			f.srv.handle(&ctx)
		}
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d", ctx.Response.StatusCode())
		}
	})
	// a client over loopback TCP, one connection: the bytes really move
	b.Run("loopback", func(b *testing.B) {
		c := &fasthttp.HostClient{Addr: strings.TrimPrefix(f.base, "http://"), MaxResponseBodySize: 64 << 20}
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI(f.base + seg)
		b.ReportAllocs()
		var n int64
		for b.Loop() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Fatalf("GET: %v %d", err, resp.StatusCode())
			}
			n = int64(len(resp.Body()))
		}
		b.SetBytes(n)
	})
}
