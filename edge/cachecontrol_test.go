package edge

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseCacheControl(t *testing.T) {
	f := func(in string, want Directives) {
		t.Helper()
		if got := ParseCacheControl([]byte(in)); got != want {
			t.Errorf("ParseCacheControl(%q)\n got %+v\nwant %+v", in, got, want)
		}
	}
	const s = time.Second
	f("", Directives{})
	f("public, max-age=30, s-maxage=60, stale-while-revalidate=30, stale-if-error=86400",
		Directives{Public: true, MaxAge: 30 * s, HasMaxAge: true, SMaxAge: 60 * s, HasSMaxAge: true,
			StaleWhileRevalidate: 30 * s, StaleIfError: 86400 * s})
	f("no-store", Directives{NoStore: true})
	f("no-cache, must-revalidate, proxy-revalidate, immutable",
		Directives{NoCache: true, MustRevalidate: true, ProxyRevalidate: true, Immutable: true})

	// names are case-insensitive; whitespace around names, '=' and values is tolerated
	f("Public, MAX-AGE=60, S-MaxAge=90", Directives{Public: true, MaxAge: 60 * s, HasMaxAge: true, SMaxAge: 90 * s, HasSMaxAge: true})
	f(" \t max-age = 60 ,\tno-cache\t, ", Directives{MaxAge: 60 * s, HasMaxAge: true, NoCache: true})

	// quoted values: field-qualified private/no-cache count as the plain directive, and a
	// comma inside quotes does not start a new directive
	f(`private="set-cookie", max-age=60`, Directives{Private: true, MaxAge: 60 * s, HasMaxAge: true})
	f(`no-cache="set-cookie, no-store", max-age=60`, Directives{NoCache: true, MaxAge: 60 * s, HasMaxAge: true})
	f(`max-age="60"`, Directives{MaxAge: 60 * s, HasMaxAge: true})
	f(`max-age="60"junk, public`, Directives{MaxAge: 60 * s, HasMaxAge: true, Public: true})
	f(`private="a\"b, no-store", public`, Directives{Private: true, Public: true})

	// duplicates keep the most conservative value
	f("max-age=60, max-age=30", Directives{MaxAge: 30 * s, HasMaxAge: true})
	f("max-age=30, max-age=60", Directives{MaxAge: 30 * s, HasMaxAge: true})
	f("s-maxage=60, s-maxage=0", Directives{HasSMaxAge: true})
	f("stale-while-revalidate=60, stale-while-revalidate=10, stale-if-error=5, stale-if-error=50",
		Directives{StaleWhileRevalidate: 10 * s, StaleIfError: 5 * s})
	f("public, private", Directives{Public: true, Private: true})

	// an invalid value is stale at once, not absent
	f("max-age", Directives{HasMaxAge: true})
	f("max-age=", Directives{HasMaxAge: true})
	f("max-age=abc", Directives{HasMaxAge: true})
	f("max-age=-1", Directives{HasMaxAge: true})
	f("max-age=+5", Directives{HasMaxAge: true})
	f("max-age=1.5", Directives{HasMaxAge: true})
	f("max-age=60 junk", Directives{HasMaxAge: true})
	f(`max-age="60`, Directives{HasMaxAge: true})
	f(`max-age="6\0"`, Directives{HasMaxAge: true})
	f("max-age=60, max-age=x", Directives{HasMaxAge: true})
	f("stale-if-error=x", Directives{})

	// numbers are clamped, however long
	f("max-age=31536000", Directives{MaxAge: MaxDelta, HasMaxAge: true})
	f("max-age=31536001", Directives{MaxAge: MaxDelta, HasMaxAge: true})
	f("s-maxage=99999999999999999999999999999999999999", Directives{SMaxAge: MaxDelta, HasSMaxAge: true})
	f("max-age=9223372036854775808", Directives{MaxAge: MaxDelta, HasMaxAge: true}) // 2^63 wraps an int64
	f("stale-if-error=18446744073709551617", Directives{StaleIfError: MaxDelta})    // 2^64+1 wraps a uint64
	f("max-age=0000000000000000000000000000000000000060", Directives{MaxAge: 60 * s, HasMaxAge: true})

	// junk is skipped
	f(",,, ;junk==,=5, max-age=5, x-unknown=\"q\"", Directives{MaxAge: 5 * s, HasMaxAge: true})
	f("max-age=5;public", Directives{HasMaxAge: true})
	f("public-ish, no-stored, max-ages=5", Directives{})
	f("\"", Directives{})
	f("=", Directives{})
	f("max-age=\"\\", Directives{HasMaxAge: true})
}

func TestCacheControlStorable(t *testing.T) {
	f := func(in string, want bool) {
		t.Helper()
		if got := ParseCacheControl([]byte(in)).Storable(); got != want {
			t.Errorf("Storable(%q) = %v, want %v", in, got, want)
		}
	}
	f("public, max-age=60", true)
	f("s-maxage=60", true)
	f("max-age=0", true) // stored and revalidated with its ETag
	f("no-cache, max-age=60", true)
	f("", false)
	f("public", false) // no freshness stated
	f("public, immutable", false)
	f("no-store, max-age=60", false)
	f("max-age=60, no-store", false)
	f("private, max-age=60", false)
	f(`private="set-cookie", s-maxage=60`, false)
	f("public, private, s-maxage=60", false)
}

