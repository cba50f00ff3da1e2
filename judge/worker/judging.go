package worker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/luffy-edu/luffy/judge"
	"github.com/luffy-edu/luffy/judge/check"
	"github.com/luffy-edu/luffy/judge/sandbox"
)

// TestResult is the outcome of one test, as clients see it.
type TestResult struct {
	Name     string        `json:"name"`
	Subtask  int           `json:"subtask,omitempty"` // 1-based; 0 when the problem has none
	Sample   bool          `json:"sample,omitempty"`
	Verdict  judge.Verdict `json:"verdict"` // "" while not run; "SKIP" when its subtask already failed
	TimeMS   int           `json:"time_ms"`
	MemoryKB int64         `json:"memory_kb"`
	ExitCode int           `json:"exit_code,omitempty"`
	Signal   string        `json:"signal,omitempty"`
	Message  string        `json:"message,omitempty"`
	Diff     *check.Diff   `json:"diff,omitempty"` // first differing line, on sample tests only
}

// Skipped marks a test not run because its subtask had already failed.
const Skipped judge.Verdict = "SKIP"

// Result is a judged submission.
type Result struct {
	Verdict       judge.Verdict `json:"verdict"`
	Score         int           `json:"score"`
	TimeMS        int           `json:"time_ms"`
	MemoryKB      int64         `json:"memory_kb"`
	CompileOutput string        `json:"compile_output,omitempty"`
	Message       string        `json:"message,omitempty"`
	Tests         []TestResult  `json:"tests"`
}

// Submission is what Judge needs of a submission.
type Submission struct {
	Language string
	Source   string
}

// Limits the judge applies whatever the problem says.
const (
	compileWallMS      = 30000
	compileCPUMS       = 20000
	compileOutputBytes = 64 << 20 // also caps files the compiler writes (RLIMIT_FSIZE)
	compileOutputShown = 8 << 10
	defaultOutputBytes = 64 << 20
	checkerWallMS      = 10000
	// sandboxSlackMB is memory the container may hold beyond the program's limit: the
	// runner, the memfds carrying a test's input and output, and files in /work.
	sandboxSlackMB = 160
)

// Progress receives each test's result as soon as it is known.
type Progress func(done int, t TestResult)

// Judger judges submissions in sandboxes of one engine.
type Judger struct {
	Engine *sandbox.Engine
	// Checkers caches compiled custom checkers by source, so a checker is compiled once
	// per worker, not once per submission.
	checkers *checkerCache
	// warm holds sandboxes started ahead of need: starting a container takes ~100 ms of
	// mostly waiting on the engine, which would otherwise sit in every submission's
	// latency. Used sandboxes are removed in the background for the same reason.
	warm     chan *sandbox.Box
	closing  sync.WaitGroup
	stop     chan struct{}
	stopped  sync.Once
	fillDone chan struct{}
}

// NewJudger makes a judger on eng. Close releases what it holds.
func NewJudger(eng *sandbox.Engine) *Judger {
	return &Judger{Engine: eng, checkers: newCheckerCache(), stop: make(chan struct{})}
}

// Prestart keeps n sandboxes started ahead of need from now on. A worker calls it after
// sweeping its predecessor's sandboxes, which would otherwise include these.
func (j *Judger) Prestart(n int) {
	if n > 0 && j.warm == nil {
		j.warm = make(chan *sandbox.Box, n)
		j.fillDone = make(chan struct{})
		go func() { defer close(j.fillDone); j.fill() }()
	}
}

// fill keeps the warm pool full until Close. A start in flight is never cancelled: the
// engine might create the container after the client gave up on it, leaving one nobody
// knows about; it finishes (bounded by the engine timeout) and is removed.
func (j *Judger) fill() {
	for {
		box, err := j.Engine.Start(context.Background())
		if err != nil {
			select {
			case <-j.stop:
				return
			case <-time.After(time.Second): // the engine is down; Judge starts its own
			}
			continue
		}
		select {
		case <-j.stop:
			box.Close()
			return
		default:
		}
		select {
		case j.warm <- box:
		case <-j.stop:
			box.Close()
			return
		}
	}
}

