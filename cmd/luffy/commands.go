package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/catalog"
	"github.com/luffy-edu/luffy/edge"
	"github.com/luffy-edu/luffy/judge"
	"github.com/luffy-edu/luffy/judge/demo"
	"github.com/luffy-edu/luffy/judge/sandbox"
	"github.com/luffy-edu/luffy/judge/worker"
	"github.com/luffy-edu/luffy/origin"
	"github.com/luffy-edu/luffy/paysim"
	"github.com/luffy-edu/luffy/storage"
	"github.com/luffy-edu/luffy/video"
)

func (g *globals) connect(ctx context.Context) (*pgxpool.Pool, error) {
	if err := storage.Migrate(ctx, g.PGURL); err != nil {
		return nil, err
	}
	return storage.Connect(ctx, storage.PoolConfig{URL: g.PGURL, MaxConns: g.PGMaxConns})
}

// connectStores is connect plus the object store, for the commands that need both.
func (g *globals) connectStores(ctx context.Context) (*pgxpool.Pool, *storage.Objects, error) {
	pool, err := g.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	objects, err := storage.OpenObjects(ctx, g.ObjectConfig)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return pool, objects, nil
}

type migrateCmd struct{}

func (migrateCmd) Run(g *globals, ctx context.Context) error {
	return storage.Migrate(ctx, g.PGURL)
}

type seedCmd struct {
	Videos   bool   `help:"Ingest demo videos (ffmpeg test sources) for a free-preview and a paid lesson, and enroll student1." default:"true" negatable:"" env:"LUFFY_SEED_VIDEOS"`
	Courses  int    `help:"Seeded courses the catalog should hold; 100000 makes a benchmark catalog." default:"240" env:"LUFFY_SEED_COURSES"`
	Password string `help:"Password of the demo accounts admin, tutor1 and student1 (demo only)." default:"luffy-demo" env:"LUFFY_DEMO_PASSWORD"`
	Problems bool   `help:"Load the demo programming problems (a-plus-b and ten more) with their tests." default:"true" negatable:"" env:"LUFFY_SEED_PROBLEMS"`
}

var demoAccounts = []struct {
	name string
	role accounts.Role
}{{"admin", accounts.RoleAdmin}, {"tutor1", accounts.RoleTutor}, {"student1", accounts.RoleStudent}}

func (c seedCmd) Run(g *globals, ctx context.Context) error {
	pool, err := g.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	return seed(ctx, pool, g.ObjectConfig, c)
}

func seed(ctx context.Context, pool *pgxpool.Pool, objectCfg storage.ObjectConfig, c seedCmd) error {
	if c.Courses < 0 {
		return fmt.Errorf("--courses must not be negative")
	}
	svc := accounts.NewService(pool, 0)
	for _, a := range demoAccounts {
		if _, err := svc.EnsureUser(ctx, a.name, c.Password, a.role); err != nil {
			return fmt.Errorf("seed account %s: %w", a.name, err)
		}
	}
	res, err := catalog.Seed(ctx, pool, c.Courses)
	if err != nil {
		return err
	}
	if c.Videos || c.Problems {
		objects, err := storage.OpenObjects(ctx, objectCfg)
		if err != nil {
			return err
		}
		if c.Videos {
			if err := seedVideos(ctx, pool, objects, video.IngestConfig{}); err != nil {
				return err
			}
		}
		if c.Problems {
			n, err := demo.Seed(ctx, judge.NewStore(pool, objects))
			if err != nil {
				return fmt.Errorf("seed problems: %w", err)
			}
			slog.Info("seeded problems", "added", n)
		}
	}
	slog.Info("seeded", "courses_added", res.Courses, "chapters_added", res.Chapters, "lessons_added", res.Lessons,
		"took", res.Took.String(), "accounts", "admin, tutor1, student1")
	return nil
}

type originCmd struct {
	origin.Config `embed:""`
}