func TestCacheControlTTL(t *testing.T) {
	f := func(in string, want time.Duration) {
		t.Helper()
		if got := ParseCacheControl([]byte(in)).TTL(); got != want {
			t.Errorf("TTL(%q) = %v, want %v", in, got, want)
		}
	}
	f("max-age=30, s-maxage=60", 60*time.Second)
	f("s-maxage=5, max-age=60", 5*time.Second)
	f("s-maxage=0, max-age=60", 0)
	f("max-age=30", 30*time.Second)
	f("no-cache, s-maxage=60", 0)
	f("", 0)
	f("max-age=bad", 0)
}

func TestCacheControlMayServeStale(t *testing.T) {
	f := func(in string, want bool) {
		t.Helper()
		if got := ParseCacheControl([]byte(in)).MayServeStale(); got != want {
			t.Errorf("MayServeStale(%q) = %v, want %v", in, got, want)
		}
	}
	f("public, max-age=30, s-maxage=60, stale-while-revalidate=30, stale-if-error=86400", true)
	f("max-age=30, must-revalidate, stale-if-error=60", false)
	f("s-maxage=30, proxy-revalidate", false)
	f("no-cache, max-age=30", false)
}

func TestParseCacheControlAllocs(t *testing.T) {
	in := []byte(`public, MAX-AGE=30, s-maxage="60", stale-while-revalidate=30, stale-if-error=86400, private="set-cookie, x", junk=, immutable`)
	var d Directives
	allocs := testing.AllocsPerRun(1000, func() { d = ParseCacheControl(in) })
	if allocs != 0 {
		t.Fatalf("ParseCacheControl allocates %.1f times per call", allocs)
	}
	if !d.Private || d.SMaxAge != 60*time.Second {
		t.Fatalf("parsed %+v", d)
	}
}

