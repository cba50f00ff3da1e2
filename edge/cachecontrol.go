package edge

import (
	"bytes"
	"time"
)

// maxDeltaSeconds caps every delta-seconds value (max-age, s-maxage, stale-*). RFC 9111
// §1.2.2 lets a cache clamp what it cannot represent; a year is longer than anything an
// origin here means, and keeping the sum TTL + stale windows far below the int64
// nanosecond range means callers can add durations without overflow checks.
const maxDeltaSeconds = 365 * 24 * 60 * 60

// MaxDelta is the largest duration ParseCacheControl reports for any directive.
const MaxDelta = maxDeltaSeconds * time.Second

// Directives are the Cache-Control directives the edge acts on, from a response (or a
// request: the same grammar, and the fields a request can carry mean the same). The zero
// value is an absent header.
//
// Absence of the stale windows needs no flag: "no stale-while-revalidate" and
// "stale-while-revalidate=0" allow exactly the same thing. Absence of max-age and s-maxage
// does matter (max-age=0 is a storable response that must be revalidated; no max-age is
// no freshness at all), hence HasMaxAge and HasSMaxAge.
type Directives struct {
	MaxAge     time.Duration
	HasMaxAge  bool
	SMaxAge    time.Duration
	HasSMaxAge bool

	// StaleWhileRevalidate and StaleIfError (RFC 5861) are windows past freshness; 0 when
	// absent or invalid.
	StaleWhileRevalidate time.Duration
	StaleIfError         time.Duration

	Public  bool
	Private bool // also the field-qualified form: private="set-cookie"
	NoStore bool
	// NoCache is also set by the field-qualified form (no-cache="set-cookie"): the edge
	// does not strip single headers, so it revalidates the whole response instead.
	NoCache         bool
	MustRevalidate  bool
	ProxyRevalidate bool
	Immutable       bool
}

// ParseCacheControl parses a Cache-Control header value. It never fails: unknown
// directives and junk are skipped, names are case-insensitive, optional whitespace is
// allowed around names, "=" and values, and values may be tokens or quoted strings (a
// comma inside quotes does not end the directive).
//
// Where the header is ambiguous it errs towards caching less, as RFC 9111 §4.2.1 asks:
// a repeated max-age, s-maxage or stale-* keeps its smallest value, and an invalid value
// (max-age=abc, max-age=-1, a bare max-age) counts as 0, i.e. stale at once, not absent.
// Numbers above MaxDelta are clamped to it. It does not allocate.
func ParseCacheControl(v []byte) Directives {
	var d Directives
	var hasSWR, hasSIE bool
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' && v[i] != '=' {
			i++
		}
		name := trimOWS(v[:i])
		v = v[i:]
		var val []byte
		if len(v) > 0 && v[0] == '=' {
			v = trimLeftOWS(v[1:])
			if len(v) > 0 && v[0] == '"' {
				val, v = cutQuoted(v)
			} else {
				j := bytes.IndexByte(v, ',')
				if j < 0 {
					j = len(v)
				}
				val, v = trimOWS(v[:j]), v[j:]
			}
		}
		if len(v) > 0 && v[0] == ',' {
			v = v[1:]
		}

		switch {
		case equalFoldLower(name, "max-age"):
			d.MaxAge = minDelta(d.MaxAge, d.HasMaxAge, parseDelta(val))
			d.HasMaxAge = true
		case equalFoldLower(name, "s-maxage"):
			d.SMaxAge = minDelta(d.SMaxAge, d.HasSMaxAge, parseDelta(val))
			d.HasSMaxAge = true
		case equalFoldLower(name, "stale-while-revalidate"):
			d.StaleWhileRevalidate = minDelta(d.StaleWhileRevalidate, hasSWR, parseDelta(val))
			hasSWR = true
		case equalFoldLower(name, "stale-if-error"):
			d.StaleIfError = minDelta(d.StaleIfError, hasSIE, parseDelta(val))
			hasSIE = true
		case equalFoldLower(name, "public"):
			d.Public = true
		case equalFoldLower(name, "private"):
			d.Private = true
		case equalFoldLower(name, "no-store"):
			d.NoStore = true
		case equalFoldLower(name, "no-cache"):
			d.NoCache = true
		case equalFoldLower(name, "must-revalidate"):
			d.MustRevalidate = true
		case equalFoldLower(name, "proxy-revalidate"):
			d.ProxyRevalidate = true
		case equalFoldLower(name, "immutable"):
			d.Immutable = true
		}
	}
	return d
}

