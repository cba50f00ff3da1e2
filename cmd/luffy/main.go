// Command luffy is the one binary of the platform: each subcommand builds some of the
// parts (origin, migrations, seeds, ...) from flags and environment, runs them, and stops
// them on SIGINT or SIGTERM. No business logic lives here.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/luffy-edu/luffy/storage"
)

type globals struct {
	storage.ObjectConfig `embed:""`
	PGURL                string `name:"pg-url" help:"Postgres URL." default:"${pg_url}" env:"LUFFY_PG_URL"`
	PGMaxConns           int32  `name:"pg-max-conns" help:"Postgres pool size (0: 4 per core, at least 16)." default:"0" env:"LUFFY_PG_MAX_CONNS"`
	LogLevel             string `help:"Log level: debug, info, warn, error." default:"info" enum:"debug,info,warn,error" env:"LUFFY_LOG_LEVEL"`
	LogFormat            string `help:"Log format: json or text." default:"json" enum:"json,text" env:"LUFFY_LOG_FORMAT"`
	PprofListen          string `name:"pprof-listen" help:"Serve Go's net/http/pprof profiles on this address (off when empty); keep it on loopback." env:"LUFFY_PPROF_LISTEN"`
}

type cli struct {
	globals
	Origin   originCmd   `cmd:"" help:"Run the fasthttp application server: catalog, accounts, admin."`
	Edge     edgeCmd     `cmd:"" help:"Run a CDN node in front of one or more origins."`
	Up       upCmd       `cmd:"" help:"Run the whole stack on this machine (migrate, seed if empty, origin, edge) and print its URLs."`
	Migrate  migrateCmd  `cmd:"" help:"Apply the embedded schema migrations."`
	Seed     seedCmd     `cmd:"" help:"Load the demo catalog, accounts and videos (or a large catalog with --courses)."`
	Ingest   ingestCmd   `cmd:"" help:"Transcode a video into an encrypted HLS ladder, store it in MinIO and publish it for a lesson."`
	Judge    judgeCmd    `cmd:"" help:"Judge submissions in Docker sandboxes; 'luffy judge image' builds the sandbox image."`
	Paysim   paysimCmd   `cmd:"" help:"Run the payment gateway simulator: pays orders and posts signed callbacks."`
	Points   pointsCmd   `cmd:"" help:"Points ledger operations ('luffy points verify')."`
	Features featuresCmd `cmd:"" help:"Show or set the runtime feature switches (judge, orders, playback, homework_uploads)."`
	Bench    benchGroup  `cmd:"" help:"Load-test a site (the edge by default) at a fixed rate and report honest latencies; 'luffy bench report' sizes a site."`
}

func main() {
	var c cli
	k := kong.Parse(&c,
		kong.Name("luffy"),
		kong.Description("Luffy: the delivery backbone of an online course platform."),
		kong.Vars{"pg_url": storage.DefaultPostgresURL},
		kong.UsageOnError(),
		kong.Resolvers(fileEnv),
	)
	setupLogging(c.globals)
	if c.PprofListen != "" {
		go func() {
			slog.Info("pprof serving", "addr", c.PprofListen)
			if err := http.ListenAndServe(c.PprofListen, nil); err != nil {
				slog.Error("pprof", "err", err)
			}
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	k.BindTo(ctx, (*context.Context)(nil))
	err := k.Run(&c.globals)
	stop()
	if err != nil {
		slog.Error("luffy "+k.Command(), "err", err)
		fmt.Fprintf(os.Stderr, "luffy %s: %v\n", k.Command(), err)
		os.Exit(1)
	}
}

func setupLogging(g globals) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(g.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(os.Stderr, opts)
	if g.LogFormat == "text" {
		h = slog.NewTextHandler(os.Stderr, opts)
	}
	slog.SetDefault(slog.New(h))
}

// service is a part that runs in the background between Start and Stop.
type service interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// runServices starts services in order, waits for ctx to end, and stops them in reverse
// order, each with up to grace to finish what it is doing.
func runServices(ctx context.Context, grace time.Duration, services ...service) error {
	started := 0
	var err error
	for _, s := range services {
		if err = s.Start(ctx); err != nil {
			break
		}
		started++
	}
	if err == nil {
		<-ctx.Done()
		slog.Info("stopping", "grace", grace)
	}
	for i := started - 1; i >= 0; i-- {
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		if serr := services[i].Stop(sctx); serr != nil && err == nil {
			err = serr
		}
		cancel()
	}
	return err
}
