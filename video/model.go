package video

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Rendition is one rung of the ladder.
type Rendition struct {
	Name         string `json:"name"` // [a-z0-9]+, e.g. "720p"
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	VideoBitrate int    `json:"video_bitrate"` // bits per second
	AudioBitrate int    `json:"audio_bitrate"` // bits per second
	// Bandwidth is the peak bits per second measured after transcoding, for the master
	// playlist's BANDWIDTH attribute.
	Bandwidth int `json:"bandwidth"`
	// Segments is the number of segments of this rendition.
	Segments int `json:"segments"`
}

// DefaultLadder is 360p and 720p with audio.
var DefaultLadder = []Rendition{
	{Name: "360p", Width: 640, Height: 360, VideoBitrate: 800_000, AudioBitrate: 96_000},
	{Name: "720p", Width: 1280, Height: 720, VideoBitrate: 2_800_000, AudioBitrate: 128_000},
}

var (
	videoIDRe   = regexp.MustCompile(`^[a-z0-9]{6,32}$`)
	renditionRe = regexp.MustCompile(`^[a-z0-9]{1,16}$`)
)

// ValidVideoID reports whether s can name a video.
func ValidVideoID(s string) bool { return videoIDRe.MatchString(s) }

// ValidRenditionName reports whether s can name a rendition.
func ValidRenditionName(s string) bool { return renditionRe.MatchString(s) }

// ObjectPrefix is where version of a video keeps its objects, ending in "/".
func ObjectPrefix(videoID string, version int) string {
	return "videos/" + videoID + "/v" + strconv.Itoa(version) + "/"
}

// RenditionPath is the URL path element of a rendition of a version: "v3-720p".
func RenditionPath(version int, name string) string {
	return "v" + strconv.Itoa(version) + "-" + name
}

// ParseRenditionPath splits "v3-720p" into 3 and "720p".
func ParseRenditionPath(s string) (version int, name string, err error) {
	v, n, ok := strings.Cut(s, "-")
	if !ok || len(v) < 2 || v[0] != 'v' || !ValidRenditionName(n) {
		return 0, "", fmt.Errorf("not a rendition path: %q", s)
	}
	if !allDigits(v[1:]) || len(v) > 10 {
		return 0, "", fmt.Errorf("not a rendition path: %q", s)
	}
	version, err = strconv.Atoi(v[1:])
	if err != nil || version <= 0 || v[1] == '0' {
		return 0, "", fmt.Errorf("not a rendition path: %q", s)
	}
	return version, n, nil
}

// SegmentName is the file name of segment i (from 0) of a rendition.
func SegmentName(i int) string { return fmt.Sprintf("seg-%05d.ts", i) }

// KeyURI is the URI, relative to a media playlist, of key n.
func KeyURI(n int) string { return "key?n=" + strconv.Itoa(n) }

// allDigits reports whether s is ASCII digits only: strconv accepts a sign, and "+1"
// must not be a second name for the same file (each name would be its own cache entry).
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}
