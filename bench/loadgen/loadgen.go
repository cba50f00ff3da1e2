package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

// Config is one run.
type Config struct {
	Target      string        // base URL, http://host:port
	Connections int           // keep-alive connections held open
	Rate        float64       // requests per second over all connections
	Duration    time.Duration // of the measured phase, after the ramp
	DialRate    float64       // new connections per second during the ramp (default 2000)
	Timeout     time.Duration // per request (default 5s)
	// LateAfter is how late a send may leave and still count as on time (default 10ms).
	LateAfter time.Duration
	// Scenario makes the requests.
	Scenario Scenario
	// Progress, when set, gets a line a second.
	Progress io.Writer
	// Shard numbers this generator process among several, so that each uses its own
	// range of loopback source addresses.
	Shard int
	// Part says this process is one of several: the server's connection count is checked
	// against their sum after merging, not here.
	Part bool
}

// Scenario makes requests. New is called once per connection; the Requester it returns
// is used by that connection only.
type Scenario interface {
	Name() string
	New(conn int, rng *rand.Rand) Requester
}

// Requester fills the next request and sees its response.
type Requester interface {
	Next(req *fasthttp.Request)
	Done(req *fasthttp.Request, resp *fasthttp.Response)
}

// Error kinds.
const (
	ErrConnect = "connect"
	ErrWrite   = "write"
	ErrRead    = "read"
	ErrTimeout = "timeout"
	ErrStatus  = "status"
)

// Second is the per-second record of a run.
type Second struct {
	At        int     `json:"at"` // seconds since the measured phase began
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	OpenConns int64   `json:"open_connections"`
}

// Percentiles of a histogram, in milliseconds.
type Percentiles struct {
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
	Count int64   `json:"count"`
}

// Result is what a run measured; it is also the JSON result file.
type Result struct {
	Scenario        string `json:"scenario"`
	Target          string `json:"target"`
	Connections     int    `json:"connections"`
	ConnectionsOpen int    `json:"connections_open"`
	// ServerConnections is what the target's own open-connections gauge
	// (luffy_http_open_connections on /metrics, summed over its worker processes) said
	// halfway through the measured phase; -1 when it has none.
	ServerConnections int              `json:"server_connections"`
	Rate              float64          `json:"rate"`
	DurationS         float64          `json:"duration_s"`
	Started           time.Time        `json:"started"`
	Scheduled         int64            `json:"scheduled"`
	Sent              int64            `json:"sent"`
	Completed         int64            `json:"completed"`
	Late              int64            `json:"late"`    // left more than LateAfter after their intended time
	Dropped           int64            `json:"dropped"` // never sent: no connection was free before the run ended
	AchievedRate      float64          `json:"achieved_rate"`
	Errors            map[string]int64 `json:"errors"`
	StatusCodes       map[int]int64    `json:"status_codes"`
	Corrected         Percentiles      `json:"corrected"`   // from the intended send time
	Uncorrected       Percentiles      `json:"uncorrected"` // from the actual send time
	Valid             bool             `json:"valid"`
	Invalid           string           `json:"invalid_reason,omitempty"`
	Seconds           []Second         `json:"seconds"`
	// CorrectedHistogram is the corrected histogram, encoded, for reports that plot the
	// whole percentile spectrum.
	CorrectedHistogram   []Bucket `json:"corrected_histogram"`
	UncorrectedHistogram []Bucket `json:"uncorrected_histogram"`
	// The histograms themselves, so that the results of several generator processes
	// merge exactly (percentiles do not average).
	CorrectedCounts   *hdrhistogram.Snapshot `json:"corrected_counts,omitempty"`
	UncorrectedCounts *hdrhistogram.Snapshot `json:"uncorrected_counts,omitempty"`
}

// Bucket is one point of a percentile distribution.
type Bucket struct {
	Percentile float64 `json:"percentile"`
	Ms         float64 `json:"ms"`
}

