package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/luffy-edu/luffy/judge"
	"github.com/luffy-edu/luffy/judge/sandbox"
	"github.com/luffy-edu/luffy/judge/testzip"
)

// Config is a judge worker's configuration; field help is the documentation of
// `luffy judge --help`, and zero values mean the documented defaults.
type Config struct {
	Concurrency    int           `help:"Submissions judged at once (one sandbox each)." default:"2" env:"LUFFY_JUDGE_CONCURRENCY"`
	Name           string        `help:"This worker's name in leases and sandbox labels (default: the host name). Sandboxes a previous worker of the same name left are removed at start." env:"LUFFY_JUDGE_NAME"`
	Lease          time.Duration `help:"How long a claimed submission stays this worker's without a heartbeat; a crashed worker's submissions are claimed again after it." default:"30s" env:"LUFFY_JUDGE_LEASE"`
	Poll           time.Duration `help:"How often to look for work when no NOTIFY arrives." default:"2s" env:"LUFFY_JUDGE_POLL"`
	MaxAttempts    int           `help:"Claims of one submission before it is judged IE instead of retried." default:"3" env:"LUFFY_JUDGE_MAX_ATTEMPTS"`
	TestCacheBytes int64         `help:"Byte budget of the in-memory cache of problems' tests." default:"536870912" env:"LUFFY_JUDGE_TEST_CACHE_BYTES"`
}

func (c *Config) setDefaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 2
	}
	if c.Name == "" {
		c.Name, _ = os.Hostname()
	}
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.Poll <= 0 {
		c.Poll = 2 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.TestCacheBytes <= 0 {
		c.TestCacheBytes = 512 << 20
	}
}

// Worker claims submissions from Postgres and judges them.
type Worker struct {
	cfg    Config
	store  *judge.Store
	judger *Judger
	pgURL  string
	tests  *ristretto.Cache[string, []judge.TestCase]
	wake   chan struct{}
	m      *metrics
	log    *slog.Logger
	// flushEvery spaces progress writes; tests lower it.
	flushEvery time.Duration
}

// New makes a worker. eng's owner label should be cfg.Name (cmd does this).
func New(cfg Config, store *judge.Store, eng *sandbox.Engine, pgURL string, reg prometheus.Registerer) (*Worker, error) {
	cfg.setDefaults()
	cache, err := ristretto.NewCache(&ristretto.Config[string, []judge.TestCase]{NumCounters: 100_000, MaxCost: cfg.TestCacheBytes, BufferItems: 64})
	if err != nil {
		return nil, err
	}
	return &Worker{
		cfg: cfg, store: store, judger: NewJudger(eng), pgURL: pgURL, tests: cache,
		wake: make(chan struct{}, cfg.Concurrency), m: newMetrics(reg),
		log: slog.With("component", "judge", "worker", cfg.Name), flushEvery: 250 * time.Millisecond,
	}, nil
}

// Run judges until ctx ends. It first removes the sandboxes a previous worker of the same
// name left behind, then runs Concurrency slots, each claiming and judging one submission
// at a time. On return every claimed submission is either finished or handed back.
//
// A worker that dies leaves its submissions to the others once their leases run out,
// and its sandboxes end with its connection to the engine; the few it had created and
// not yet started, every worker sweeps (see sandbox.Engine.SweepAbandoned).
func (w *Worker) Run(ctx context.Context) error {
	n, err := w.judger.Engine.Sweep(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		w.log.Info("removed sandboxes left by a previous worker", "count", n)
	}
	w.judger.Prestart(w.cfg.Concurrency)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.listen(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); w.gaugeQueue(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); w.sweepAbandoned(ctx) }()
	for i := 0; i < w.cfg.Concurrency; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); w.slot(ctx) }()
	}
	wg.Wait()
	w.judger.Close()
	return nil
}

