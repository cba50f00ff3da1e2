package origin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/valyala/fasthttp"

	"github.com/luffy-edu/luffy/judge"
)

// Defaults of a submissionHub.
const (
	streamPoll      = 2 * time.Second
	streamKeepalive = 15 * time.Second
	streamMaxAge    = 10 * time.Minute
	maxStreams      = 10_000
)

// submissionHub holds the event streams open on this origin and wakes them when a worker
// announces progress: one LISTEN connection per origin, however many streams, fanned out
// by submission id.
type submissionHub struct {
	pgURL string

	// poll is how often a stream re-reads its submission whatever it hears: a claim is
	// not announced, and notifications sent while the listener reconnects are lost.
	poll       time.Duration
	keepalive  time.Duration // comment lines that keep proxies from closing an idle stream
	maxAge     time.Duration // a stream ends after this; EventSource clients reconnect
	maxStreams int64

	mu   sync.Mutex
	subs map[int64]map[chan struct{}]struct{}

	open atomic.Int64 // streams open now
	up   atomic.Bool  // the LISTEN connection is up

	ctx     context.Context // canceled by stop: streams end and the listener closes
	cancel  context.CancelFunc
	started atomic.Bool
	done    chan struct{} // closed when the listener has returned
}

func newSubmissionHub(pgURL string) *submissionHub {
	ctx, cancel := context.WithCancel(context.Background())
	return &submissionHub{
		pgURL: pgURL, poll: streamPoll, keepalive: streamKeepalive, maxAge: streamMaxAge, maxStreams: maxStreams,
		subs: map[int64]map[chan struct{}]struct{}{}, ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
}

// start runs the listener in the background, once.
func (h *submissionHub) start() {
	if h.started.Swap(true) {
		return
	}
	go func() {
		defer close(h.done)
		h.listen()
	}()
}

// stop ends every stream and the listener.
func (h *submissionHub) stop() {
	h.cancel()
	if h.started.Load() {
		<-h.done
	}
}

// subscribe returns a channel that receives a value (coalesced: it holds one) whenever
// submission id may have changed, and the function that unsubscribes it.
func (h *submissionHub) subscribe(id int64) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	set := h.subs[id]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		h.subs[id] = set
	}
	set[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(set, ch)
		if len(set) == 0 {
			delete(h.subs, id)
		}
		h.mu.Unlock()
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // already woken and not yet awake: one re-read covers both
	}
}

// announce wakes the streams of submission id.
func (h *submissionHub) announce(id int64) {
	h.mu.Lock()
	for ch := range h.subs[id] {
		wake(ch)
	}
	h.mu.Unlock()
}

// announceAll wakes every stream, after a reconnect: what was announced meanwhile went
// unheard.
func (h *submissionHub) announceAll() {
	h.mu.Lock()
	for _, set := range h.subs {
		for ch := range set {
			wake(ch)
		}
	}
	h.mu.Unlock()
}

// listen keeps the LISTEN connection open, reconnecting with backoff.
func (h *submissionHub) listen() {
	backoff := 100 * time.Millisecond
	for h.ctx.Err() == nil {
		connected, err := h.listenOnce(h.ctx)
		h.up.Store(false)
		if h.ctx.Err() != nil {
			return
		}
		if connected {
			backoff = 100 * time.Millisecond
		}
		slog.Warn("submission event listener disconnected; streams poll until it is back", "err", err, "retry_in", backoff)
		select {
		case <-h.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

func (h *submissionHub) listenOnce(ctx context.Context) (connected bool, err error) {
	cfg, err := pgx.ParseConfig(h.pgURL)
	if err != nil {
		return false, err
	}
	// As for catalog changes (listen.go): notice a vanished peer in seconds.
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 2 * time.Second, Count: 3}}
	cfg.DialFunc = d.DialContext
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+judge.SubmissionEventsChannel); err != nil {
		return false, err
	}
	h.up.Store(true)
	h.announceAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		if id, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
			h.announce(id)
		}
	}
}

var errTooManyStreams = &apiError{fasthttp.StatusServiceUnavailable, "busy", "too many event streams open on this server; poll GET /api/v1/submissions/{id} instead"}

