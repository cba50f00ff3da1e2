// Command origin is the origin of the peer comparison: it serves a 2 KB catalog-like JSON
// response and a 1 MB segment-like body with the Cache-Control the real origin sends, so
// every cache in front of it (the edge, nginx, Varnish) caches the same things, and run
// with --bare it is the ceiling: a fasthttp handler serving the same bytes from memory.
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"strings"

	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9101", "address to serve on")
	flag.Parse()

	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < 2000; i++ {
		fmt.Fprintf(&b, `{"id":%d,"title":"Python全栈开发就业班 %d","price_from_fen":%d},`, i+1, i, 9900+i)
	}
	catalog := []byte(strings.TrimSuffix(b.String(), ",") + `],"next_cursor":null}`)
	catalog = append(catalog, strings.Repeat(" ", max(0, 2048-len(catalog)))...)
	segment := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range segment {
		segment[i] = byte(r.Uint32())
	}

	h := func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/healthz":
			ctx.SetBodyString("ok")
		case "/api/v1/courses":
			ctx.Response.Header.Set("Cache-Control", "public, max-age=30, s-maxage=3600, stale-while-revalidate=30, stale-if-error=86400")
			ctx.Response.Header.Set("ETag", `"catalog-1"`)
			ctx.SetContentType("application/json")
			ctx.Response.SetBodyRaw(catalog)
		case "/segment.ts":
			ctx.Response.Header.Set("Cache-Control", "public, max-age=31536000, immutable")
			ctx.SetContentType("video/mp2t")
			ctx.Response.SetBodyRaw(segment)
		default:
			ctx.SetStatusCode(404)
		}
	}
	log.Printf("peer origin on %s: /api/v1/courses (%d bytes), /segment.ts (%d bytes)", *listen, len(catalog), len(segment))
	s := &fasthttp.Server{Handler: h, Name: "peer-origin"}
	if err := s.ListenAndServe(*listen); err != nil {
		log.Fatal(err)
	}
}
