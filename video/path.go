package video

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// Kind is what a /v/ request asks for.
type Kind uint8

const (
	KindMaster  Kind = iota + 1 // master.m3u8 of the published version
	KindMedia                   // a rendition's index.m3u8
	KindSegment                 // a rendition's seg-NNNNN.ts
	KindKey                     // a content key: key?n=K
)

// Request is a parsed /v/{token}/{videoID}/... path.
type Request struct {
	Kind      Kind
	Token     string
	VideoID   string
	Version   int    // media, segment, key
	Rendition string // media, segment, key: the rendition name, e.g. "720p"
	Segment   int    // segment
}

// ErrNoSuchPath is every path that cannot name a file of a video: HTTP answers 404.
var ErrNoSuchPath = errors.New("no such video file")

// ParsePath parses the path of a playback request, "/v/" included. Anything that is not
// exactly one of the layout's shapes (dot segments, encoded slashes, extra elements) is
// ErrNoSuchPath.
func ParsePath(path string) (Request, error) {
	rest, ok := strings.CutPrefix(path, "/v/")
	if !ok || len(rest) > 512 || strings.ContainsAny(rest, "%\\") {
		return Request{}, ErrNoSuchPath
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 3 || len(parts) > 4 || parts[0] == "" {
		return Request{}, ErrNoSuchPath
	}
	r := Request{Token: parts[0], VideoID: parts[1]}
	if !ValidVideoID(r.VideoID) || len(r.Token) > maxTokenLength {
		return Request{}, ErrNoSuchPath
	}
	if len(parts) == 3 {
		if parts[2] != "master.m3u8" {
			return Request{}, ErrNoSuchPath
		}
		r.Kind = KindMaster
		return r, nil
	}
	v, name, err := ParseRenditionPath(parts[2])
	if err != nil {
		return Request{}, ErrNoSuchPath
	}
	r.Version, r.Rendition = v, name
	file := parts[3]
	switch {
	case file == "index.m3u8":
		r.Kind = KindMedia
	case file == "key":
		r.Kind = KindKey
	case len(file) == len("seg-00000.ts") && strings.HasPrefix(file, "seg-") && strings.HasSuffix(file, ".ts"):
		digits := file[4:9]
		for i := 0; i < len(digits); i++ {
			if digits[i] < '0' || digits[i] > '9' {
				return Request{}, ErrNoSuchPath
			}
		}
		r.Segment, _ = strconv.Atoi(digits)
		r.Kind = KindSegment
	default:
		return Request{}, ErrNoSuchPath
	}
	return r, nil
}

// ParseKeyIndex parses the n of key?n=K.
func ParseKeyIndex(s string) (int, error) {
	if !allDigits(s) || len(s) > 6 || (len(s) > 1 && s[0] == '0') {
		return 0, ErrNoSuchPath
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, ErrNoSuchPath
	}
	return n, nil
}

// RefererPolicy is hotlink protection: which sites may embed the platform's video.
type RefererPolicy struct {
	// Hosts are the allowed hosts; "luffycity.com" also allows its subdomains.
	Hosts []string
	// RequireReferer refuses requests without a Referer. Native apps and many players
	// send none, so by default an empty Referer is allowed.
	RequireReferer bool
}

// Allows reports whether a request with this Referer header may be served.
func (p RefererPolicy) Allows(referer string) bool {
	if referer == "" {
		return !p.RequireReferer
	}
	u, err := url.Parse(referer)
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	for _, h := range p.Hosts {
		if host == h || (strings.HasSuffix(host, h) && host[len(host)-len(h)-1] == '.') {
			return true
		}
	}
	return false
}
