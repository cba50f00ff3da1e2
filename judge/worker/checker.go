package worker

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"

	"github.com/luffy-edu/luffy/judge"
	"github.com/luffy-edu/luffy/judge/check"
	"github.com/luffy-edu/luffy/judge/sandbox"
)

// checkerBox is a sandbox holding a compiled custom checker.
type checkerBox struct {
	box *sandbox.Box
}

// checkerCache keeps compiled checker binaries by source hash.
type checkerCache struct {
	mu   sync.Mutex
	bins map[[32]byte][]byte
}

func newCheckerCache() *checkerCache { return &checkerCache{bins: map[[32]byte][]byte{}} }

const maxCheckerBinary = 32 << 20

// startChecker starts a sandbox with the checker binary in it, compiling the checker
// there the first time this worker meets its source. The compile defines
// PC_BASE_EXIT_CODE so testlib's partial-score exits are told apart from OK/WA/PE.
func (j *Judger) startChecker(ctx context.Context, source string) (*checkerBox, error) {
	if strings.TrimSpace(source) == "" {
		return nil, fmt.Errorf("the problem has no checker source")
	}
	box, err := j.Engine.Start(ctx)
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256([]byte(source))
	j.checkers.mu.Lock()
	bin := j.checkers.bins[key]
	j.checkers.mu.Unlock()
	if bin == nil {
		if err := box.Put(ctx, "checker.cpp", []byte(source), 0o644); err != nil {
			box.Close()
			return nil, err
		}
		cr, err := box.Run(ctx, sandbox.RunSpec{
			Args: []string{"/usr/bin/g++", "-O2", "-std=c++17", "-pipe", fmt.Sprintf("-DPC_BASE_EXIT_CODE=%d", check.TestlibPCBase), "-o", "checker", "checker.cpp"},
			Env:  baseEnv, Limits: sandbox.Limits{WallMS: compileWallMS, CPUMS: compileCPUMS, OutputBytes: compileOutputBytes},
		})
		if err == nil && (!cr.Exited || cr.ExitCode != 0) {
			err = fmt.Errorf("checker does not compile: %s", truncateUTF8(string(cr.Stderr), 2000))
		}
		if err != nil {
			box.Close()
			return nil, err
		}
		// The binary comes back as the output of cat, through the runner's descriptor.
		cat, err := box.Run(ctx, sandbox.RunSpec{Args: []string{"/bin/cat", "checker"}, Limits: sandbox.Limits{WallMS: 10000, CPUMS: 10000, OutputBytes: maxCheckerBinary}})
		if err == nil && (!cat.Exited || cat.ExitCode != 0 || cat.OutputExceeded) {
			err = fmt.Errorf("read compiled checker: exit %d", cat.ExitCode)
		}
		if err != nil {
			box.Close()
			return nil, err
		}
		bin = cat.Stdout
		j.checkers.mu.Lock()
		j.checkers.bins[key] = bin
		j.checkers.mu.Unlock()
	} else if err := box.Put(ctx, "checker", bin, 0o755); err != nil {
		box.Close()
		return nil, err
	}
	return &checkerBox{box: box}, nil
}

// customCheck runs the checker on one test: checker input output answer.
func (j *Judger) customCheck(ctx context.Context, tr *TestResult, chk *checkerBox, tc judge.TestCase, output []byte) {
	for _, f := range []struct {
		name string
		data []byte
	}{{"input", tc.Input}, {"output", output}, {"answer", tc.Answer}} {
		if err := chk.box.Put(ctx, f.name, f.data, 0o644); err != nil {
			tr.Verdict, tr.Message = judge.InternalError, "checker: "+err.Error()
			return
		}
	}
	cr, err := chk.box.Run(ctx, sandbox.RunSpec{
		Args: []string{"/work/checker", "input", "output", "answer"}, Env: baseEnv,
		Limits: sandbox.Limits{WallMS: checkerWallMS, CPUMS: checkerWallMS / 2, OutputBytes: 1 << 20},
	})
	switch {
	case err != nil:
		tr.Verdict, tr.Message = judge.InternalError, "checker: "+err.Error()
		return
	case !cr.Exited:
		tr.Verdict, tr.Message = judge.InternalError, "checker crashed or timed out"
		return
	}
	v, _, known := check.TestlibReport(cr.ExitCode, cr.Stderr)
	if !known {
		v = judge.InternalError
	}
	tr.Verdict = v
	msg := strings.TrimSpace(string(cr.Stderr))
	if v != judge.Accepted && (tc.Sample || v == judge.InternalError) {
		tr.Message = truncateUTF8(msg, 300)
	} else if v != judge.Accepted {
		tr.Message = "the checker rejected the output"
	}
}