// listen turns NOTIFY submissions_queued into wake-ups, reconnecting when the
// connection drops; the slots' poll covers the gaps.
func (w *Worker) listen(ctx context.Context) {
	for ctx.Err() == nil {
		conn, err := pgx.Connect(ctx, w.pgURL)
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+judge.QueuedChannel)
			for err == nil {
				_, err = conn.WaitForNotification(ctx)
				if err == nil {
					for range w.cfg.Concurrency {
						select {
						case w.wake <- struct{}{}:
						default:
						}
					}
				}
			}
			conn.Close(context.Background())
		}
		if ctx.Err() == nil {
			w.log.Warn("judge queue listener", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (w *Worker) gaugeQueue(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		if n, err := w.store.QueueDepth(ctx); err == nil {
			w.m.queueDepth.Set(float64(n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepAbandoned removes, every minute, the sandboxes that dead workers of any name created
// and never started.
func (w *Worker) sweepAbandoned(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		n, err := w.judger.Engine.SweepAbandoned(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			w.log.Warn("sweep abandoned sandboxes", "err", err)
		case n > 0:
			w.log.Info("removed sandboxes a dead worker created and never started", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) slot(ctx context.Context) {
	for ctx.Err() == nil {
		c, err := w.store.Claim(ctx, w.cfg.Name, w.cfg.Lease)
		if err != nil && ctx.Err() == nil {
			w.log.Warn("claim", "err", err)
		}
		if c == nil {
			select {
			case <-ctx.Done():
			case <-w.wake:
			case <-time.After(w.cfg.Poll):
			}
			continue
		}
		w.judgeOne(ctx, c)
	}
}

// judgeOne judges a claimed submission under a heartbeat that renews its lease; when the
// lease is lost, judging stops and nothing is written.
func (w *Worker) judgeOne(ctx context.Context, c *judge.Claimed) {
	start := time.Now()
	log := w.log.With("submission", c.ID, "attempt", c.Attempts)
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		t := time.NewTicker(w.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-jctx.Done():
				return
			case <-t.C:
				if err := w.store.Extend(jctx, c.ID, c.Lease(w.cfg.Name), w.cfg.Lease); errors.Is(err, judge.ErrLeaseLost) {
					log.Warn("lease lost; abandoning the submission")
					cancel()
					return
				}
			}
		}
	}()
	defer func() { cancel(); <-hbDone }()

	if c.Attempts > w.cfg.MaxAttempts {
		w.finish(ctx, c, log, judge.Outcome{Verdict: judge.InternalError, Message: fmt.Sprintf("judging failed %d times; an operator has been told", c.Attempts-1), Tests: []TestResult{}}, "", start)
		return
	}
	p, tests, err := w.problem(jctx, c.ProblemID)
	if err != nil {
		w.retry(ctx, c, log, fmt.Errorf("load problem %d: %w", c.ProblemID, err))
		return
	}
	var mu sync.Mutex
	partial := planTests(p, tests)
	lastFlush := time.Now()
	res, err := w.judger.Judge(jctx, p, tests, Submission{Language: c.Language, Source: c.Source}, func(done int, tr TestResult) {
		mu.Lock()
		defer mu.Unlock()
		partial[done-1] = tr
		if time.Since(lastFlush) >= w.flushEvery {
			lastFlush = time.Now()
			if err := w.store.Progress(jctx, c.ID, c.Lease(w.cfg.Name), sanitize(partial), done); errors.Is(err, judge.ErrLeaseLost) {
				cancel()
			}
		}
	})
	if err != nil {
		if jctx.Err() != nil {
			w.release(c, log)
			return
		}
		w.retry(ctx, c, log, err)
		return
	}
	done := 0
	for _, t := range res.Tests {
		if t.Verdict != "" {
			done++
		}
	}
	w.finish(ctx, c, log, judge.Outcome{
		Verdict: res.Verdict, Score: res.Score, TimeMS: res.TimeMS, MemoryKB: res.MemoryKB,
		CompileOutput: res.CompileOutput, Message: res.Message, Tests: sanitize(res.Tests), TestsDone: done,
	}, c.Language, start)
}

func (w *Worker) finish(ctx context.Context, c *judge.Claimed, log *slog.Logger, o judge.Outcome, lang string, start time.Time) {
	err := w.store.Finish(context.WithoutCancel(ctx), c.ID, c.Lease(w.cfg.Name), o)
	switch {
	case errors.Is(err, judge.ErrLeaseLost):
		log.Warn("lease lost before the verdict was written; another worker judges it")
	case err != nil:
		log.Error("record verdict", "err", err)
	default:
		w.m.judged.WithLabelValues(string(o.Verdict), lang).Inc()
		w.m.duration.Observe(time.Since(start).Seconds())
		log.Info("judged", "verdict", o.Verdict, "score", o.Score, "ms", time.Since(start).Milliseconds())
	}
}

// retry hands a submission the judge failed on (not the program: the engine, the object
// store) back to the queue; after MaxAttempts claims it is judged IE.
func (w *Worker) retry(ctx context.Context, c *judge.Claimed, log *slog.Logger, cause error) {
	log.Error("judging failed", "err", cause)
	w.m.failures.Inc()
	if c.Attempts >= w.cfg.MaxAttempts {
		w.finish(ctx, c, log, judge.Outcome{Verdict: judge.InternalError, Message: "the judge failed on this submission; an operator has been told", Tests: []TestResult{}}, c.Language, time.Now())
		return
	}
	w.release(c, log)
}

// release gives a submission back to the queue at once instead of waiting out the lease.
func (w *Worker) release(c *judge.Claimed, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.store.Release(ctx, c.ID, c.Lease(w.cfg.Name)); err != nil && !errors.Is(err, judge.ErrLeaseLost) {
		log.Warn("release submission", "err", err)
	}
}

// problem loads a problem and its tests, caching tests by (problem, tests version).
func (w *Worker) problem(ctx context.Context, id int64) (judge.Problem, []judge.TestCase, error) {
	p, err := w.store.ProblemByID(ctx, id)
	if err != nil {
		return p, nil, err
	}
	key := p.Extra.TestsKey
	if tests, ok := w.tests.Get(key); ok {
		return p, tests, nil
	}
	archive, err := w.store.TestArchive(ctx, p)
	if err != nil {
		return p, nil, err
	}
	tests, err := testzip.Read(bytes.NewReader(archive), int64(len(archive)), testzip.Limits{})
	if err != nil {
		return p, nil, err
	}
	w.tests.Set(key, tests, int64(len(archive))*2+1)
	return p, tests, nil
}

// sanitize makes results storable as jsonb, which refuses NUL characters in strings.
func sanitize(ts []TestResult) []TestResult {
	out := make([]TestResult, len(ts))
	for i, t := range ts {
		t.Message = strings.ReplaceAll(t.Message, "\x00", "\\0")
		if t.Diff != nil {
			d := *t.Diff
			d.Expected = strings.ReplaceAll(d.Expected, "\x00", "\\0")
			d.Got = strings.ReplaceAll(d.Got, "\x00", "\\0")
			t.Diff = &d
		}
		out[i] = t
	}
	return out
}