// serveSubmissionEvents streams a submission as server-sent events: "progress" with the
// submission now, again whenever it changes, and "done" with the verdict, after which the
// stream ends.
func (s *Server) serveSubmissionEvents(ctx *fasthttp.RequestCtx, rawID []byte) {
	u, ok := s.user(ctx)
	if !ok {
		return
	}
	id, err := submissionID(rawID)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	h := s.events
	if h.open.Add(1) > h.maxStreams {
		h.open.Add(-1)
		writeError(ctx, errTooManyStreams)
		return
	}
	// Subscribed before the first read, so that no change between the two goes unheard.
	woken, unsubscribe := h.subscribe(id)
	v, err := s.readableSubmission(s.dbctx(ctx), u, id)
	if err != nil {
		unsubscribe()
		h.open.Add(-1)
		s.fail(ctx, err)
		return
	}
	first, err := json.Marshal(v)
	if err != nil {
		unsubscribe()
		h.open.Add(-1)
		s.fail(ctx, err)
		return
	}
	ctx.SetContentType("text/event-stream; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.Header.Set("X-Accel-Buffering", "no") // nginx and its kin must pass each event on at once
	st := &eventStream{
		hub: h, store: s.judge, id: id, woken: woken,
		conn: ctx.Conn(), writeTimeout: s.cfg.WriteTimeout, readTimeout: s.cfg.RequestTimeout,
	}
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer h.open.Add(-1)
		defer unsubscribe()
		st.run(w, first, v.Status == "done")
	})
}

// eventStream is one client's stream. It runs after the handler has returned, so it
// holds the connection itself (to push the write deadline on with each event) and never
// the RequestCtx, which fasthttp may reuse.
type eventStream struct {
	hub          *submissionHub
	store        *judge.Store
	id           int64
	woken        <-chan struct{}
	conn         net.Conn
	writeTimeout time.Duration
	readTimeout  time.Duration
}

func (st *eventStream) run(w *bufio.Writer, first []byte, done bool) {
	if !st.send(w, "progress", first) {
		return
	}
	if done {
		st.send(w, "done", first)
		return
	}
	poll := time.NewTicker(st.hub.poll)
	defer poll.Stop()
	keepalive := time.NewTicker(st.hub.keepalive)
	defer keepalive.Stop()
	expire := time.NewTimer(st.hub.maxAge)
	defer expire.Stop()
	last := first
	for {
		select {
		case <-st.woken:
		case <-poll.C:
		case <-keepalive.C:
			if !st.write(w, ": keepalive\n\n") {
				return
			}
			continue
		case <-expire.C:
			return
		case <-st.hub.ctx.Done():
			return
		}
		b, status, err := st.read()
		if errors.Is(err, judge.ErrNotFound) {
			return // deleted while watched
		}
		if err != nil {
			slog.Warn("submission event stream: read failed; retrying at the next poll", "submission", st.id, "err", err)
			continue
		}
		if status == "done" {
			st.send(w, "done", b)
			return
		}
		if string(b) != string(last) {
			if !st.send(w, "progress", b) {
				return
			}
			last = b
		}
	}
}

func (st *eventStream) read() ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(st.hub.ctx, st.readTimeout)
	defer cancel()
	v, err := st.store.Submission(ctx, st.id)
	if err != nil {
		return nil, "", err
	}
	b, err := json.Marshal(v)
	return b, v.Status, err
}

// send writes one event; data is compact JSON, so it is one data line. It reports
// whether the client is still there.
func (st *eventStream) send(w *bufio.Writer, event string, data []byte) bool {
	st.extendDeadline()
	w.WriteString("event: ")
	w.WriteString(event)
	w.WriteString("\ndata: ")
	w.Write(data)
	w.WriteString("\n\n")
	return w.Flush() == nil
}

func (st *eventStream) write(w *bufio.Writer, s string) bool {
	st.extendDeadline()
	w.WriteString(s)
	return w.Flush() == nil
}

// extendDeadline gives the next write the server's write timeout from now: the stream as
// a whole may last minutes, but a client that stops reading is dropped as soon as any
// other response's would be.
func (st *eventStream) extendDeadline() {
	if st.writeTimeout > 0 {
		st.conn.SetWriteDeadline(time.Now().Add(st.writeTimeout))
	}
}
