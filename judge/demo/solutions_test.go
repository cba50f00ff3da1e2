package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/judge"
)

// These tests run the demo solutions and the custom checker on the host's g++ and
// python3, outside the judge's sandbox, to show that every answer the seed uploads is one
// an accepted solution really prints. They compare outputs with simple checkers of their
// own, so they do not depend on the judge's.

// hostTools returns the paths of g++ and python3, or stops the test saying how to get them.
func hostTools(t *testing.T) (gxx, python string) {
	t.Helper()
	gxx, err := exec.LookPath("g++")
	if err != nil {
		t.Fatal("g++ is not installed; run `make stack`, which installs the judge's toolchains")
	}
	python, err = exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is not installed; run `make stack`, which installs the judge's toolchains")
	}
	return gxx, python
}

// compile builds a C++17 source the way the judge does and returns the binary's path.
func compile(t *testing.T, gxx, dir, name, source string) string {
	t.Helper()
	src := filepath.Join(dir, name+".cpp")
	bin := filepath.Join(dir, name)
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(gxx, "-O2", "-std=c++17", "-o", bin, src).CombinedOutput()
	if err != nil {
		t.Fatalf("compile %s: %v\n%s", name, err, out)
	}
	return bin
}

// run feeds input to a program and returns its output and the CPU time it used. A run
// still going at the deadline is killed and reported with context.DeadlineExceeded.
func run(argv []string, input []byte, timeout time.Duration) ([]byte, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var cpu time.Duration
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if ctx.Err() != nil {
		return nil, cpu, ctx.Err()
	}
	if err != nil {
		return nil, cpu, fmt.Errorf("%v: %s", err, stderr.Bytes())
	}
	return stdout.Bytes(), cpu, nil
}

func TestSolutionsOnHost(t *testing.T) {
	gxx, python := hostTools(t)
	for _, p := range Problems() {
		t.Run(p.Slug, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var checker string
			if p.Checker == judge.CheckCustom {
				checker = compile(t, gxx, dir, "checker", p.CheckerSource)
			}
			verify := func(lang string, argv []string, tests []judge.TestCase) {
				t.Helper()
				limit := time.Duration(p.TimeLimitMS) * time.Millisecond
				for _, tc := range tests {
					out, cpu, err := run(argv, tc.Input, 10*time.Second)
					if err == nil && cpu > limit {
						err = fmt.Errorf("used %v of CPU, the limit is %v", cpu, limit)
					}
					if err == nil {
						err = accept(p, checker, dir, tc, out)
					}
					if err != nil {
						t.Errorf("%s on test %s: %v", lang, tc.Name, err)
					}
				}
			}

			pyFile := filepath.Join(dir, "main.py")
			if err := os.WriteFile(pyFile, []byte(p.Solutions["python3"]), 0o644); err != nil {
				t.Fatal(err)
			}
			verify("python3", []string{python, pyFile}, p.Tests)
			verify("cpp17", []string{compile(t, gxx, dir, "main", p.Solutions["cpp17"])}, p.Tests)

			naive, ok := p.Solutions["cpp17-naive"]
			if !ok {
				return
			}
			// The naive solution is right where it is fast enough, and too slow on the
			// last subtask's first test.
			bin := compile(t, gxx, dir, "naive", naive)
			last := p.Subtasks[len(p.Subtasks)-1]
			verify("cpp17-naive", []string{bin}, testsNamed(p, p.Subtasks[:len(p.Subtasks)-1]))
			slow := testsNamed(p, []judge.Subtask{{Tests: last.Tests[:1]}})[0]
			limit := time.Duration(p.TimeLimitMS) * time.Millisecond
			if _, cpu, err := run([]string{bin}, slow.Input, limit); !errors.Is(err, context.DeadlineExceeded) && cpu <= limit {
				t.Errorf("cpp17-naive finished test %s in %v of CPU; it should exceed the %v limit", slow.Name, cpu, limit)
			}
		})
	}
}

// testsNamed returns the tests the subtasks list, in test order.
func testsNamed(p Problem, subtasks []judge.Subtask) []judge.TestCase {
	want := map[string]bool{}
	for _, st := range subtasks {
		for _, name := range st.Tests {
			want[name] = true
		}
	}
	var tests []judge.TestCase
	for _, tc := range p.Tests {
		if want[tc.Name] {
			tests = append(tests, tc)
		}
	}
	return tests
}