// ErrorRate is errors over completed and failed requests.
func (r *Result) ErrorRate() float64 {
	var errs int64
	for _, n := range r.Errors {
		errs += n
	}
	if r.Sent == 0 {
		return 0
	}
	return float64(errs) / float64(r.Sent)
}

// WriteJSON writes the result file.
func (r *Result) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// ReadJSON reads a result file.
func ReadJSON(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("result file %s: %w", path, err)
	}
	return &r, nil
}

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(5*time.Minute/time.Microsecond), 3) // µs
}

func percentiles(h *hdrhistogram.Histogram) Percentiles {
	ms := func(v int64) float64 { return float64(v) / 1000 }
	return Percentiles{
		P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)), P99: ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()), Mean: h.Mean() / 1000, Count: h.TotalCount(),
	}
}

func spectrum(h *hdrhistogram.Histogram) []Bucket {
	var out []Bucket
	for _, q := range []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100} {
		out = append(out, Bucket{Percentile: q, Ms: float64(h.ValueAtQuantile(q)) / 1000})
	}
	return out
}

// shot is one scheduled request.
type shot struct {
	intended time.Time
}

// recorder collects measurements from all connections.
type recorder struct {
	mu          sync.Mutex
	corrected   *hdrhistogram.Histogram
	uncorrected *hdrhistogram.Histogram
	second      *hdrhistogram.Histogram
	secErrors   int64
	errors      map[string]int64
	statuses    map[int]int64
}

func (r *recorder) record(intended, sent, done time.Time, status int, errKind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if errKind != "" {
		r.errors[errKind]++
		r.secErrors++
		if errKind != ErrStatus {
			return
		}
	}
	r.statuses[status]++
	c := done.Sub(intended).Microseconds()
	r.corrected.RecordValue(max(c, 1))
	r.second.RecordValue(max(c, 1))
	r.uncorrected.RecordValue(max(done.Sub(sent).Microseconds(), 1))
}