// box returns a warm sandbox or starts one.
func (j *Judger) box(ctx context.Context) (*sandbox.Box, error) {
	select {
	case b := <-j.warm:
		return b, nil
	default:
	}
	return j.Engine.Start(ctx)
}

// release removes a used sandbox in the background.
func (j *Judger) release(b *sandbox.Box) {
	j.closing.Add(1)
	go func() {
		defer j.closing.Done()
		b.Close()
	}()
}

// Close removes the warm sandboxes and waits for background removals.
func (j *Judger) Close() {
	j.stopped.Do(func() { close(j.stop) })
	if j.fillDone != nil {
		<-j.fillDone // nothing enters the pool after this
	}
	for {
		select {
		case b := <-j.warm:
			b.Close()
			continue
		default:
		}
		break
	}
	j.closing.Wait()
}

// Judge compiles the submission once in a fresh sandbox, runs every test through the
// sandbox's runner and checks the outputs. An error means the judge itself failed (the
// engine is down, the sandbox broke); the caller records IE or retries.
func (j *Judger) Judge(ctx context.Context, p judge.Problem, tests []judge.TestCase, sub Submission, progress Progress) (Result, error) {
	lang, ok := languages[sub.Language]
	if !ok {
		return Result{Verdict: judge.CompileError, Message: "unknown language " + sub.Language}, nil
	}
	res := Result{Tests: planTests(p, tests)}

	box, err := j.box(ctx)
	if err != nil {
		return res, err
	}
	defer j.release(box)

	// A custom checker is compiled (or taken from the cache) while the program compiles,
	// in a sandbox of its own: the program must not be able to replace it.
	var chk *checkerBox
	var chkErr error
	chkDone := make(chan struct{})
	if p.Checker == judge.CheckCustom {
		go func() {
			defer close(chkDone)
			chk, chkErr = j.startChecker(ctx, p.CheckerSource)
		}()
	} else {
		close(chkDone)
	}
	defer func() {
		<-chkDone
		if chk != nil {
			j.release(chk.box)
		}
	}()

	if err := box.Put(ctx, lang.source, []byte(sub.Source), 0o644); err != nil {
		return res, err
	}
	if lang.compile != nil {
		cr, err := box.Run(ctx, sandbox.RunSpec{
			Args: lang.compile, Env: append(baseEnv[:len(baseEnv):len(baseEnv)], lang.env...),
			Limits: sandbox.Limits{WallMS: compileWallMS, CPUMS: compileCPUMS, OutputBytes: compileOutputBytes},
		})
		if err != nil {
			return res, fmt.Errorf("compile: %w", err)
		}
		if !cr.Exited || cr.ExitCode != 0 {
			out := string(cr.Stderr)
			if strings.TrimSpace(out) == "" {
				out = string(cr.Stdout)
			}
			switch {
			case cr.WallKilled || cr.Signal == int(syscall.SIGXCPU) || cr.CPUMS > compileCPUMS:
				out = fmt.Sprintf("compilation took too long (limit %d s CPU)\n%s", compileCPUMS/1000, out)
			case cr.Signal != 0:
				out = fmt.Sprintf("compiler killed by %s (memory or output limit?)\n%s", signalName(cr.Signal), out)
			}
			res.Verdict = judge.CompileError
			res.CompileOutput = truncateUTF8(out, compileOutputShown)
			return res, nil
		}
		res.CompileOutput = truncateUTF8(string(cr.Stderr), compileOutputShown) // warnings
	}

	memMB := p.MemoryLimitMB
	if err := box.SetMemory(ctx, int64(memMB+lang.overheadMB+sandboxSlackMB)<<20); err != nil {
		return res, err
	}
	<-chkDone
	if chkErr != nil {
		return res, fmt.Errorf("custom checker: %w", chkErr)
	}

	cpuMS := int(math.Ceil(float64(p.TimeLimitMS)*lang.timeFactor)) + lang.extraMS
	limits := sandbox.Limits{WallMS: 2*cpuMS + 1000, CPUMS: cpuMS, OutputBytes: defaultOutputBytes}
	env := append(baseEnv[:len(baseEnv):len(baseEnv)], lang.env...)
	args := lang.run(memMB)

	inSubtasks := subtasksOf(p)
	failed := map[int]bool{} // subtasks with a failed test; 0 stands for "no subtasks"
	for i := range res.Tests {
		tr := &res.Tests[i]
		if allFailed(failed, inSubtasks[tr.Name], len(p.Subtasks) == 0) {
			tr.Verdict = Skipped
			continue
		}
		tc := tests[i]
		run, err := box.Run(ctx, sandbox.RunSpec{Args: args, Env: env, Stdin: tc.Input, Limits: limits})
		if errors.Is(err, sandbox.ErrBroken) && box.OOMKilled(ctx) {
			tr.Verdict, tr.Message = judge.MemoryLimitExceeded, "the sandbox ran out of memory"
		} else if err != nil {
			return res, fmt.Errorf("test %s: %w", tc.Name, err)
		} else {
			j.verdict(ctx, tr, run, p, tc, chk, cpuMS, memMB, lang)
		}
		if tr.Verdict != judge.Accepted {
			for _, st := range inSubtasks[tr.Name] {
				failed[st] = true
			}
		}
		// Without subtasks a program that timed out once would likely time out on every
		// later test too, holding the worker for minutes: the rest are skipped.
		if tr.Verdict == judge.TimeLimitExceeded && len(p.Subtasks) == 0 {
			failed[0] = true
		}
		if progress != nil {
			progress(i+1, *tr)
		}
	}
	score(p, &res)
	return res, nil
}

