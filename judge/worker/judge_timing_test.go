package worker

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/judge"
	"github.com/luffy-edu/luffy/judge/check"
	"github.com/luffy-edu/luffy/judge/sandbox"
	"github.com/luffy-edu/luffy/judge/sandbox/sandboxtest"
)

func percentile(d []time.Duration, p float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return float64(s[int(float64(len(s)-1)*p)].Microseconds()) / 1000
}

// BenchmarkPerTestOverhead runs the same compiled a-plus-b binary once through the
// sandbox's runner and once directly on the host, alternating, and reports the medians
// and their difference: the price of judging a test in the sandbox.
func BenchmarkPerTestOverhead(b *testing.B) {
	eng := sandboxtest.Engine(b)
	ctx := context.Background()
	box, err := eng.Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer box.Close()
	p := demoProblem(b, "a-plus-b")
	if err := box.Put(ctx, "main.cpp", []byte(p.Solutions["cpp17"]), 0o644); err != nil {
		b.Fatal(err)
	}
	lim := sandbox.Limits{WallMS: 30000, CPUMS: 20000, OutputBytes: 64 << 20}
	if r, err := box.Run(ctx, sandbox.RunSpec{Args: languages["cpp17"].compile, Env: baseEnv, Limits: lim}); err != nil || r.ExitCode != 0 {
		b.Fatalf("compile: %v %s", err, r.Stderr)
	}
	bin, err := box.Run(ctx, sandbox.RunSpec{Args: []string{"/bin/cat", "main"}, Limits: lim})
	if err != nil {
		b.Fatal(err)
	}
	hostBin := filepath.Join(b.TempDir(), "main")
	if err := os.WriteFile(hostBin, bin.Stdout, 0o755); err != nil {
		b.Fatal(err)
	}
	input := p.Tests[2].Input
	lim = sandbox.Limits{WallMS: 3000, CPUMS: 1000, OutputBytes: 64 << 20}
	var inBox, onHost []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		r, err := box.Run(ctx, sandbox.RunSpec{Args: []string{"/work/main"}, Env: baseEnv, Stdin: input, Limits: lim})
		inBox = append(inBox, time.Since(t0))
		if err != nil || check.Compare(check.Options{Kind: judge.CheckToken}, r.Stdout, p.Tests[2].Answer).Verdict != judge.Accepted {
			b.Fatalf("sandbox run: %v %q", err, r.Stdout)
		}
		t0 = time.Now()
		cmd := exec.Command(hostBin)
		cmd.Stdin = bytes.NewReader(input)
		out, err := cmd.Output()
		onHost = append(onHost, time.Since(t0))
		if err != nil || check.Compare(check.Options{Kind: judge.CheckToken}, out, p.Tests[2].Answer).Verdict != judge.Accepted {
			b.Fatalf("host run: %v %q", err, out)
		}
	}
	b.ReportMetric(percentile(inBox, 0.5), "sandbox-p50-ms")
	b.ReportMetric(percentile(onHost, 0.5), "host-p50-ms")
	b.ReportMetric(percentile(inBox, 0.5)-percentile(onHost, 0.5), "overhead-p50-ms")
	b.ReportMetric(percentile(inBox, 0.99), "sandbox-p99-ms")
}

