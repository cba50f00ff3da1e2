package chaos

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/bench/loadgen"
)

// client is the HTTP client of the tests' own requests: keep-alive, no transparent
// gzip (the edge caches gzip and identity apart, and the tests say which they ask for),
// and a timeout well past anything a healthy answer takes, so a hanging request shows
// as an error instead of stalling the test.
var client = &http.Client{
	Timeout: 5 * time.Second,
	Transport: &http.Transport{
		MaxIdleConnsPerHost: 64, DisableCompression: true, IdleConnTimeout: 30 * time.Second,
		DialContext: dials.dial,
	},
}

// dials counts the connections the tests' client opens, by address: a server's count of
// open connections is judged against what the test itself keeps open.
var dials = &dialCounter{n: map[string]int{}}

type dialCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (d *dialCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext(ctx, network, addr)
	if err == nil {
		d.mu.Lock()
		d.n[addr]++
		d.mu.Unlock()
	}
	return c, err
}

// to is how many connections were opened to the host of base so far.
func (d *dialCounter) to(base string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n[strings.TrimPrefix(base, "http://")]
}

// doJSON sends a JSON request and decodes a JSON answer into out (when not nil).
func doJSON(t *testing.T, method, url, token string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := readBody(resp)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %q", method, url, err, b)
		}
	}
	return resp.StatusCode
}

// readBody reads a response body, gunzipping it when it came gzipped.
func readBody(resp *http.Response) ([]byte, error) {
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.Header.Get("Content-Encoding") != "gzip" {
		return b, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// get fetches url (gzip accepted) and returns the status, Cache-Status and body.
func get(url string) (int, string, []byte, error) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := readBody(resp)
	return resp.StatusCode, resp.Header.Get("Cache-Status"), b, err
}

// sample is one request the test's own load made, and what came back.
type sample struct {
	class       string // the caller's label: what kind of request this was
	url         string
	sent        time.Time
	took        time.Duration
	status      int // 0 when no answer came
	err         error
	cacheStatus string
	contentType string
	retryAfter  string
	errorCode   string // the code of a JSON error body
}

func (s sample) ok() bool { return s.err == nil && (s.status == 200 || s.status == 304) }

// target is one request of a load: its class and how to make it.
type target struct {
	class string
	url   string
}

// load sends requests at a fixed rate whatever the server does (open model, each
// request on its own goroutine), and keeps every sample.
type load struct {
	mu      sync.Mutex
	samples []sample
	wg      sync.WaitGroup
}

// run sends next(i) at rate per second until ctx ends.
func (l *load) run(ctx context.Context, rate float64, next func(i int) target) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		start := time.Now()
		every := time.Duration(float64(time.Second) / rate)
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(start.Add(time.Duration(i) * every))):
			}
			tg := next(i)
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				s := fetch(tg)
				l.mu.Lock()
				l.samples = append(l.samples, s)
				l.mu.Unlock()
			}()
		}
	}()
}

// stop waits for the requests in flight and returns every sample, in send order.
func (l *load) wait() []sample {
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.samples)
	slices.SortFunc(out, func(a, b sample) int { return a.sent.Compare(b.sent) })
	return out
}