func (c originCmd) Run(g *globals, ctx context.Context) error {
	pool, objects, err := g.connectStores(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	srv, err := origin.New(ctx, c.Config, origin.Deps{Pool: pool, PGURL: g.PGURL, Objects: objects})
	if err != nil {
		return err
	}
	return runServices(ctx, c.ShutdownTimeout, srv)
}

type edgeCmd struct {
	edge.Config `embed:""`
}

func (c edgeCmd) Run(g *globals, ctx context.Context) error {
	if c.Workers > 1 && c.WorkerID == 0 {
		return superviseWorkers(ctx, c.Workers, 20*time.Second)
	}
	srv, err := edge.New(c.Config)
	if err != nil {
		return err
	}
	return runServices(ctx, 20*time.Second, srv)
}

type upCmd struct {
	origin.Config    `embed:"" prefix:"origin-"`
	EdgeListen       string `help:"Address of the edge in front of the origin." default:"127.0.0.1:8081" env:"LUFFY_UP_EDGE_LISTEN"`
	Seed             bool   `help:"Seed what is missing of the demo catalog, accounts and videos (the demo accounts get --password)." default:"true" negatable:"" env:"LUFFY_UP_SEED"`
	Password         string `help:"Password of the demo accounts when seeding." default:"luffy-demo" env:"LUFFY_DEMO_PASSWORD"`
	Judge            bool   `help:"Run a judge worker (needs the Docker engine and the sandbox image)." default:"true" negatable:"" env:"LUFFY_UP_JUDGE"`
	JudgeListen      string `help:"Address of the judge worker's /metrics." default:"127.0.0.1:8082" env:"LUFFY_UP_JUDGE_LISTEN"`
	JudgeConcurrency int    `help:"Submissions the judge worker judges at once." default:"2" env:"LUFFY_UP_JUDGE_CONCURRENCY"`
	PaysimListen     string `help:"Address of the payment gateway simulator luffy up runs." default:"127.0.0.1:8083" env:"LUFFY_UP_PAYSIM_LISTEN"`
}

func (c upCmd) Run(g *globals, ctx context.Context) error {
	pool, err := g.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	// The seed is idempotent: it adds what is missing (a video step a crash interrupted,
	// say) and leaves the rest.
	if c.Seed {
		if err := seed(ctx, pool, g.ObjectConfig, seedCmd{Courses: 240, Password: c.Password, Videos: true, Problems: true}); err != nil {
			return err
		}
	}
	objects, err := storage.OpenObjects(ctx, g.ObjectConfig)
	if err != nil {
		return err
	}
	// The edge and the origin share a purge secret made for this run, and playback URLs
	// point at the edge.
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	c.PurgeSecret = base64.RawURLEncoding.EncodeToString(secret)
	c.EdgeURL = "http://" + c.EdgeListen
	c.GatewayURL = "http://" + c.PaysimListen
	c.EdgePurgeURLs = []string{"http://" + c.EdgeListen + "/edge/purge"}
	srv, err := origin.New(ctx, c.Config, origin.Deps{Pool: pool, PGURL: g.PGURL, Objects: objects})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	// The edge keeps a standalone edge's limits against abuse, exempting what the
	// origin exempts (loopback by default).
	edgeSrv, err := edge.New(edge.Config{
		Listen: c.EdgeListen, Origins: []string{"http://" + srv.Addr()}, PurgeSecret: c.PurgeSecret,
		TokenPublicKey: base64.StdEncoding.EncodeToString(srv.PublicKey()),
		RateLimit:      200, RateBurst: 400, MaxConnsPerIP: 256, LimitExempt: c.LimitExempt,
	})
	if err != nil {
		return err
	}
	if err := edgeSrv.Start(ctx); err != nil {
		return err
	}
	pay := paysim.New(paysim.Config{Listen: c.PaysimListen, CallbackURL: "http://" + srv.Addr() + "/api/v1/payments/callback", Secret: c.GatewaySecret})
	if err := pay.Start(ctx); err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
		defer cancel()
		return errors.Join(err, edgeSrv.Stop(sctx), srv.Stop(sctx))
	}
	var judgeSvc *judgeService
	if c.Judge {
		// A worker removes the sandboxes its name left behind when it starts; named by
		// host and listen address, two `luffy up` on one machine (a developer's and a
		// test's) never remove each other's, and a restart still cleans up its own.
		host, _ := os.Hostname()
		name := "up-" + host + "-" + strings.NewReplacer(":", "-", ".", "-").Replace(c.JudgeListen)
		judgeSvc, err = newJudgeService(ctx, worker.Config{Concurrency: c.JudgeConcurrency, Name: name}, sandbox.Config{}, c.JudgeListen, pool, objects, g.PGURL)
		if err == nil {
			err = judgeSvc.Start(ctx)
		}
		if err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
			defer cancel()
			return errors.Join(fmt.Errorf("judge worker (or run with --no-judge): %w", err), pay.Stop(sctx), edgeSrv.Stop(sctx), srv.Stop(sctx))
		}
	}
	base := "http://" + edgeSrv.Addr()
	var lesson int64
	_ = pool.QueryRow(ctx, `SELECT id FROM lessons WHERE free_preview AND video_id IS NOT NULL AND deleted_at IS NULL ORDER BY id LIMIT 1`).Scan(&lesson)
	fmt.Fprintf(os.Stdout, `
Luffy is up.
  edge        %[1]s   (origin: http://%[5]s)
  catalog     curl %[1]s/api/v1/categories
              curl '%[1]s/api/v1/courses?limit=5'
  login       curl -X POST %[1]s/api/v1/auth/login -d '{"username":"admin","password":"%[2]s"}'
  video       curl -X POST %[1]s/api/v1/lessons/%[4]d/play   (a free preview; then: ffmpeg -i <url> -c copy out.mp4)
  judge       curl -X POST %[1]s/api/v1/submissions -H "Authorization: Bearer <token of student1>" \
                -d '{"problem":"a-plus-b","language":"python3","source":"a,b=map(int,input().split())\nprint(a+b)"}'
  checkout    curl -X POST %[1]s/api/v1/orders -H "Authorization: Bearer <token>" -H "Idempotency-Key: k1" \
                -d '{"items":[{"course_id":<id>,"price_policy_id":<id>}]}'   then POST the answer's pay_url
  metrics     %[1]s/metrics
  postgres    %[3]s
Stop with Ctrl-C.
`, base, c.Password, redactURL(g.PGURL), lesson, srv.Addr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	var judgeErr error
	if judgeSvc != nil {
		judgeErr = judgeSvc.Stop(sctx)
	}
	return errors.Join(judgeErr, pay.Stop(sctx), edgeSrv.Stop(sctx), srv.Stop(sctx))
}

// redactURL hides a password in a URL before it is printed.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