// subtasksOf maps each test name to every subtask (1-based) that lists it.
func subtasksOf(p judge.Problem) map[string][]int {
	m := map[string][]int{}
	for i, st := range p.Subtasks {
		for _, name := range st.Tests {
			m[name] = append(m[name], i+1)
		}
	}
	return m
}

// allFailed says whether a test need not run: every subtask it counts for has failed
// already (a test in no subtask always runs), or, without subtasks, an earlier test
// timed out.
func allFailed(failed map[int]bool, subtasks []int, noSubtasks bool) bool {
	if noSubtasks {
		return failed[0]
	}
	if len(subtasks) == 0 {
		return false
	}
	for _, st := range subtasks {
		if !failed[st] {
			return false
		}
	}
	return true
}

// verdict turns what the runner measured into the test's verdict, checking the output
// when the program ran cleanly.
func (j *Judger) verdict(ctx context.Context, tr *TestResult, run sandbox.RunResult, p judge.Problem, tc judge.TestCase, chk *checkerBox, cpuMS, memMB int, lang language) {
	tr.TimeMS, tr.MemoryKB, tr.ExitCode = run.CPUMS, run.MaxRSSKB, run.ExitCode
	if run.Signal != 0 {
		tr.Signal = signalName(run.Signal)
	}
	// The limit is the program's: a runtime's own footprint (the JVM, V8) is not held
	// against it, as the heap flags already cap what the program allocates.
	limitKB := int64(memMB+lang.overheadMB) << 10
	switch {
	case run.ExecErrno != 0:
		tr.Verdict, tr.Message = judge.RuntimeError, "could not start the program: "+syscall.Errno(run.ExecErrno).Error()
	case run.OutputExceeded:
		tr.Verdict, tr.Message = judge.OutputLimitExceeded, fmt.Sprintf("output exceeds %d MiB", defaultOutputBytes>>20)
	case run.CPUMS > cpuMS || run.Signal == int(syscall.SIGXCPU):
		tr.Verdict, tr.Message = judge.TimeLimitExceeded, fmt.Sprintf("CPU time over %d ms", cpuMS)
	case run.WallKilled:
		tr.Verdict, tr.Message = judge.TimeLimitExceeded, fmt.Sprintf("wall time over %d ms (waiting or sleeping)", 2*cpuMS+1000)
	case run.OOMKills > 0 || run.MaxRSSKB > limitKB || (run.Signal == int(syscall.SIGKILL) && box0OOM(run, limitKB)) || outOfMemory(run):
		tr.Verdict, tr.Message = judge.MemoryLimitExceeded, fmt.Sprintf("memory limit %d MiB exceeded (peak %d MiB)", memMB, run.MaxRSSKB>>10)
	case run.Signal != 0:
		tr.Verdict, tr.Message = judge.RuntimeError, "killed by "+signalName(run.Signal)
	case run.ExitCode != 0:
		tr.Verdict, tr.Message = judge.RuntimeError, fmt.Sprintf("exit code %d", run.ExitCode)
	case chk != nil:
		j.customCheck(ctx, tr, chk, tc, run.Stdout)
	default:
		r := check.Compare(check.Options{Kind: p.Checker, FloatAbs: p.FloatAbs, FloatRel: p.FloatRel}, run.Stdout, tc.Answer)
		tr.Verdict = r.Verdict
		if r.Verdict != judge.Accepted {
			if tc.Sample {
				tr.Message, tr.Diff = r.Message, r.Diff
			} else {
				tr.Message = "output differs from the answer"
			}
		}
	}
}

