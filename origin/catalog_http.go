package origin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"

	"github.com/luffy-edu/luffy/catalog"
	"github.com/luffy-edu/luffy/internal/httpx"
)

// keyBuf is a pooled buffer that cache keys are built in, so a hit allocates nothing.
type keyBuf struct{ b []byte }

var keyBufs = sync.Pool{New: func() any { return &keyBuf{b: make([]byte, 0, 256)} }}

var (
	hdrETag          = []byte("ETag")
	hdrCacheControl  = []byte("Cache-Control")
	hdrSurrogateKey  = []byte("Surrogate-Key")
	hdrVary          = []byte("Vary")
	hdrCacheStatus   = []byte("Cache-Status")
	hdrContentEnc    = []byte("Content-Encoding")
	valAcceptEnc     = []byte("Accept-Encoding")
	valGzip          = []byte("gzip")
	valHit           = []byte("luffy-origin; hit")
	valMiss          = []byte("luffy-origin; fwd=miss; stored")
	valBypass        = []byte("luffy-origin; fwd=bypass")
	valCoalesced     = []byte("luffy-origin; fwd=miss; collapsed")
	contentTypeJSON  = []byte("application/json")
	argCategory      = []byte("category")
	argType          = []byte("type")
	argCursor        = []byte("cursor")
	argLimit         = []byte("limit")
	keyCategoriesStr = "T|"
)

func (s *Server) serveCategories(ctx *fasthttp.RequestCtx) {
	kb := keyBufs.Get().(*keyBuf)
	kb.b = append(kb.b[:0], keyCategoriesStr...)
	s.serveCatalog(ctx, kb, 0, nil)
	keyBufs.Put(kb)
}

func (s *Server) serveCourses(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	kb := keyBufs.Get().(*keyBuf)
	// Only the parameters that change the answer are in the key, in a fixed order, so
	// ?limit=5&type=free and ?type=free&limit=5&utm=x share one entry.
	b := append(kb.b[:0], "L|"...)
	b = append(b, args.PeekBytes(argCategory)...)
	b = append(b, '|')
	b = append(b, args.PeekBytes(argType)...)
	b = append(b, '|')
	b = append(b, args.PeekBytes(argCursor)...)
	b = append(b, '|')
	b = append(b, args.PeekBytes(argLimit)...)
	kb.b = b
	s.serveCatalog(ctx, kb, 0, args)
	keyBufs.Put(kb)
}

func (s *Server) serveCourse(ctx *fasthttp.RequestCtx, rawID []byte) {
	id := parseIDBytes(rawID)
	if id <= 0 {
		writeError(ctx, errf(fasthttp.StatusBadRequest, "invalid_id", "course id must be a positive integer"))
		return
	}
	kb := keyBufs.Get().(*keyBuf)
	kb.b = append(append(kb.b[:0], "C|"...), rawID...)
	s.serveCatalog(ctx, kb, id, nil)
	keyBufs.Put(kb)
}