// Storable reports whether a shared cache may keep the response at all: not no-store,
// not private, and it states a freshness lifetime. Responses without one (heuristic
// freshness, Expires) are not cached: the origin always says what it means here, and
// guessing would keep personalised or fast-changing answers by accident. Storable says
// nothing about the status code or Set-Cookie; those are the caller's to check.
func (d Directives) Storable() bool {
	return !d.NoStore && !d.Private && (d.HasSMaxAge || d.HasMaxAge)
}

// TTL is how long a shared cache may serve the response without asking the origin:
// s-maxage over max-age, and 0 under no-cache, which means "store, but revalidate before
// every use".
func (d Directives) TTL() time.Duration {
	switch {
	case d.NoCache:
		return 0
	case d.HasSMaxAge:
		return d.SMaxAge
	default:
		return d.MaxAge
	}
}

// MayServeStale reports whether the origin allows serving this response past its TTL at
// all (inside the stale-* windows). must-revalidate, proxy-revalidate and no-cache forbid
// it. RFC 9111 also gives s-maxage proxy-revalidate semantics, but an explicit
// stale-while-revalidate or stale-if-error next to it is the origin granting exactly that
// permission (RFC 5861), which is how the catalog's headers are meant, so s-maxage alone
// does not forbid it here.
func (d Directives) MayServeStale() bool {
	return !d.NoCache && !d.MustRevalidate && !d.ProxyRevalidate
}

// parseDelta parses delta-seconds (1*DIGIT), clamped to maxDeltaSeconds; anything else,
// including an empty value, is 0. Clamping while accumulating keeps it overflow-safe for
// any number of digits.
func parseDelta(b []byte) time.Duration {
	if len(b) == 0 {
		return 0
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		if n <= maxDeltaSeconds {
			n = n*10 + int64(c-'0')
		}
	}
	return time.Duration(min(n, maxDeltaSeconds)) * time.Second
}

// minDelta keeps the smaller of a repeated directive's values.
func minDelta(old time.Duration, seen bool, v time.Duration) time.Duration {
	if seen {
		return min(old, v)
	}
	return v
}

// cutQuoted splits a quoted-string off the front of v (which starts with '"') and returns
// its content (escapes left in place) and what follows up to the next comma; text between
// the closing quote and that comma is junk and dropped. An unterminated string returns
// everything including the opening quote, so a number in it reads as invalid.
func cutQuoted(v []byte) (val, rest []byte) {
	for j := 1; j < len(v); j++ {
		switch v[j] {
		case '\\':
			j++
		case '"':
			val, rest = v[1:j], v[j+1:]
			if k := bytes.IndexByte(rest, ','); k >= 0 {
				return val, rest[k:]
			}
			return val, nil
		}
	}
	return v, nil
}