// accept judges one output the way the problem's checker kind describes.
func accept(p Problem, checker, dir string, tc judge.TestCase, out []byte) error {
	switch p.Checker {
	case judge.CheckExact:
		if got, want := trimBlanks(out), trimBlanks(tc.Answer); got != want {
			return fmt.Errorf("output %q, want %q", clip(got), clip(want))
		}
	case judge.CheckToken:
		return compareTokens(out, tc.Answer, func(got, want string) bool { return got == want })
	case judge.CheckFloat:
		return compareTokens(out, tc.Answer, func(got, want string) bool {
			g, err1 := strconv.ParseFloat(got, 64)
			w, err2 := strconv.ParseFloat(want, 64)
			if err1 != nil || err2 != nil {
				return got == want
			}
			return math.Abs(g-w) <= p.FloatAbs || math.Abs(g-w) <= p.FloatRel*math.Abs(w)
		})
	case judge.CheckCustom:
		code, reason, err := runChecker(checker, dir, tc.Input, out, tc.Answer)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("checker exited %d: %s", code, reason)
		}
	default:
		return fmt.Errorf("unknown checker %q", p.Checker)
	}
	return nil
}

// trimBlanks drops blanks at line ends and blank lines at the end, which the exact
// checker ignores.
func trimBlanks(b []byte) string {
	ls := strings.Split(string(b), "\n")
	for i, l := range ls {
		ls[i] = strings.TrimRight(l, " \t\r")
	}
	return strings.TrimRight(strings.Join(ls, "\n"), "\n")
}

func compareTokens(out, answer []byte, equal func(got, want string) bool) error {
	got, want := strings.Fields(string(out)), strings.Fields(string(answer))
	for i := range min(len(got), len(want)) {
		if !equal(got[i], want[i]) {
			return fmt.Errorf("token %d is %q, want %q", i+1, clip(got[i]), clip(want[i]))
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d tokens, want %d", len(got), len(want))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// runChecker calls a custom checker as the judge does, `checker input output answer`,
// and returns its exit code and what it printed to stderr.
func runChecker(checker, dir string, input, output, answer []byte) (int, string, error) {
	files, err := os.MkdirTemp(dir, "check")
	if err != nil {
		return 0, "", err
	}
	defer os.RemoveAll(files)
	args := []string{}
	for _, f := range []struct {
		name string
		data []byte
	}{{"input", input}, {"output", output}, {"answer", answer}} {
		path := filepath.Join(files, f.name)
		if err := os.WriteFile(path, f.data, 0o644); err != nil {
			return 0, "", err
		}
		args = append(args, path)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(checker, args...)
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String(), nil
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return exit.ExitCode(), strings.TrimSpace(stderr.String()), nil
	default:
		return 0, "", fmt.Errorf("run checker: %v", err)
	}
}

// The any-pair-sum checker gives testlib's verdicts: OK for any valid pair, WA for a
// wrong pair or a missed one, PE for output that is not a pair or -1, and FAIL when the
// answer file is wrong.
func TestAnyPairSumChecker(t *testing.T) {
	gxx, _ := hostTools(t)
	dir := t.TempDir()
	var p Problem
	for _, q := range Problems() {
		if q.Slug == "any-pair-sum" {
			p = q
		}
	}
	checker := compile(t, gxx, dir, "checker", p.CheckerSource)

	const (
		pairs   = "4 9\n2 7 11 15\n"
		noPairs = "3 10\n1 2 3\n"
	)
	f := func(input, output, answer string, want int) {
		t.Helper()
		code, reason, err := runChecker(checker, dir, []byte(input), []byte(output), []byte(answer))
		if err != nil || code != want {
			t.Errorf("output %q, answer %q: exit %d (%s), %v; want exit %d", output, answer, code, reason, err, want)
		}
	}
	f(pairs, "1 2\n", "1 2\n", 0)
	f(pairs, "2 1", "1 2\n", 0)
	f(pairs, "  1\n\n2  \n", "1 2\n", 0)
	f(noPairs, "-1\n", "-1\n", 0)
	f(pairs, "1 3\n", "1 2\n", 1)
	f(pairs, "1 1\n", "1 2\n", 1)
	f(pairs, "0 2\n", "1 2\n", 1)
	f(pairs, "1 5\n", "1 2\n", 1)
	f(pairs, "-1\n", "1 2\n", 1)
	f(noPairs, "1 2\n", "-1\n", 1)
	f(pairs, "", "1 2\n", 2)
	f(pairs, "1\n", "1 2\n", 2)
	f(pairs, "one two\n", "1 2\n", 2)
	f(pairs, "1 2 3\n", "1 2\n", 2)
	f(pairs, "1 99999999999999999999\n", "1 2\n", 2)
	f(pairs, "1 2\n", "-1\n", 3)
	f(pairs, "1 2\n", "1 3\n", 3)
	f(pairs, "1 2\n", "", 3)
}