// Run runs the load and returns what it measured.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Connections <= 0 || cfg.Rate <= 0 || cfg.Duration <= 0 {
		return nil, errors.New("connections, rate and duration must be positive")
	}
	if cfg.DialRate <= 0 {
		cfg.DialRate = 2000
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.LateAfter <= 0 {
		cfg.LateAfter = 10 * time.Millisecond
	}
	u, err := url.Parse(cfg.Target)
	if err != nil || u.Host == "" || u.Scheme != "http" {
		return nil, fmt.Errorf("target %q is not an http:// URL", cfg.Target)
	}
	host := u.Host
	if u.Port() == "" {
		host += ":80"
	}
	loopback := false
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() {
		loopback = true
	}

	rec := &recorder{corrected: newHist(), uncorrected: newHist(), second: newHist(), errors: map[string]int64{}, statuses: map[int]int64{}}
	res := &Result{Scenario: cfg.Scenario.Name(), Target: cfg.Target, Connections: cfg.Connections, Rate: cfg.Rate, DurationS: cfg.Duration.Seconds()}

	// Ramp: open the connections at a capped rate and hold them.
	conns := make([]*conn, cfg.Connections)
	var open atomic.Int64
	dialEvery := time.Duration(float64(time.Second) / cfg.DialRate)
	var dialWG sync.WaitGroup
	tick := time.Now()
	for i := range conns {
		if ctx.Err() != nil {
			break
		}
		c := &conn{id: i, host: host, timeout: cfg.Timeout, req: cfg.Scenario.New(i, rand.New(rand.NewPCG(uint64(i), 42)))}
		if loopback && u.Hostname() != "localhost" && strings.HasPrefix(u.Hostname(), "127.") {
			// many source addresses: one address has only ~28k ephemeral ports
			c.local = &net.TCPAddr{IP: net.IPv4(127, byte(1+cfg.Shard%250), byte(1+i/60000), byte(1+i%250))}
		}
		conns[i] = c
		dialWG.Add(1)
		go func() {
			defer dialWG.Done()
			if c.dial() == nil {
				open.Add(1)
			}
		}()
		tick = tick.Add(dialEvery)
		if d := time.Until(tick); d > 0 {
			time.Sleep(d)
		}
	}
	dialWG.Wait()
	res.ConnectionsOpen = int(open.Load())
	if res.ConnectionsOpen == 0 {
		return nil, fmt.Errorf("no connection to %s could be opened", host)
	}
	res.ServerConnections = -1

	// The schedule: request i is due at start + i/rate. Free connections take due shots
	// from a queue; a shot waits in the queue when none is free, and its latency still
	// counts from when it was due.
	queue := make(chan shot, cfg.Connections+int(cfg.Rate)+1024)
	start := time.Now().Add(10 * time.Millisecond)
	res.Started = start
	end := start.Add(cfg.Duration)
	total := int64(cfg.Rate * cfg.Duration.Seconds())
	var sent, completed, late, lastSend atomic.Int64
	var workers sync.WaitGroup
	for _, c := range conns {
		if c == nil || c.nc == nil {
			continue
		}
		workers.Add(1)
		go func() {
			defer workers.Done()
			defer c.close()
			for s := range queue {
				now := time.Now()
				if now.After(end.Add(cfg.Timeout)) {
					continue // drained after the run: counted as dropped below
				}
				if now.Sub(s.intended) > cfg.LateAfter {
					late.Add(1)
				}
				sent.Add(1)
				status, kind, sentAt := c.do()
				for { // the latest send, for the achieved rate
					prev := lastSend.Load()
					if sentAt.UnixNano() <= prev || lastSend.CompareAndSwap(prev, sentAt.UnixNano()) {
						break
					}
				}
				rec.record(s.intended, sentAt, time.Now(), status, kind)
				completed.Add(1)
				if kind == ErrConnect || kind == ErrRead || kind == ErrWrite || kind == ErrTimeout {
					// the connection is unusable after a failed exchange: a new one, or
					// this worker stops and the others take the rest of the schedule
					if c.dial() != nil {
						open.Add(-1)
						return
					}
				}
			}
		}()
	}

	// Progress and the per-second series.
	stopTicker := make(chan struct{})
	tickerDone := make(chan struct{})
	go func() {
		defer close(tickerDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last int64
		for sec := 1; ; sec++ {
			select {
			case <-stopTicker:
				return
			case <-t.C:
			}
			rec.mu.Lock()
			h := rec.second
			s := Second{At: sec, Requests: h.TotalCount(), Errors: rec.secErrors, P50Ms: float64(h.ValueAtQuantile(50)) / 1000,
				P99Ms: float64(h.ValueAtQuantile(99)) / 1000, MaxMs: float64(h.Max()) / 1000, OpenConns: open.Load()}
			rec.second = newHist()
			rec.secErrors = 0
			rec.mu.Unlock()
			res.Seconds = append(res.Seconds, s)
			if cfg.Progress != nil {
				done := completed.Load()
				fmt.Fprintf(cfg.Progress, "\r%3ds  %7.0f req/s  p50 %6.1f ms  p99 %7.1f ms  errors %d  late %d  open %d    ",
					sec, float64(done-last), s.P50Ms, s.P99Ms, s.Errors, late.Load(), s.OpenConns)
				last = done
			}
		}
	}()

	// Halfway through, every generator process has ramped: ask the server what it holds.
	serverCount := make(chan int, 1)
	go func() {
		select {
		case <-time.After(time.Until(start.Add(cfg.Duration / 2))):
			serverCount <- ServerConnections(cfg.Target)
		case <-ctx.Done():
			serverCount <- -1
		}
	}()

	var scheduled int64
	interval := float64(time.Second) / cfg.Rate
	for i := int64(0); i < total; i++ {
		due := start.Add(time.Duration(float64(i) * interval))
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
				i = total
				continue
			case <-time.After(d):
			}
		}
		select {
		case queue <- shot{intended: due}:
			scheduled++
		default:
			// even the queue is full: the generator or the server cannot keep up
			scheduled++
			res.Dropped++
		}
	}
	close(queue)
	workers.Wait()
	close(stopTicker)
	<-tickerDone
	if cfg.Progress != nil {
		fmt.Fprintln(cfg.Progress)
	}

	res.ServerConnections = <-serverCount
	res.Scheduled = scheduled
	res.Sent = sent.Load()
	res.Completed = completed.Load()
	res.Late = late.Load()
	res.Dropped += scheduled - res.Sent
	// sends per second over the span they were spread across (the first is due at start,
	// the last one interval before the end)
	if span := time.Unix(0, lastSend.Load()).Sub(start).Seconds(); res.Sent > 1 && span > 0 {
		res.AchievedRate = float64(res.Sent-1) / span
	}

	res.Errors = rec.errors
	res.StatusCodes = rec.statuses
	res.Corrected = percentiles(rec.corrected)
	res.Uncorrected = percentiles(rec.uncorrected)
	res.CorrectedHistogram = spectrum(rec.corrected)
	res.UncorrectedHistogram = spectrum(rec.uncorrected)
	res.CorrectedCounts = rec.corrected.Export()
	res.UncorrectedCounts = rec.uncorrected.Export()
	res.Valid = true
	switch {
	case res.Dropped > 0:
		res.Valid, res.Invalid = false, fmt.Sprintf("%d scheduled requests were never sent: the generator fell behind", res.Dropped)
	case res.Scheduled > 0 && float64(res.Late)/float64(res.Scheduled) > 0.01:
		res.Valid, res.Invalid = false, fmt.Sprintf("%.1f%% of requests left more than %v late: the generator fell behind (the corrected latencies still count it)", 100*float64(res.Late)/float64(res.Scheduled), cfg.LateAfter)
	case res.ConnectionsOpen < cfg.Connections:
		res.Valid, res.Invalid = false, fmt.Sprintf("only %d of %d connections opened", res.ConnectionsOpen, cfg.Connections)
	case !cfg.Part && res.ServerConnections >= 0 && float64(res.ServerConnections) < 0.99*float64(res.ConnectionsOpen):
		res.Valid, res.Invalid = false, fmt.Sprintf("the server counted %d open connections, the generator %d", res.ServerConnections, res.ConnectionsOpen)
	}
	return res, nil
}

