package loadgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

// Video is viewers watching a lesson: each connection asks for a playback grant, then
// the master playlist, a media playlist, and then the segments (and content keys) in
// order, starting over at the end. Every request of the schedule is the next step of some
// viewer, so real-time pace is a rate of connections ÷ segment seconds.
type Video struct {
	// Lesson is a free-preview lesson with video (luffy up prints one).
	Lesson int64
}

func (v Video) Name() string { return "video" }

func (v Video) New(_ int, rng *rand.Rand) Requester {
	return &viewer{lesson: v.Lesson, rng: rng}
}

type viewer struct {
	lesson   int64
	rng      *rand.Rand
	master   string   // path of the master playlist
	media    string   // path of the chosen media playlist
	segments []string // paths of segments and keys, in play order
	next     int
	step     int // 0 grant, 1 master, 2 media, 3 segments
}

func (v *viewer) Next(req *fasthttp.Request) {
	switch {
	case v.step == 0 || v.master == "":
		v.step = 0
		req.Header.SetMethod("POST")
		req.SetRequestURI("/api/v1/lessons/" + strconv.FormatInt(v.lesson, 10) + "/play")
	case v.step == 1 || v.media == "":
		v.step = 1
		req.SetRequestURI(v.master)
	case v.step == 2 || len(v.segments) == 0:
		v.step = 2
		req.SetRequestURI(v.media)
	default:
		req.SetRequestURI(v.segments[v.next])
	}
}

func (v *viewer) Done(_ *fasthttp.Request, resp *fasthttp.Response) {
	ok := resp.StatusCode() == 200
	body := resp.Body()
	if bytes.Equal(resp.Header.ContentEncoding(), []byte("gzip")) {
		body, _ = resp.BodyGunzip()
	}
	switch v.step {
	case 0:
		var grant struct{ URL string }
		if ok && json.Unmarshal(body, &grant) == nil {
			if u, err := url.Parse(grant.URL); err == nil && u.Path != "" {
				v.master, v.step = u.EscapedPath(), 1
			}
		}
	case 1:
		if ok {
			if lines := uris(body); len(lines) > 0 {
				v.media, v.step = resolve(v.master, lines[v.rng.IntN(len(lines))]), 2
			}
		}
	case 2:
		if ok {
			v.segments = v.segments[:0]
			for _, u := range uris(body) {
				v.segments = append(v.segments, resolve(v.media, u))
			}
			v.next, v.step = 0, 3
		}
	default:
		v.next++
		if v.next >= len(v.segments) {
			v.next = 0 // the viewer watches it again
		}
	}
}

// uris lists a playlist's URIs: its non-comment lines, and the URI of key tags, in order.
func uris(playlist []byte) []string {
	var out []string
	s := bufio.NewScanner(bytes.NewReader(playlist))
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXT-X-KEY:"):
			if i := strings.Index(line, `URI="`); i >= 0 {
				rest := line[i+5:]
				if j := strings.IndexByte(rest, '"'); j >= 0 {
					out = append(out, rest[:j])
				}
			}
		case !strings.HasPrefix(line, "#"):
			out = append(out, line)
		}
	}
	return out
}

// resolve makes a playlist's relative URI absolute against the playlist's path.
func resolve(base, ref string) string {
	if strings.HasPrefix(ref, "/") {
		return ref
	}
	dir, _ := path.Split(base)
	return dir + ref
}

// Mixed gives each connection one of several scenarios, by weight.
type Mixed struct {
	Parts   []Scenario
	Weights []int
}

func (m Mixed) Name() string {
	var b strings.Builder
	b.WriteString("mixed(")
	for i, p := range m.Parts {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%s=%d", p.Name(), m.Weights[i])
	}
	b.WriteString(")")
	return b.String()
}

func (m Mixed) New(conn int, rng *rand.Rand) Requester {
	total := 0
	for _, w := range m.Weights {
		total += w
	}
	// spread deterministically: connection k takes the part its position in the cycle
	// of the weights falls in
	x := conn % total
	for i, w := range m.Weights {
		if x < w {
			return m.Parts[i].New(conn, rng)
		}
		x -= w
	}
	return m.Parts[0].New(conn, rng)
}