// BenchmarkThroughput judges a-plus-b (10 tests) at concurrency 2 in the sandbox, and
// does the same work bare on the host (compile once, run the 10 tests, check them), and
// reports submissions per second of each and their ratio.
func BenchmarkThroughput(b *testing.B) {
	for _, lang := range []string{"cpp17", "python3"} {
		b.Run(lang, func(b *testing.B) {
			j := newJudger(b)
			j.Prestart(2) // as the worker runs it
			p := demoProblem(b, "a-plus-b")
			sub := Submission{Language: lang, Source: p.Solutions[lang]}
			const conc = 2
			run := func(n int, one func() error) float64 {
				var wg sync.WaitGroup
				next := make(chan struct{}, n)
				for range n {
					next <- struct{}{}
				}
				close(next)
				start := time.Now()
				for range conc {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range next {
							if err := one(); err != nil {
								b.Error(err)
							}
						}
					}()
				}
				wg.Wait()
				return float64(n) / time.Since(start).Seconds()
			}
			n := max(b.N, 10)
			b.ResetTimer()
			sandboxRate := run(n, func() error {
				res, err := j.Judge(context.Background(), p.Problem, p.Tests, sub, nil)
				if err == nil && res.Verdict != judge.Accepted {
					b.Errorf("verdict %s", res.Verdict)
				}
				return err
			})
			hostRate := run(n, func() error { return bareHostJudge(b.TempDir(), lang, sub.Source, p.Tests) })
			b.ReportMetric(sandboxRate, "sandbox-subs/s")
			b.ReportMetric(hostRate, "host-subs/s")
			b.ReportMetric(sandboxRate/hostRate, "ratio")
		})
	}
}

// bareHostJudge is the same work as Judge with no sandbox: the same compile command and
// run command, in a scratch directory on the host.
func bareHostJudge(dir, lang, source string, tests []judge.TestCase) error {
	l := languages[lang]
	if err := os.WriteFile(filepath.Join(dir, l.source), []byte(source), 0o644); err != nil {
		return err
	}
	hostPath := func(args []string) []string {
		out := slices.Clone(args)
		if _, err := os.Stat(out[0]); err != nil && filepath.Dir(out[0]) == "/usr/bin" {
			if p, err := exec.LookPath(filepath.Base(out[0])); err == nil {
				out[0] = p
			}
		}
		for i, a := range out {
			if a == "/work/main" {
				out[i] = filepath.Join(dir, "main")
			}
		}
		return out
	}
	c := hostPath(l.compile)
	cmd := exec.Command(c[0], c[1:]...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return err
	} else {
		_ = out
	}
	r := hostPath(l.run(256))
	for _, tc := range tests {
		cmd := exec.Command(r[0], r[1:]...)
		cmd.Dir = dir
		cmd.Stdin = bytes.NewReader(tc.Input)
		out, err := cmd.Output()
		if err != nil {
			return err
		}
		if check.Compare(check.Options{Kind: judge.CheckToken}, out, tc.Answer).Verdict != judge.Accepted {
			return os.ErrInvalid
		}
	}
	return nil
}

// BenchmarkSubmitToVerdict measures a-plus-b submissions (C++ and Python alternating)
// from the INSERT to the verdict being readable, through the real queue: NOTIFY wakes a
// worker of concurrency 2, which claims, judges and records. Two clients submit in a
// closed loop, so the queue holds at most two submissions.
func BenchmarkSubmitToVerdict(b *testing.B) {
	e := newEnv(b)
	e.startWorker(b, Config{Concurrency: 2})
	p := demoProblem(b, "a-plus-b")
	ctx := context.Background()
	var mu sync.Mutex
	var lat []time.Duration
	n := max(b.N, 20)
	jobs := make(chan string, n)
	for i := range n {
		jobs <- []string{"cpp17", "python3"}[i%2]
	}
	close(jobs)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lang := range jobs {
				t0 := time.Now()
				v, err := e.store.Submit(ctx, e.user.ID, e.user.Username, "a-plus-b", lang, p.Solutions[lang])
				if err != nil {
					b.Error(err)
					return
				}
				for v.Status != "done" {
					time.Sleep(2 * time.Millisecond)
					if v, err = e.store.Submission(ctx, v.ID); err != nil {
						b.Error(err)
						return
					}
				}
				d := time.Since(t0)
				if *v.Verdict != "AC" {
					b.Errorf("%s: %s", lang, *v.Verdict)
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "subs/s")
	b.ReportMetric(percentile(lat, 0.5), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
}