// conn is one keep-alive connection and its scenario state.
type conn struct {
	id       int
	host     string
	local    *net.TCPAddr
	timeout  time.Duration
	req      Requester
	nc       net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	others   map[string]*otherConn
	body     bytes.Buffer
	request  fasthttp.Request
	response fasthttp.Response
}

func (c *conn) dial() error {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
	d := net.Dialer{Timeout: c.timeout, LocalAddr: c.local}
	nc, err := d.Dial("tcp", c.host)
	if err != nil && c.local != nil {
		// that source address is not usable here: the kernel's choice then
		d.LocalAddr = nil
		nc, err = d.Dial("tcp", c.host)
	}
	if err != nil {
		return err
	}
	c.nc = nc
	c.br = bufio.NewReaderSize(nc, 16<<10)
	c.bw = bufio.NewWriterSize(nc, 4<<10)
	return nil
}

func (c *conn) close() {
	if c.nc != nil {
		c.nc.Close()
	}
	for _, o := range c.others {
		o.nc.Close()
	}
}

// otherConn is the connection to another host, dialed on first use and redialed after
// the host closed it.
type otherConn struct {
	nc net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func (c *conn) otherConn(host string) (*otherConn, error) {
	if o, ok := c.others[host]; ok {
		return o, nil
	}
	addr := host
	if !strings.Contains(addr, ":") {
		addr += ":80"
	}
	nc, err := net.DialTimeout("tcp", addr, c.timeout)
	if err != nil {
		return nil, err
	}
	o := &otherConn{nc: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc)}
	if c.others == nil {
		c.others = map[string]*otherConn{}
	}
	c.others[host] = o
	return o, nil
}