func fetch(tg target) sample {
	s := sample{class: tg.class, url: tg.url, sent: time.Now()}
	req, _ := http.NewRequest("GET", tg.url, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		s.took, s.err = time.Since(s.sent), err
		return s
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.took, s.err, s.status = time.Since(s.sent), err, resp.StatusCode
	s.cacheStatus = resp.Header.Get("Cache-Status")
	s.contentType = resp.Header.Get("Content-Type")
	s.retryAfter = resp.Header.Get("Retry-After")
	if resp.StatusCode >= 400 {
		s.errorCode = errorCode(b)
	}
	return s
}

// errorCode is the code of a JSON error body ({"error": {"code": ...}}), or "" when the
// body is not one.
func errorCode(b []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil {
		return ""
	}
	return e.Error.Code
}

// between returns the samples of class (any class when "") sent in [from, to).
func between(all []sample, class string, from, to time.Time) []sample {
	var out []sample
	for _, s := range all {
		if (class == "" || s.class == class) && !s.sent.Before(from) && s.sent.Before(to) {
			out = append(out, s)
		}
	}
	return out
}

// failures returns the samples that did not get a 200 or 304.
func failures(ss []sample) []sample {
	var out []sample
	for _, s := range ss {
		if !s.ok() {
			out = append(out, s)
		}
	}
	return out
}

func describe(ss []sample, n int) string {
	var b strings.Builder
	for i, s := range ss {
		if i == n {
			fmt.Fprintf(&b, "  ... and %d more\n", len(ss)-n)
			break
		}
		fmt.Fprintf(&b, "  %s %s %s: status %d err %v cache-status %q code %q in %v\n", s.sent.Format("15:04:05.000"), s.class, s.url, s.status, s.err, s.cacheStatus, s.errorCode, s.took.Round(time.Millisecond))
	}
	return b.String()
}

// latencies summarizes how long samples took.
type latencies struct {
	n               int
	p50, p99, worst time.Duration
}

func latencyOf(ss []sample) latencies {
	if len(ss) == 0 {
		return latencies{}
	}
	d := make([]time.Duration, len(ss))
	for i, s := range ss {
		d[i] = s.took
	}
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return latencies{n: len(d), p50: q(0.50), p99: q(0.99), worst: d[len(d)-1]}
}

func (l latencies) String() string {
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", l.n, l.p50.Round(100*time.Microsecond), l.p99.Round(100*time.Microsecond), l.worst.Round(100*time.Microsecond))
}

// countBy counts samples by a key.
func countBy(ss []sample, key func(sample) string) map[string]int {
	m := map[string]int{}
	for _, s := range ss {
		m[key(s)]++
	}
	return m
}

// benchResult is what `luffy bench` measured.
type benchResult = loadgen.Result

func readBench(t *testing.T, file string) *benchResult {
	t.Helper()
	r, err := loadgen.ReadJSON(file)
	if err != nil {
		t.Fatalf("bench result: %v", err)
	}
	return r
}

func benchErrors(r *benchResult) int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// benchErrorsBetween counts the errors bench saw in the seconds of its run that overlap
// [from, to].
func benchErrorsBetween(r *benchResult, from, to time.Time) (requests, errors int64) {
	for _, s := range r.Seconds {
		end := r.Started.Add(time.Duration(s.At) * time.Second)
		if end.After(from) && end.Add(-time.Second).Before(to) {
			requests += s.Requests
			errors += s.Errors
		}
	}
	return requests, errors
}

func benchSummary(r *benchResult) string {
	return fmt.Sprintf("%s: %d sent at %.0f/s, %d errors %v, statuses %v, p99 %.1f ms (valid: %v %s)",
		r.Scenario, r.Sent, r.AchievedRate, benchErrors(r), r.Errors, r.StatusCodes, r.Corrected.P99, r.Valid, r.Invalid)
}

// video is the files of one published video, as a player finds them from its
// playback URL.
type video struct {
	master   string              // URL of the master playlist
	media    []string            // URLs of the media playlists
	segments map[string][]string // per media playlist, its segment URLs in order
}

// play asks base for a playback URL of a free-preview lesson and walks the playlists
// (read from the edge or origin at base) to list every file. Key URIs are left out:
// keys are never cached, and answered from Postgres, not the object store.
func play(t *testing.T, base string, lesson int64) video {
	t.Helper()
	var grant struct {
		URL string `json:"url"`
	}
	if st := doJSON(t, "POST", fmt.Sprintf("%s/api/v1/lessons/%d/play", base, lesson), "", nil, &grant); st != http.StatusOK {
		t.Fatalf("play lesson %d: status %d", lesson, st)
	}
	i := strings.Index(grant.URL, "/v/")
	v := video{master: base + grant.URL[i:], segments: map[string][]string{}}
	for _, ref := range playlist(t, v.master) {
		m := resolve(v.master, ref)
		v.media = append(v.media, m)
		for _, seg := range playlist(t, m) {
			if strings.HasSuffix(seg, ".ts") {
				v.segments[m] = append(v.segments[m], resolve(m, seg))
			}
		}
	}
	if len(v.media) < 2 || len(v.segments[v.media[0]]) < 4 {
		t.Fatalf("video of lesson %d: want 2 renditions of 4 segments or more, have %d playlists, %v", lesson, len(v.media), v.segments)
	}
	return v
}

// files is every file of the video: playlists and segments.
func (v video) files() []string {
	out := append([]string{v.master}, v.media...)
	for _, m := range v.media {
		out = append(out, v.segments[m]...)
	}
	return out
}

// at is the URL of the same file on another server (the origin instead of the edge).
func at(base, url string) string {
	i := strings.Index(url, "/v/")
	return base + url[i:]
}

func playlist(t *testing.T, url string) []string {
	t.Helper()
	status, _, body, err := get(url)
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, status, err)
	}
	var refs []string
	for _, l := range readLines(body) {
		if !strings.HasPrefix(l, "#") {
			refs = append(refs, l)
		}
	}
	return refs
}

func resolve(base, ref string) string {
	dir, _ := path.Split(base)
	return dir + ref
}

// warm fetches every url once and fails the test unless each answers 200.
func warm(t *testing.T, urls []string) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan string, len(urls))
	for _, u := range urls {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if st, _, _, err := get(u); err != nil || st != http.StatusOK {
				errs <- fmt.Sprintf("%s: %d %v", u, st, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("warm %s", e)
	}
	if t.Failed() {
		t.FailNow()
	}
}