func FuzzParseCacheControl(f *testing.F) {
	for _, seed := range []string{
		"", "public, max-age=30, s-maxage=60, stale-while-revalidate=30, stale-if-error=86400",
		`private="set-cookie", max-age=60`, `no-cache="a, b", no-store`, `max-age="60"junk`,
		"max-age=99999999999999999999999", "max-age=60, max-age=30", `max-age="\`, ",,=,",
		"MUST-REVALIDATE, Proxy-Revalidate, immutable", "s-maxage=-1",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		d := ParseCacheControl(in)
		if !bytes.Equal(in, orig) {
			t.Fatalf("ParseCacheControl modified its input %q", orig)
		}
		for _, v := range []time.Duration{d.MaxAge, d.SMaxAge, d.StaleWhileRevalidate, d.StaleIfError, d.TTL()} {
			if v < 0 || v > MaxDelta || v%time.Second != 0 {
				t.Fatalf("%q: duration %v out of [0, %v] or not whole seconds: %+v", in, v, MaxDelta, d)
			}
		}
		if (d.NoStore || d.Private) && d.Storable() {
			t.Fatalf("%q: no-store or private, yet storable: %+v", in, d)
		}
		if (!d.HasMaxAge && d.MaxAge != 0) || (!d.HasSMaxAge && d.SMaxAge != 0) {
			t.Fatalf("%q: an absent age with a value: %+v", in, d)
		}
		if d.Storable() && !d.HasMaxAge && !d.HasSMaxAge {
			t.Fatalf("%q: storable without freshness: %+v", in, d)
		}
	})
}

func TestNormalizeKey(t *testing.T) {
	f := func(host, path, query, want string) {
		t.Helper()
		if got := NormalizeKey(nil, []byte(host), []byte(path), []byte(query)); string(got) != want {
			t.Errorf("NormalizeKey(%q, %q, %q)\n got %q\nwant %q", host, path, query, got, want)
		}
	}
	f("Example.COM:8081", "/api/v1/courses", "limit=5&category=1", "example.com:8081/api/v1/courses?category=1&limit=5")
	f("h", "/api/v1/categories", "", "h/api/v1/categories")
	f("h", "/", "b=1&a=2&c", "h/?a=2&b=1&c")

	// the path is kept byte for byte, case and escapes and dot segments included
	f("h", "/v/../A%2Fb/./c%20d", "", "h/v/../A%2Fb/./c%20d")
	f("h", "//x", "", "h//x")

	// equal names keep their order; the name ends at the first '='
	f("h", "/p", "b=2&a=1&b=1&a=2", "h/p?a=1&a=2&b=2&b=1")
	f("h", "/p", "a=2&a&a=1&a=", "h/p?a=2&a&a=1&a=")
	f("h", "/p", "ab=1&a=2&a%3D=3&=4", "h/p?=4&a=2&a%3D=3&ab=1")
	f("h", "/p", "x=a=b&w=1", "h/p?w=1&x=a=b")

	// tracking and empty parameters are dropped, and with them an empty '?'
	f("h", "/p", "a=1&utm_source=x&spm=1.2.3&from=home&b=2&utm_=&utm_campaign", "h/p?a=1&b=2")
	f("h", "/p", "utm_medium=a&from&spm=", "h/p")
	f("h", "/p", "&&a=1&&b=2&", "h/p?a=1&b=2")
	f("h", "/p", "&", "h/p")
	f("h", "/p", "utm=1&UTM_source=2&fromage=3&xfrom=4&spmx=5&utm%5Fsource=6", "h/p?UTM_source=2&fromage=3&spmx=5&utm=1&utm%5Fsource=6&xfrom=4")

	// the key stays unambiguous whatever the host and path hold
	f("evil.com/api", "/x", "", "evil.com%2Fapi/x")
	f("a?b%", "/x", "", "a%3Fb%25/x")
	f("h", "", "", "h/")
	f("h", "x", "", "h/x")
	f("h", "/a?b", "c=1", "h/a%3Fb?c=1")
	f("", "/p", "", "/p")

	// up to maxSortedParams kept parameters are sorted; more keep their order
	desc := func(n int, extra string) string {
		var ps []string
		for i := n; i > 0; i-- {
			ps = append(ps, "p"+string(rune('A'+i/26))+string(rune('a'+i%26))+"=1")
		}
		if extra != "" {
			ps = append([]string{extra}, ps...)
		}
		return strings.Join(ps, "&")
	}
	sorted := func(q string) string {
		ps := strings.Split(q, "&")
		slices.Sort(ps)
		return strings.Join(ps, "&")
	}
	f("h", "/p", desc(32, ""), "h/p?"+sorted(desc(32, "")))
	f("h", "/p", desc(32, "utm_x=1"), "h/p?"+sorted(desc(32, "")))
	f("h", "/p", desc(33, ""), "h/p?"+desc(33, ""))
	f("h", "/p", desc(33, "&&from=x"), "h/p?"+desc(33, ""))
}

func TestNormalizeKeyAllocs(t *testing.T) {
	host, path := []byte("Www.LuffyCity.com"), []byte("/api/v1/courses")
	query := []byte("z=1&utm_source=wx&limit=20&category=3&type=free&cursor=djEuMTAuMQ&a=1&a=0&from=home&spm=a.b.c")
	dst := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(1000, func() { dst = NormalizeKey(dst[:0], host, path, query) })
	if allocs != 0 {
		t.Fatalf("NormalizeKey allocates %.1f times per call", allocs)
	}
	if want := "www.luffycity.com/api/v1/courses?a=1&a=0&category=3&cursor=djEuMTAuMQ&limit=20&type=free&z=1"; string(dst) != want {
		t.Fatalf("got %q, want %q", dst, want)
	}
}

func FuzzNormalizeKey(f *testing.F) {
	for _, seed := range [][3]string{
		{"Example.COM", "/api/v1/courses", "limit=5&category=1"},
		{"h", "/p", "b=2&a=1&b=1&a=2&utm_source=x&&spm=1&from"},
		{"a/b?c%", "x?y", "=&=&a==b"},
		{"h", "/p", strings.Repeat("z=1&y=2&", 20)},
		{"", "", ""},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	kept := func(q string) []string {
		var out []string
		for p := range strings.SplitSeq(q, "&") {
			name, _, _ := strings.Cut(p, "=")
			if p != "" && !isTrackingParam([]byte(name)) {
				out = append(out, p)
			}
		}
		slices.Sort(out)
		return out
	}
	f.Fuzz(func(t *testing.T, host, path, query string) {
		prefix := string(NormalizeKey(nil, []byte(host), []byte(path), nil))
		out := string(NormalizeKey([]byte("dst|"), []byte(host), []byte(path), []byte(query)))
		out, ok := strings.CutPrefix(out, "dst|")
		if !ok {
			t.Fatalf("NormalizeKey did not append to dst: %q", out)
		}
		rest, ok := strings.CutPrefix(out, prefix)
		if !ok {
			t.Fatalf("key %q does not start with the key of host and path %q", out, prefix)
		}
		// The host ends at the first '/' and decodes back to the host: no two hosts share
		// a key prefix, whatever paths follow.
		if strings.IndexByte(prefix, '?') >= 0 {
			t.Fatalf("host and path key %q holds a '?'", prefix)
		}
		slash := strings.IndexByte(prefix, '/')
		if slash < 0 || unescapeKeyHost.Replace(prefix[:slash]) != lowerHost(host) {
			t.Fatalf("host %q does not decode from key %q", host, prefix)
		}
		if rest != "" && rest[0] != '?' || rest == "?" {
			t.Fatalf("query part %q of %q", rest, out)
		}
		q := strings.TrimPrefix(rest, "?")
		if again := string(NormalizeKey(nil, []byte(host), []byte(path), []byte(q))); again != out {
			t.Fatalf("not idempotent: %q, then %q", out, again)
		}
		if got, want := kept(q), kept(query); !slices.Equal(got, want) {
			t.Fatalf("query %q: parameters %q, want %q", query, got, want)
		}
	})
}

var unescapeKeyHost = strings.NewReplacer("%2F", "/", "%3F", "?", "%25", "%")

func lowerHost(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
