package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/luffy-edu/luffy/bench/loadgen"
)

// benchCmd runs a load scenario against the edge.
type benchCmd struct {
	Scenario     string        `arg:"" help:"What the load is: catalog (mobile clients reading the catalog) or static (one path, for checking the generator)."`
	Target       string        `help:"Base URL the load goes to (the edge by default)." default:"http://127.0.0.1:8081" env:"LUFFY_BENCH_TARGET"`
	Connections  int           `help:"Keep-alive connections opened (at --dial-rate) and held through the run." default:"100"`
	Rate         float64       `help:"Requests per second over all connections, scheduled whatever the server does (open model)." default:"1000"`
	Duration     time.Duration `help:"Length of the measured phase, after the ramp." default:"30s"`
	DialRate     float64       `help:"New connections per second during the ramp." default:"2000"`
	Timeout      time.Duration `help:"Time a request may take before it counts as a timeout error." default:"5s"`
	Courses      int           `help:"Course ids the catalog scenario spreads detail requests over (1..N)." default:"240"`
	JSON         string        `name:"json" help:"Write the result file here."`
	HTML         string        `name:"html" help:"Write a self-contained HTML report here."`
	MaxP99       time.Duration `name:"max-p99" help:"Fail (exit 1) when the corrected p99 is above this (0: no limit)."`
	MaxErrorRate float64       `help:"Fail (exit 1) when the error rate is above this (e.g. 0.001; negative: no limit)." default:"-1"`
}

func (c benchCmd) Run(ctx context.Context) error {
	sc, err := loadgen.ScenarioByName(c.Scenario, c.Courses)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "ramping to %d connections at %.0f/s, then %.0f req/s for %v\n", c.Connections, c.DialRate, c.Rate, c.Duration)
	res, err := loadgen.Run(ctx, loadgen.Config{
		Target: c.Target, Connections: c.Connections, Rate: c.Rate, Duration: c.Duration,
		DialRate: c.DialRate, Timeout: c.Timeout, Scenario: sc, Progress: os.Stderr,
	})
	if err != nil {
		return err
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
