// Package httprange reads the single byte ranges that HLS players and download tools
// send, for origin and edge alike. Multi-range requests are refused (a player never
// sends one), which answers them with 416 rather than a multipart body.
package httprange

import (
	"strconv"
	"strings"
)

// Parse reads a Range header against a file of size bytes (RFC 9110 section 14.2): start
// and end are inclusive. A header this server does not act on (another unit, several
// ranges, a malformed spec) is ignored, as the RFC asks: ranged is false and the whole
// file is sent. ok is false only for a byte range the file cannot satisfy (answer 416).
func Parse(h string, size int64) (start, end int64, ranged, ok bool) {
	unit, spec, found := strings.Cut(h, "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return 0, 0, false, true
	}
	spec = strings.TrimSpace(spec)
	if strings.Contains(spec, ",") {
		return 0, 0, false, true
	}
	a, b, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false, true
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	num := func(s string) (int64, bool) {
		if s == "" || len(s) > 15 {
			return 0, false
		}
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	if a == "" { // a suffix: the last b bytes
		n, valid := num(b)
		if !valid {
			return 0, 0, false, true
		}
		if n == 0 || size == 0 {
			return 0, 0, false, false
		}
		return max(size-n, 0), size - 1, true, true
	}
	start, valid := num(a)
	if !valid {
		return 0, 0, false, true
	}
	end = size - 1
	if b != "" {
		e, valid := num(b)
		if !valid || e < start {
			return 0, 0, false, true
		}
		end = min(e, size-1)
	}
	if start >= size {
		return 0, 0, false, false
	}
	return start, end, true, true
}