func trimOWS(b []byte) []byte {
	b = trimLeftOWS(b)
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func trimLeftOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// equalFoldLower compares b case-insensitively (ASCII) with lower, which must already be
// lower case; unlike bytes.EqualFold it does no Unicode folding, which header tokens never
// need.
func equalFoldLower(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// trackingParams are query parameters that only feed analytics, so NormalizeKey drops
// them: otherwise every campaign link (utm_source=..., Alibaba's spm=..., from=home)
// would be a separate cache entry and a separate origin request for the same response.
// A trailing "*" matches any name with that prefix. Names match exactly as sent
// (case-sensitive, not percent-decoded): a parameter that merely looks like one of these
// is kept, which costs a cache entry, never a wrong answer.
//
// Dropping is only safe while no origin route reads these names; "from" in particular
// must never become a paging or filtering parameter of a cacheable API.
var trackingParams = [...]string{"utm_*", "spm", "from"}

// maxSortedParams bounds the stack space NormalizeKey sorts in. Real URLs have a handful
// of parameters; a query with more kept parameters than this keeps its own order, which
// is still a correct key, just one that does not merge reorderings.
const maxSortedParams = 32

// NormalizeKey appends the cache key of a request to dst: the host in lower case, then
// the path byte for byte (no percent-decoding, no dot-segment resolution: the origin
// decides what /a/../b means, and two spellings at worst cost two entries), then the
// query with its parameters sorted by name (equal names keep their order, since the
// origin may read repeated parameters as a list), tracking parameters and empty
// parameters dropped, and no "?" when nothing is left.
//
// The key must be unambiguous, or one request could fill the entry of another (cache
// poisoning through an odd Host header). So '/', '?' and '%' in the host are
// percent-encoded (the host then ends at the first '/'), a path that does not start with
// '/' gets one (fasthttp's paths always do), and a '?' inside the path is written %3F
// (the query then starts at the first '?').
//
// It does not allocate when dst has room for the result.
func NormalizeKey(dst []byte, host, path, query []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range host {
		switch {
		case 'A' <= c && c <= 'Z':
			dst = append(dst, c+'a'-'A')
		case c == '/' || c == '?' || c == '%':
			dst = append(dst, '%', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	if len(path) == 0 || path[0] != '/' {
		dst = append(dst, '/')
	}
	for {
		i := bytes.IndexByte(path, '?')
		if i < 0 {
			dst = append(dst, path...)
			break
		}
		dst = append(dst, path[:i]...)
		dst = append(dst, "%3F"...)
		path = path[i+1:]
	}
	return appendSortedQuery(dst, query)
}

// appendSortedQuery appends "?" and the kept parameters of query, sorted by name when
// there are at most maxSortedParams of them.
func appendSortedQuery(dst, query []byte) []byte {
	// Parameters are kept as offsets into query, in a fixed-size array, so sorting needs
	// no heap.
	type param struct{ start, nameEnd, end int }
	var params [maxSortedParams]param
	n := 0
	for start := 0; start < len(query); {
		nameEnd, end, keep := nextParam(query, start)
		if keep {
			if n < maxSortedParams {
				params[n] = param{start, nameEnd, end}
			}
			n++
		}
		start = end + 1
	}
	if n == 0 {
		return dst
	}
	dst = append(dst, '?')

	if n > maxSortedParams {
		sep := false
		for start := 0; start < len(query); {
			_, end, keep := nextParam(query, start)
			if keep {
				if sep {
					dst = append(dst, '&')
				}
				sep = true
				dst = append(dst, query[start:end]...)
			}
			start = end + 1
		}
		return dst
	}

	// Insertion sort: stable (a strict comparison never moves equal names past each
	// other) and the fastest choice for a few dozen elements.
	for i := 1; i < n; i++ {
		p := params[i]
		j := i
		for j > 0 && bytes.Compare(query[params[j-1].start:params[j-1].nameEnd], query[p.start:p.nameEnd]) > 0 {
			params[j] = params[j-1]
			j--
		}
		params[j] = p
	}
	for i, p := range params[:n] {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, query[p.start:p.end]...)
	}
	return dst
}

// nextParam finds the parameter that starts at query[start]: where its name ends, where
// it ends (the next '&' or the end), and whether the key keeps it (not empty, not
// tracking).
func nextParam(query []byte, start int) (nameEnd, end int, keep bool) {
	end = len(query)
	if i := bytes.IndexByte(query[start:], '&'); i >= 0 {
		end = start + i
	}
	nameEnd = end
	if i := bytes.IndexByte(query[start:end], '='); i >= 0 {
		nameEnd = start + i
	}
	return nameEnd, end, end > start && !isTrackingParam(query[start:nameEnd])
}

func isTrackingParam(name []byte) bool {
	for _, t := range trackingParams {
		if prefix, ok := cutSuffixStar(t); ok {
			if len(name) >= len(prefix) && string(name[:len(prefix)]) == prefix {
				return true
			}
		} else if string(name) == t {
			return true
		}
	}
	return false
}

func cutSuffixStar(s string) (string, bool) {
	if len(s) > 0 && s[len(s)-1] == '*' {
		return s[:len(s)-1], true
	}
	return s, false
}