// outOfMemory recognizes runtimes that stop a program themselves when their heap, sized
// to the problem's limit, is full.
func outOfMemory(run sandbox.RunResult) bool {
	if run.ExitCode == 0 && run.Signal == 0 {
		return false
	}
	for _, m := range []string{"java.lang.OutOfMemoryError", "JavaScript heap out of memory", "\nMemoryError", "fatal error: runtime: out of memory", "std::bad_alloc"} {
		if strings.Contains(string(run.Stderr), m) {
			return true
		}
	}
	return false
}

// box0OOM says whether a SIGKILL that no limit of ours sent was most likely the cgroup's
// OOM killer: the program had grown close to its limit.
func box0OOM(run sandbox.RunResult, limitKB int64) bool {
	return !run.WallKilled && run.MaxRSSKB*10 >= limitKB*9
}

// planTests lists the tests in order with their subtask numbers (a test several subtasks
// share shows the first; scoring and skipping use subtaskOf, which knows them all).
func planTests(p judge.Problem, tests []judge.TestCase) []TestResult {
	sub := map[string]int{}
	for i, st := range p.Subtasks {
		for _, name := range st.Tests {
			if sub[name] == 0 {
				sub[name] = i + 1
			}
		}
	}
	out := make([]TestResult, len(tests))
	for i, tc := range tests {
		out[i] = TestResult{Name: tc.Name, Subtask: sub[tc.Name], Sample: tc.Sample}
	}
	return out
}

// score sets the overall verdict, score, time and memory. With subtasks a subtask's points
// count when all its tests pass; without, the score is the share of tests passed. The
// verdict is AC when every test passed, otherwise the first failed test's.
func score(p judge.Problem, res *Result) {
	passed, total := 0, 0
	res.Verdict = judge.Accepted
	for _, t := range res.Tests {
		res.TimeMS = max(res.TimeMS, t.TimeMS)
		res.MemoryKB = max(res.MemoryKB, t.MemoryKB)
		if t.Sample && len(p.Subtasks) > 0 {
			continue
		}
		total++
		if t.Verdict == judge.Accepted {
			passed++
		} else if res.Verdict == judge.Accepted && t.Verdict != Skipped {
			res.Verdict = t.Verdict
		}
	}
	if len(p.Subtasks) == 0 {
		if total > 0 {
			res.Score = 100 * passed / total
		}
		return
	}
	verdicts := map[string]judge.Verdict{}
	for _, t := range res.Tests {
		verdicts[t.Name] = t.Verdict
	}
	for _, st := range p.Subtasks {
		ok := true
		for _, name := range st.Tests {
			if verdicts[name] != judge.Accepted {
				ok = false
			}
		}
		if ok {
			res.Score += st.Points
		}
	}
	// A sample that fails while every scored test passes still means the program is wrong.
	for _, t := range res.Tests {
		if res.Verdict == judge.Accepted && t.Verdict != judge.Accepted {
			res.Verdict = t.Verdict
		}
	}
}

// signalNames are the signals students meet most, by the names they look up.
var signalNames = map[syscall.Signal]string{syscall.SIGSEGV: "SIGSEGV", syscall.SIGABRT: "SIGABRT", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL"}

func signalName(sig int) string {
	s := syscall.Signal(sig)
	if n, ok := signalNames[s]; ok {
		return n + " (" + s.String() + ")"
	}
	return fmt.Sprintf("signal %d (%s)", sig, s.String())
}

// truncateUTF8 cuts s to at most n bytes on a rune boundary and makes it valid UTF-8.
func truncateUTF8(s string, n int) string {
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "\n… (truncated)"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
