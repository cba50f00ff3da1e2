package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/luffy-edu/luffy/judge"
	"github.com/luffy-edu/luffy/judge/sandbox"
	"github.com/luffy-edu/luffy/judge/worker"
	"github.com/luffy-edu/luffy/storage"
)

// judgeImageCmd builds the sandbox image.
type judgeImageCmd struct {
	WorkDir string `name:"work-dir" help:"Where the root filesystem is assembled (needs about 2 GB)." default:".data/judge-build" env:"LUFFY_JUDGE_BUILD_DIR"`
	Mirror  string `help:"Debian mirror (default: the first one in this machine's apt sources)." env:"LUFFY_JUDGE_MIRROR"`
	Force   bool   `help:"Rebuild even when the image for this recipe exists."`
	Print   bool   `help:"Only print the image tag of the built-in recipe."`
}

func (c judgeImageCmd) Run(ctx context.Context) error {
	r := sandbox.DefaultRecipe()
	if c.Print {
		fmt.Println(r.Tag())
		return nil
	}
	eng, err := sandbox.NewEngine(ctx, sandbox.Config{})
	if err != nil {
		return err
	}
	defer eng.Close()
	dir, err := filepath.Abs(c.WorkDir)
	if err != nil {
		return err
	}
	tag, err := sandbox.BuildImage(ctx, eng.Client(), r, sandbox.BuildOptions{WorkDir: dir, Mirror: c.Mirror, Force: c.Force})
	if err != nil {
		return err
	}
	fmt.Println(tag)
	return nil
}

// judgeCmd groups the judge's commands; plain `luffy judge` runs a worker.
type judgeCmd struct {
	Work  judgeWorkCmd  `cmd:"" default:"withargs" help:"Run a judge worker (the default): claim queued submissions and judge them in Docker sandboxes."`
	Image judgeImageCmd `cmd:"" help:"Build the sandbox image locally (debootstrap + Docker API import); a no-op when it is up to date."`
}

type judgeWorkCmd struct {
	worker.Config `embed:""`
	Listen        string `help:"Address of the worker's /metrics, /healthz and /readyz." default:"127.0.0.1:8082" env:"LUFFY_JUDGE_LISTEN"`
	Image         string `help:"Sandbox image (default: the image of the built-in recipe, see 'luffy judge image --print')." env:"LUFFY_JUDGE_IMAGE"`
	Runtime       string `help:"OCI runtime of the sandboxes (default: the engine's, runc); runsc for gVisor where the engine has it." env:"LUFFY_JUDGE_RUNTIME"`
}

func (c judgeWorkCmd) Run(g *globals, ctx context.Context) error {
	pool, objects, err := g.connectStores(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	svc, err := newJudgeService(ctx, c.Config, sandbox.Config{Image: c.Image, Runtime: c.Runtime}, c.Listen, pool, objects, g.PGURL)
	if err != nil {
		return err
	}
	return runServices(ctx, 30*time.Second, svc)
}

// judgeService runs a worker between Start and Stop, with its metrics endpoint.
type judgeService struct {
	w      *worker.Worker
	eng    *sandbox.Engine
	http   *http.Server
	cancel context.CancelFunc
	done   chan struct{}
}

func newJudgeService(ctx context.Context, cfg worker.Config, box sandbox.Config, listen string, pool *pgxpool.Pool, objects *storage.Objects, pgURL string) (*judgeService, error) {
	if box.Image == "" {
		box.Image = sandbox.DefaultRecipe().Tag()
	}
	image := box.Image
	if cfg.Name == "" {
		host, _ := os.Hostname()
		cfg.Name = "judge-" + host
	}
	box.Owner = cfg.Name
	eng, err := sandbox.NewEngine(ctx, box)
	if err != nil {
		return nil, err
	}
	ok, err := sandbox.ImageExists(ctx, eng.Client(), image)
	if err == nil && !ok {
		err = fmt.Errorf("sandbox image %s is missing: build it with `luffy judge image` (make run and make test do)", image)
	}
	if err != nil {
		eng.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	w, err := worker.New(cfg, judge.NewStore(pool, objects), eng, pgURL, reg)
	if err != nil {
		eng.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"status":"ok"}`)) })
	mux.HandleFunc("/readyz", func(rw http.ResponseWriter, r *http.Request) {
		if _, err := eng.Client().Ping(r.Context()); err != nil {
			rw.WriteHeader(http.StatusServiceUnavailable)
			rw.Write([]byte(`{"status":"docker engine unreachable"}`))
			return
		}
		rw.Write([]byte(`{"status":"ready"}`))
	})
	return &judgeService{w: w, eng: eng, http: &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}}, nil
}

func (s *judgeService) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.http.Addr)
	if err != nil {
		return fmt.Errorf("judge metrics listen: %w", err)
	}
	go s.http.Serve(ln)
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.w.Run(wctx); err != nil {
			slog.Error("judge worker", "err", err)
		}
	}()
	slog.Info("judge worker started", "metrics", "http://"+ln.Addr().String()+"/metrics")
	return nil
}

// Stop cancels judging: submissions in progress go back to the queue for the next worker.
func (s *judgeService) Stop(ctx context.Context) error {
	if s.cancel != nil {
		s.cancel()
		select {
		case <-s.done:
		case <-ctx.Done():
		}
	}
	s.http.Shutdown(ctx)
	return s.eng.Close()
}
