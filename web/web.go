package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/luffy-edu/luffy/internal/httpx"
)

// The whole directory, so that the package compiles before the build has copied hls.js
// into app/vendor (its README keeps the directory).
//
//go:embed app
var embedded embed.FS

const (
	staticPrefix = "/static/"
	indexName    = "index.html"

	// Assets are named by their content, so a URL never changes meaning: caches keep them
	// for a year. The index names the assets of the current build and is the one thing a
	// client must fetch again after a deploy; edges may keep it for a minute.
	assetCacheControl = "public, max-age=31536000, immutable"
	indexCacheControl = "public, max-age=60"

	// hashLen is how many hex digits of an asset's SHA-256 its URL carries.
	hashLen = 10

	// The app loads no script it does not serve itself; hls.js starts its transmuxing
	// worker from a blob: URL.
	indexCSP = "script-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

// optionalAssets may be referenced without being present: the build vendors them, and
// the app copes without them (the player falls back to native HLS).
var optionalAssets = map[string]bool{"vendor/hls.min.js": true}

// Site is the web app, read, fingerprinted and compressed once; serving it allocates
// nothing.
type Site struct {
	index  *file
	assets map[string]*file // by URL path: "/static/main.0123456789.js"
	// byName maps an asset's name in app/ ("pages/player.js") to its file, for tests and
	// FirstLoadBytes.
	byName    map[string]*file
	firstLoad []*file // the index and what it loads at once
}

// file is one response body, ready to send.
type file struct {
	name         string // path in app/
	url          string // "/static/NAME.HASH.EXT", or "/" for the index
	contentType  []byte
	cacheControl []byte
	body, gz     []byte // gz is nil when gzip does not make it smaller
	etag, gzETag []byte
	eager        []string // names this file makes the browser load at once (not dynamic imports)
}

// New reads the embedded app.
func New() (*Site, error) {
	app, err := fs.Sub(embedded, "app")
	if err != nil {
		return nil, err
	}
	return newSite(app)
}

// source is a file of the app as read, with the asset names it refers to.
type source struct {
	name  string
	body  []byte
	refs  []ref
	text  bool
	state uint8 // for the depth-first walk: 0 new, 1 in progress, 2 done
}

// ref is one "/static/NAME" in a text file.
type ref struct {
	start, end int // of "/static/NAME" in the body
	name       string
	eager      bool
}

func newSite(app fs.FS) (*Site, error) {
	srcs := map[string]*source{}
	err := fs.WalkDir(app, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		base := d.Name()
		if p != "." && (strings.HasPrefix(base, ".") || (!d.IsDir() && strings.HasPrefix(base, "README"))) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		b, err := fs.ReadFile(app, p)
		if err != nil {
			return err
		}
		srcs[p] = &source{name: p, body: b, text: isText(path.Ext(p))}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read web app: %w", err)
	}
	if srcs[indexName] == nil {
		return nil, errors.New("web app has no " + indexName)
	}
	for _, src := range srcs {
		if !src.text {
			continue
		}
		if src.refs, err = findRefs(src, srcs); err != nil {
			return nil, err
		}
	}

	s := &Site{assets: map[string]*file{}, byName: map[string]*file{}}
	// Depth first, so that every file is rewritten after what it refers to has its URL:
	// an asset's hash covers the URLs of its imports, hence their content.
	var visit func(src *source, chain []string) error
	visit = func(src *source, chain []string) error {
		switch src.state {
		case 1:
			return fmt.Errorf("web app: %s refers to itself through %s; fingerprinting needs an acyclic graph of references",
				src.name, strings.Join(append(chain, src.name), " -> "))
		case 2:
			return nil
		}
		src.state = 1
		for _, r := range src.refs {
			if dep := srcs[r.name]; dep != nil {
				if err := visit(dep, append(chain, src.name)); err != nil {
					return err
				}
			}
		}
		f := s.build(src)
		src.state = 2
		if src.name == indexName {
			s.index = f
		} else {
			s.assets[f.url] = f
		}
		s.byName[src.name] = f
		return nil
	}
	names := make([]string, 0, len(srcs))
	for n := range srcs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := visit(srcs[n], nil); err != nil {
			return nil, err
		}
	}
	s.firstLoad = s.closure(s.index)
	return s, nil
}