// do sends the scenario's next request and reads the response.
func (c *conn) do() (status int, errKind string, sentAt time.Time) {
	sentAt = time.Now()
	if c.nc == nil {
		return 0, ErrConnect, sentAt
	}
	c.request.Reset()
	c.req.Next(&c.request)
	nc, br, bw := c.nc, c.br, c.bw
	if h := string(c.request.URI().Host()); h != "" && h != c.host {
		// a scenario step on another host (a payment gateway): its own connection,
		// forgotten when it fails so that the next step dials again
		o, err := c.otherConn(h)
		if err != nil {
			return 0, ErrConnect, sentAt
		}
		nc, br, bw = o.nc, o.br, o.bw
		defer func() {
			if errKind == ErrRead || errKind == ErrWrite || errKind == ErrTimeout {
				o.nc.Close()
				delete(c.others, h)
			}
		}()
	} else {
		c.request.SetHost(c.host) // after the URI, which would reset it
	}
	nc.SetDeadline(sentAt.Add(c.timeout))
	if err := c.request.Write(bw); err != nil {
		return 0, classify(err, ErrWrite), sentAt
	}
	if err := bw.Flush(); err != nil {
		return 0, classify(err, ErrWrite), sentAt
	}
	c.response.Reset()
	c.response.SkipBody = string(c.request.Header.Method()) == "HEAD"
	// Bodies stream: a segment is read off the wire and dropped. Kept whole in every
	// viewer's response, thousands of them held gigabytes and the generator, not the
	// server, stalled in its garbage collector.
	c.response.StreamBody = true
	if err := c.response.Read(br); err != nil {
		return 0, classify(err, ErrRead), sentAt
	}
	if bs := c.response.BodyStream(); bs != nil {
		var err error
		if bytes.HasPrefix(c.response.Header.ContentType(), []byte("video/")) {
			_, err = io.Copy(io.Discard, bs)
		} else {
			c.body.Reset()
			_, err = c.body.ReadFrom(io.LimitReader(bs, 4<<20))
			c.response.SetBodyRaw(c.body.Bytes())
		}
		c.response.CloseBodyStream()
		if err != nil {
			return 0, classify(err, ErrRead), sentAt
		}
	}
	status = c.response.StatusCode()
	c.req.Done(&c.request, &c.response)
	if status >= 400 && status != 404 {
		return status, ErrStatus, sentAt
	}
	return status, "", sentAt
}

func classify(err error, def string) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrTimeout
	}
	return def
}

// ServerConnections reads the target's open-connections gauge, summed over its worker
// processes; -1 when the target has none. Worker processes share the port, and each
// answers /metrics for itself only: new connections land on different workers, so the
// gauge is read over fresh connections until every worker seen has answered a few times.
func ServerConnections(target string) int {
	perWorker := map[string]float64{}
	found := false
	for attempt := 0; attempt < 40; attempt++ {
		var c fasthttp.Client // a new client: a new connection, maybe another worker
		status, body, err := c.GetTimeout(nil, strings.TrimRight(target, "/")+"/metrics", 5*time.Second)
		c.CloseIdleConnections()
		if err != nil || status != 200 {
			continue
		}
		for _, line := range strings.Split(string(body), "\n") {
			if !strings.HasPrefix(line, "luffy_http_open_connections") {
				continue
			}
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				continue
			}
			label := f[0]            // the metric with its labels names the worker
			perWorker[label] = v - 1 // less this scrape's own connection
			found = true
		}
	}
	if !found {
		return -1
	}
	total := 0.0
	for _, v := range perWorker {
		total += v
	}
	return int(total)
}
