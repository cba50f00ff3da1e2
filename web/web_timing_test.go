package web

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func benchmarkServe(b *testing.B, uri, acceptEncoding string) {
	s, err := New()
	if err != nil {
		b.Fatal(err)
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI(uri)
	ctx.Request.Header.Set("Accept-Encoding", acceptEncoding)
	s.Serve(ctx)
	b.SetBytes(int64(len(ctx.Response.Body())))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ctx.Response.Reset()
		s.Serve(ctx)
	}
}

func BenchmarkServeAssetGzip(b *testing.B) {
	s, err := New()
	if err != nil {
		b.Fatal(err)
	}
	benchmarkServe(b, s.byName["main.js"].url, "gzip, deflate, br")
}

func BenchmarkServeIndexForAppRoute(b *testing.B) {
	benchmarkServe(b, "/courses/2", "gzip, deflate, br")
}