// build rewrites src's references to fingerprinted URLs and prepares its responses.
func (s *Site) build(src *source) *file {
	body := src.body
	f := &file{name: src.name}
	if len(src.refs) > 0 {
		var out bytes.Buffer
		last := 0
		for _, r := range src.refs {
			dep := s.byName[r.name]
			if dep == nil { // an optional asset this build lacks: left as it is, and 404s
				continue
			}
			out.Write(body[last:r.start])
			out.WriteString(dep.url)
			last = r.end
			if r.eager {
				f.eager = append(f.eager, r.name)
			}
		}
		out.Write(body[last:])
		body = out.Bytes()
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	ext := path.Ext(src.name)
	f.body = body
	f.contentType = []byte(contentType(ext))
	f.etag = []byte(`"` + hash[:16] + `"`)
	if src.name == indexName {
		f.url = "/"
		f.cacheControl = []byte(indexCacheControl)
	} else {
		f.url = staticPrefix + strings.TrimSuffix(src.name, ext) + "." + hash[:hashLen] + ext
		f.cacheControl = []byte(assetCacheControl)
	}
	if src.text {
		if gz := gzipBytes(body); len(gz) < len(body) {
			f.gz = gz
			f.gzETag = []byte(`"` + hash[:16] + `-gz"`)
		}
	}
	return f
}

// closure is f and every file it loads at once, transitively, each once.
func (s *Site) closure(f *file) []*file {
	seen := map[*file]bool{}
	var out []*file
	var walk func(f *file)
	walk = func(f *file) {
		if seen[f] {
			return
		}
		seen[f] = true
		out = append(out, f)
		for _, n := range f.eager {
			walk(s.byName[n])
		}
	}
	walk(f)
	return out
}

// staticRef matches a reference to an asset; a name ends where a quote, parenthesis,
// space or '?' does.
var staticRef = regexp.MustCompile(`/static/[A-Za-z0-9_./-]+`)

// findRefs lists the asset references in a text file. Every reference must name a file
// of the app (or an optional one): a typo fails New, not a page in a browser.
func findRefs(src *source, srcs map[string]*source) ([]ref, error) {
	var refs []ref
	js := strings.HasSuffix(src.name, ".js") || strings.HasSuffix(src.name, ".mjs")
	for _, m := range staticRef.FindAllIndex(src.body, -1) {
		name := string(src.body[m[0]+len(staticPrefix) : m[1]])
		if srcs[name] == nil || srcs[name].name == indexName {
			if optionalAssets[name] {
				refs = append(refs, ref{start: m[0], end: m[1], name: name})
				continue
			}
			return nil, fmt.Errorf("web app: %s refers to %s%s, which is not in the app", src.name, staticPrefix, name)
		}
		// In a module only a static import loads at once; a dynamic import() or a URL in
		// a string loads when the code asks. In HTML and CSS every reference does.
		eager := !js || staticImport(src.body[:m[0]])
		refs = append(refs, ref{start: m[0], end: m[1], name: name, eager: eager})
	}
	return refs, nil
}

// staticImport reports whether the string literal whose contents start after before is
// the specifier of an import or export declaration: `from '...'` or `import '...'`, not
// `import('...')`.
func staticImport(before []byte) bool {
	if len(before) == 0 {
		return false
	}
	if q := before[len(before)-1]; q != '\'' && q != '"' {
		return false
	}
	b := bytes.TrimRight(before[:len(before)-1], " \t\r\n")
	for _, kw := range []string{"from", "import"} {
		if bytes.HasSuffix(b, []byte(kw)) {
			rest := b[:len(b)-len(kw)]
			if len(rest) == 0 || !isIdent(rest[len(rest)-1]) {
				return true
			}
		}
	}
	return false
}

func isIdent(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

var textTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

func isText(ext string) bool { return textTypes[ext] != "" }

func contentType(ext string) string {
	if t := textTypes[ext]; t != "" {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// FirstLoadBytes is what a browser downloads to show the home page the first time:
// index.html, its stylesheet and the modules it loads at once (not hls.js, which only
// the player loads), as sent raw and as sent gzipped.
func (s *Site) FirstLoadBytes() (raw, gzipped int) {
	for _, f := range s.firstLoad {
		raw += len(f.body)
		if f.gz != nil {
			gzipped += len(f.gz)
		} else {
			gzipped += len(f.body)
		}
	}
	return raw, gzipped
}

var (
	hdrCacheControl = []byte("Cache-Control")
	hdrETag         = []byte("ETag")
	hdrVary         = []byte("Vary")
	hdrContentEnc   = []byte("Content-Encoding")
	hdrAcceptEnc    = []byte("Accept-Encoding")
	hdrIfNoneMatch  = []byte("If-None-Match")
	hdrNosniff      = []byte("X-Content-Type-Options")
	hdrCSP          = []byte("Content-Security-Policy")
	valNosniff      = []byte("nosniff")
	valGzip         = []byte("gzip")
	valCSP          = []byte(indexCSP)
	valNoStore      = []byte("no-store")
	contentTypeJSON = []byte("application/json")
	notFoundBody    = []byte(`{"error":{"code":"not_found","message":"no such static file"}}`)
)

// Serve answers GET and HEAD of the app: /static/ assets (404 for names this build does
// not have), and the index page for any other path that is not the API's (/api/), the
// video's (/v/), the edge's (/edge/) or an ops path (/metrics, /healthz, /readyz), so
// that every #/ route and any deep link load the app. It reports whether it answered;
// the origin goes on routing when it did not.
func (s *Site) Serve(ctx *fasthttp.RequestCtx) bool {
	m := ctx.Method()
	if string(m) != fasthttp.MethodGet && string(m) != fasthttp.MethodHead {
		return false
	}
	p := ctx.Path()
	if bytes.HasPrefix(p, []byte(staticPrefix)) {
		if f := s.assets[string(p)]; f != nil {
			s.write(ctx, f)
			return true
		}
		// Not cached anywhere: during a rolling deploy a new index may ask an origin that
		// has not been updated yet for an asset it will have in a moment.
		ctx.Response.Header.SetCanonical(hdrCacheControl, valNoStore)
		ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.Response.SetBodyRaw(notFoundBody)
		return true
	}
	if excluded(p) {
		return false
	}
	s.write(ctx, s.index)
	ctx.Response.Header.SetCanonical(hdrCSP, valCSP)
	return true
}

// excluded reports paths that belong to the origin's other routes.
func excluded(p []byte) bool {
	for _, pre := range []string{"/api", "/v", "/edge"} {
		if bytes.HasPrefix(p, []byte(pre)) && (len(p) == len(pre) || p[len(pre)] == '/') {
			return true
		}
	}
	switch string(p) {
	case "/metrics", "/healthz", "/readyz":
		return true
	}
	return false
}

func (s *Site) write(ctx *fasthttp.RequestCtx, f *file) {
	h := &ctx.Response.Header
	h.SetCanonical(hdrCacheControl, f.cacheControl)
	h.SetCanonical(hdrNosniff, valNosniff)
	gz := f.gz != nil && httpx.AcceptsGzip(ctx.Request.Header.PeekBytes(hdrAcceptEnc))
	etag := f.etag
	if gz {
		etag = f.gzETag
	}
	if f.gz != nil {
		h.SetCanonical(hdrVary, hdrAcceptEnc)
	}
	h.SetCanonical(hdrETag, etag)
	if inm := ctx.Request.Header.PeekBytes(hdrIfNoneMatch); len(inm) > 0 && httpx.ETagMatches(inm, f.etag, f.gzETag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	h.SetContentTypeBytes(f.contentType)
	if gz {
		h.SetCanonical(hdrContentEnc, valGzip)
		ctx.Response.SetBodyRaw(f.gz)
		return
	}
	ctx.Response.SetBodyRaw(f.body)
}
