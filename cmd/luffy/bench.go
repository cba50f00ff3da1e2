package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/luffy-edu/luffy/bench/loadgen"
)

// benchGroup is `luffy bench`: a load run, or `luffy bench report` on a result file.
type benchGroup struct {
	Run    benchCmd       `cmd:"" default:"withargs" help:"Run a load scenario (the default)."`
	Report benchReportCmd `cmd:"" help:"From a result file, the nodes a site needs for N concurrent users, with the assumptions."`
}

type benchReportCmd struct {
	File     string  `arg:"" help:"A result file written by luffy bench --json."`
	Users    int     `help:"Concurrent users to size for." default:"30000"`
	Headroom float64 `help:"Share of each node's measured capacity kept spare." default:"0.3"`
}

func (c benchReportCmd) Run() error {
	r, err := loadgen.ReadJSON(c.File)
	if err != nil {
		return err
	}
	s, err := loadgen.Size(r, c.Users, c.Headroom)
	if err != nil {
		return err
	}
	s.Explain(os.Stdout, r)
	return nil
}

// benchCmd runs a load scenario against the edge.
type benchCmd struct {
	Scenario     string        `arg:"" help:"What the load is: catalog (mobile clients reading the catalog), video (viewers: grant, playlists, then segments in order), judge (students submitting a-plus-b in C, C++ and Python; each connection registers its own student), mixed (--mix weights), or static (one path, for checking the generator)."`
	Target       string        `help:"Base URL the load goes to (the edge by default)." default:"http://127.0.0.1:8081" env:"LUFFY_BENCH_TARGET"`
	Connections  int           `help:"Keep-alive connections opened (at --dial-rate) and held through the run." default:"100"`
	Rate         float64       `help:"Requests per second over all connections, scheduled whatever the server does (open model)." default:"1000"`
	Duration     time.Duration `help:"Length of the measured phase, after the ramp." default:"30s"`
	DialRate     float64       `help:"New connections per second during the ramp." default:"2000"`
	Timeout      time.Duration `help:"Time a request may take before it counts as a timeout error." default:"5s"`
	Courses      int           `help:"Course ids the catalog scenario spreads detail requests over (1..N)." default:"240"`
	Lesson       int64         `help:"Free-preview lesson with video that the video scenario plays (luffy up prints one)."`
	Mix          string        `help:"Weights of the mixed scenario, per connection." default:"catalog=70,video=30"`
	JSON         string        `name:"json" help:"Write the result file here."`
	HTML         string        `name:"html" help:"Write a self-contained HTML report here."`
	MaxP99       time.Duration `name:"max-p99" help:"Fail (exit 1) when the corrected p99 is above this (0: no limit)."`
	MaxErrorRate float64       `help:"Fail (exit 1) when the error rate is above this (e.g. 0.001; negative: no limit)." default:"-1"`
	PerProcess   int           `help:"Connections one generator process holds; more are spread over several processes (one process may open at most about 20,000 files here)." default:"15000"`
	Shard        int           `hidden:"" help:"This process's number among several generators (set by the parent)."`
	RunID        string        `hidden:"" help:"Names this run's judge students (set by the parent)."`
	Child        bool          `hidden:"" help:"Run as one of several generator processes: write --json and exit."`
}

func (c benchCmd) Run(ctx context.Context) error {
	if c.RunID == "" {
		c.RunID = strconv.FormatInt(time.Now().Unix()%1_000_000, 36)
	}
	sc, err := loadgen.ScenarioByName(c.Scenario, loadgen.Options{Courses: c.Courses, Lesson: c.Lesson, Mix: c.Mix, Run: c.RunID + strconv.Itoa(c.Shard)})
	if err != nil {
		return err
	}
	var res *loadgen.Result
	if n := (c.Connections + c.PerProcess - 1) / max(c.PerProcess, 1); n > 1 && !c.Child {
		res, err = c.runSpread(ctx, n)
	} else {
		var progress io.Writer = os.Stderr
		if c.Child {
			progress = nil
		} else {
			fmt.Fprintf(os.Stderr, "ramping to %d connections at %.0f/s, then %.0f req/s for %v\n", c.Connections, c.DialRate, c.Rate, c.Duration)
		}
		res, err = loadgen.Run(ctx, loadgen.Config{
			Target: c.Target, Connections: c.Connections, Rate: c.Rate, Duration: c.Duration,
			DialRate: c.DialRate, Timeout: c.Timeout, Scenario: sc, Progress: progress, Shard: c.Shard, Part: c.Child,
		})
	}
	if err != nil {
		return err
	}
	if c.Child {
		return res.WriteJSON(c.JSON)
	}
	res.Summary(os.Stdout)
	if c.JSON != "" {
		if err := res.WriteJSON(c.JSON); err != nil {
			return err
		}
	}
	if c.HTML != "" {
		if err := res.WriteHTML(c.HTML); err != nil {
			return err
		}
	}
	var failed []string
	if !res.Valid {
		failed = append(failed, "the run is invalid: "+res.Invalid)
	}
	if c.MaxP99 > 0 && res.Corrected.P99 > float64(c.MaxP99)/float64(time.Millisecond) {
		failed = append(failed, fmt.Sprintf("p99 %.1f ms is above --max-p99 %v", res.Corrected.P99, c.MaxP99))
	}
	if c.MaxErrorRate >= 0 && res.ErrorRate() > c.MaxErrorRate {
		failed = append(failed, fmt.Sprintf("error rate %.4f is above --max-error-rate %g", res.ErrorRate(), c.MaxErrorRate))
	}
	if len(failed) > 0 {
		for _, f := range failed {
			fmt.Println("FAILED:", f)
		}
		os.Exit(1)
	}
	fmt.Println("PASSED")
	return nil
}

// runSpread runs the load as n generator processes, each with its share of the
// connections and the rate, and merges what they measured.
func (c benchCmd) runSpread(ctx context.Context, n int) (*loadgen.Result, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "luffy-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(os.Stderr, "%d connections over %d generator processes; ramping at %.0f/s each, then %.0f req/s in all for %v\n",
		c.Connections, n, c.DialRate, c.Rate, c.Duration)
	cmds := make([]*exec.Cmd, n)
	for i := range cmds {
		conns := c.Connections / n
		if i < c.Connections%n {
			conns++
		}
		cmds[i] = exec.CommandContext(ctx, self, "bench", c.Scenario, "--child", "--shard", strconv.Itoa(i),
			"--target", c.Target, "--connections", strconv.Itoa(conns), "--rate", strconv.FormatFloat(c.Rate/float64(n), 'f', -1, 64),
			"--duration", c.Duration.String(), "--dial-rate", strconv.FormatFloat(c.DialRate, 'f', -1, 64),
			"--timeout", c.Timeout.String(), "--run-id", c.RunID, "--courses", strconv.Itoa(c.Courses), "--lesson", strconv.FormatInt(c.Lesson, 10), "--mix", c.Mix, "--json", filepath.Join(dir, fmt.Sprintf("part%d.json", i)))
		cmds[i].Stderr = os.Stderr
		if err := cmds[i].Start(); err != nil {
			return nil, err
		}
	}
	var errs []error
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("generator processes failed: %w", errors.Join(errs...))
	}
	parts := make([]*loadgen.Result, n)
	for i := range parts {
		if parts[i], err = loadgen.ReadJSON(filepath.Join(dir, fmt.Sprintf("part%d.json", i))); err != nil {
			return nil, err
		}
	}
	return loadgen.Merge(parts)
}