// parseIDBytes parses a positive decimal id without allocating; 0 means malformed.
func parseIDBytes(b []byte) int64 {
	if len(b) == 0 || len(b) > 18 || b[0] == '0' {
		return 0
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// serveCatalog answers a catalog GET from the response cache, rendering it on a miss.
func (s *Server) serveCatalog(ctx *fasthttp.RequestCtx, kb *keyBuf, course int64, args *fasthttp.Args) {
	if e := s.cache.get(kb.b); e != nil {
		s.metrics.hits.Inc()
		s.writeEntry(ctx, e, valHit)
		return
	}
	s.metrics.misses.Inc()
	key := string(kb.b)
	wasLive := s.cache.live.Load()
	// The snapshot is taken before joining a flight and is part of its key: a request that
	// arrives after a change committed never shares a render that started before it.
	snap := s.cache.snapshot(course)
	flight := key + "|" + strconv.FormatUint(snap.all, 10) + "." + strconv.FormatUint(snap.list, 10) + "." + strconv.FormatUint(snap.course, 10)
	leader := false
	v, err, _ := s.renders.Do(flight, func() (any, error) {
		leader = true
		e, err := s.render(s.dbctx(ctx), key, course, args)
		if err != nil {
			return nil, err
		}
		s.cache.put(e, snap, wasLive)
		return e, nil
	})
	if err != nil {
		s.fail(ctx, err)
		return
	}
	status := valMiss
	switch {
	case !wasLive:
		status = valBypass
	case !leader:
		status = valCoalesced
	}
	s.writeEntry(ctx, v.(*entry), status)
}

// render reads Postgres and builds the entry for key.
func (s *Server) render(ctx context.Context, key string, course int64, args *fasthttp.Args) (*entry, error) {
	var (
		payload   any
		surrogate bytes.Buffer
	)
	switch key[0] {
	case 'T':
		dirs, err := s.catalog.Categories(ctx)
		if err != nil {
			return nil, err
		}
		payload = map[string]any{"items": dirs}
		surrogate.WriteString("categories")
		for _, d := range dirs {
			fmt.Fprintf(&surrogate, " direction-%d", d.ID)
			for _, c := range d.Categories {
				fmt.Fprintf(&surrogate, " category-%d", c.ID)
			}
		}
	case 'L':
		q, err := catalog.ParseListQuery(string(args.PeekBytes(argCategory)), string(args.PeekBytes(argType)),
			string(args.PeekBytes(argCursor)), string(args.PeekBytes(argLimit)))
		if err != nil {
			return nil, err
		}
		page, err := s.catalog.Courses(ctx, q)
		if err != nil {
			return nil, err
		}
		payload = page
		surrogate.WriteString("courses")
		if q.CategoryID != 0 {
			fmt.Fprintf(&surrogate, " category-%d", q.CategoryID)
		}
		for _, c := range page.Items {
			fmt.Fprintf(&surrogate, " course-%d", c.ID)
		}
	case 'C':
		c, err := s.catalog.Course(ctx, course)
		if err != nil {
			return nil, err
		}
		payload = c
		fmt.Fprintf(&surrogate, "course-%d category-%d direction-%d", c.ID, c.Category.ID, c.Direction.ID)
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", key, err)
	}
	sum := strconv.FormatUint(xxhash.Sum64(body), 36)
	e := &entry{
		key:       []byte(key),
		body:      body,
		etag:      []byte(`"` + sum + `"`),
		surrogate: surrogate.Bytes(),
		course:    course,
	}
	if len(body) > 512 {
		// fasthttp pools its (klauspost) gzip writers: a fresh compressor per render
		// would spend more time clearing its tables than compressing.
		gz := fasthttp.AppendGzipBytesLevel(nil, body, fasthttp.CompressDefaultCompression)
		if len(gz) < len(body) {
			e.gzBody = gz
			e.gzETag = []byte(`"` + sum + `-gz"`)
		}
	}
	return e, nil
}

// writeEntry answers from a cached entry: 304 when the client's ETag matches, the gzip
// representation when the client takes it.
func (s *Server) writeEntry(ctx *fasthttp.RequestCtx, e *entry, cacheStatus []byte) {
	h := &ctx.Response.Header
	h.SetCanonical(hdrCacheControl, s.cacheControl)
	h.SetCanonical(hdrSurrogateKey, e.surrogate)
	h.SetCanonical(hdrVary, valAcceptEnc)
	h.SetCanonical(hdrCacheStatus, cacheStatus)
	gz := e.gzBody != nil && httpx.AcceptsGzip(ctx.Request.Header.PeekBytes(valAcceptEnc))
	etag := e.etag
	if gz {
		etag = e.gzETag
	}
	h.SetCanonical(hdrETag, etag)
	if inm := ctx.Request.Header.PeekBytes(hdrIfNoneMatch); len(inm) > 0 && httpx.ETagMatches(inm, e.etag, e.gzETag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	h.SetContentTypeBytes(contentTypeJSON)
	if gz {
		h.SetCanonical(hdrContentEnc, valGzip)
		ctx.Response.SetBodyRaw(e.gzBody)
		return
	}
	ctx.Response.SetBodyRaw(e.body)
}

var hdrIfNoneMatch = []byte("If-None-Match")
