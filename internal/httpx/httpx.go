// Package httpx reads the request headers that decide between cached representations,
// the same way at the origin, the edge and the web front: Accept-Encoding for the gzip
// variant, If-None-Match for a 304.
package httpx

import "bytes"

var gzipToken = []byte("gzip")

// AcceptsGzip reports whether an Accept-Encoding value offers gzip (or "*") and does not
// refuse it with a q of zero ("gzip;q=0", "gzip; q=0.000").
func AcceptsGzip(ae []byte) bool {
	for len(ae) > 0 {
		var item []byte
		if i := bytes.IndexByte(ae, ','); i >= 0 {
			item, ae = ae[:i], ae[i+1:]
		} else {
			item, ae = ae, nil
		}
		coding, params, _ := bytes.Cut(item, []byte(";"))
		coding = bytes.TrimSpace(coding)
		if !bytes.EqualFold(coding, gzipToken) && string(coding) != "*" {
			continue
		}
		params = bytes.TrimSpace(params)
		if len(params) < 2 || (params[0] != 'q' && params[0] != 'Q') {
			return true
		}
		q := bytes.TrimSpace(params[1:])
		if len(q) == 0 || q[0] != '=' {
			return true
		}
		q = bytes.TrimRight(bytes.TrimSpace(q[1:]), "0") // "0", "0.0", "0.000" become "" or "0."
		return len(q) != 0 && string(q) != "0."
	}
	return false
}

// ETagMatches is If-None-Match's weak comparison of a list of entity tags (or "*")
// against the tags of a resource's representations; nil tags never match.
func ETagMatches(inm []byte, tags ...[]byte) bool {
	for len(inm) > 0 {
		inm = bytes.TrimLeft(inm, " ,\t")
		if len(inm) == 0 {
			return false
		}
		if inm[0] == '*' {
			return true
		}
		inm = bytes.TrimPrefix(inm, []byte("W/"))
		if len(inm) == 0 || inm[0] != '"' {
			return false
		}
		end := bytes.IndexByte(inm[1:], '"')
		if end < 0 {
			return false
		}
		tag := inm[:end+2]
		for _, t := range tags {
			if t != nil && bytes.Equal(tag, t) {
				return true
			}
		}
		inm = inm[end+2:]
	}
	return false
}
