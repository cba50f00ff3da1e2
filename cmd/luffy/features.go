package main

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"text/tabwriter"

	"github.com/luffy-edu/luffy/features"
)

type featuresCmd struct {
	List featuresListCmd `cmd:"" default:"1" help:"Show the feature switches (the default)."`
	Set  featuresSetCmd  `cmd:"" help:"Turn a feature on or off on every origin, without a restart."`
}

type featuresListCmd struct{}

func (featuresListCmd) Run(g *globals, ctx context.Context) error {
	pool, err := g.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	list, err := features.New(pool).List(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FEATURE\tSTATE\tSINCE\tBY\tREASON")
	for _, sw := range list {
		state := "on"
		if !sw.Enabled {
			state = "OFF"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", sw.Name, state, sw.UpdatedAt.Format("2006-01-02 15:04:05"), sw.UpdatedBy, sw.Reason)
	}
	return w.Flush()
}

type featuresSetCmd struct {
	Feature string `arg:"" enum:"judge,orders,playback,homework_uploads" help:"The switch: judge, orders, playback or homework_uploads."`
	State   string `arg:"" enum:"on,off" help:"on or off."`
	Reason  string `help:"Why, for whoever looks next (shown by 'luffy features')." env:"LUFFY_FEATURE_REASON"`
	By      string `help:"Who switches it (default: the OS user)." env:"LUFFY_FEATURE_BY"`
}

func (c featuresSetCmd) Run(g *globals, ctx context.Context) error {
	pool, err := g.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	by := c.By
	if by == "" {
		by = "cli"
		if u, err := user.Current(); err == nil {
			by = "cli:" + u.Username
		}
	}
	sw, err := features.New(pool).Set(ctx, features.Name(c.Feature), c.State == "on", c.Reason, by)
	if err != nil {
		return err
	}
	state := "on"
	if !sw.Enabled {
		state = "off"
	}
	fmt.Printf("%s is %s on every origin (they reload within seconds)\n", sw.Name, state)
	return nil
}
