package worker

import (
	"context"
	"strings"
	"testing"

	"github.com/luffy-edu/luffy/judge"
	"github.com/luffy-edu/luffy/judge/demo"
	"github.com/luffy-edu/luffy/judge/sandbox/sandboxtest"
)

// newJudger makes a judger whose background removals finish before the test's sandbox
// check runs.
func newJudger(t testing.TB) *Judger {
	j := NewJudger(sandboxtest.Engine(t))
	t.Cleanup(j.Close)
	return j
}

func demoProblem(t testing.TB, slug string) demo.Problem {
	t.Helper()
	for _, p := range demo.Problems() {
		if p.Slug == slug {
			return p
		}
	}
	t.Fatalf("no demo problem %q", slug)
	return demo.Problem{}
}

func TestAPlusBInEveryLanguage(t *testing.T) {
	j := newJudger(t)
	p := demoProblem(t, "a-plus-b")
	for _, lang := range judge.Languages {
		t.Run(lang, func(t *testing.T) {
			var events int
			res, err := j.Judge(context.Background(), p.Problem, p.Tests, Submission{Language: lang, Source: p.Solutions[lang]}, func(int, TestResult) { events++ })
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != judge.Accepted || res.Score != 100 || len(res.Tests) != 10 || events != 10 {
				t.Fatalf("got %s score %d, %d tests, %d events: %+v", res.Verdict, res.Score, len(res.Tests), events, res)
			}
			t.Logf("%s: max time %d ms, memory %d kB", lang, res.TimeMS, res.MemoryKB)
		})
	}
}

func TestDemoSolutionsAreAccepted(t *testing.T) {
	j := newJudger(t)
	for _, p := range demo.Problems() {
		for _, lang := range []string{"cpp17", "python3"} {
			t.Run(p.Slug+"/"+lang, func(t *testing.T) {
				res, err := j.Judge(context.Background(), p.Problem, p.Tests, Submission{Language: lang, Source: p.Solutions[lang]}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if res.Verdict != judge.Accepted || res.Score != 100 {
					t.Fatalf("got %s score %d: %+v", res.Verdict, res.Score, res.Tests)
				}
			})
		}
	}
}

func TestSubtasksScorePartially(t *testing.T) {
	j := newJudger(t)
	p := demoProblem(t, "range-sum")
	res, err := j.Judge(context.Background(), p.Problem, p.Tests, Submission{Language: "cpp17", Source: p.Solutions["cpp17-naive"]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := p.Subtasks[0].Points + p.Subtasks[1].Points
	if res.Verdict != judge.TimeLimitExceeded || res.Score != want {
		t.Fatalf("got %s score %d, want TLE %d: %+v", res.Verdict, res.Score, want, res.Tests)
	}
	skipped := 0
	for _, tr := range res.Tests {
		if tr.Verdict == Skipped {
			skipped++
		}
	}
	if skipped != len(p.Subtasks[2].Tests)-1 {
		t.Errorf("skipped %d tests of the failed subtask, want %d", skipped, len(p.Subtasks[2].Tests)-1)
	}
}

// TestVerdicts covers every verdict a program can earn, on a-plus-b (token checker) and
// hello-world (exact checker, so spacing is a presentation error).
func TestVerdicts(t *testing.T) {
	j := newJudger(t)
	apb := demoProblem(t, "a-plus-b")
	hello := demoProblem(t, "hello-world")
	apb.TimeLimitMS, apb.MemoryLimitMB = 500, 64
	f := func(p demo.Problem, lang, src string, want judge.Verdict, detail string) {
		t.Helper()
		res, err := j.Judge(context.Background(), p.Problem, p.Tests, Submission{Language: lang, Source: src}, nil)
		if err != nil {
			t.Fatalf("%s: %v", want, err)
		}
		got := res.Message + res.CompileOutput
		for _, tr := range res.Tests {
			got += " | " + tr.Message + " " + tr.Signal
			if tr.Diff != nil {
				got += " diff@" + tr.Diff.Expected
			}
		}
		if res.Verdict != want || !strings.Contains(got, detail) {
			t.Errorf("want %s with %q, got %s: %s", want, detail, res.Verdict, got)
		}
	}
	f(apb, "cpp17", "#include <cstdio>\nint main(){long long a,b;scanf(\"%lld %lld\",&a,&b);printf(\"%lld\\n\",a-b);}", judge.WrongAnswer, "diff@")
	f(apb, "cpp17", "int main(){ return 0 }", judge.CompileError, "error")
	f(apb, "python3", "print(1 +)", judge.CompileError, "SyntaxError")
	f(apb, "java17", "public class Main { public static void main(String[] a) { int x = \"s\"; } }", judge.CompileError, "incompatible types")
	f(apb, "cpp17", "int main(){ volatile int *p = 0; *p = 1; }", judge.RuntimeError, "SIGSEGV")
	f(apb, "python3", "import sys\nsys.exit(3)", judge.RuntimeError, "exit code 3")
	f(apb, "c", "int main(){ for(;;); }", judge.TimeLimitExceeded, "CPU time")
	f(apb, "python3", "import time\ntime.sleep(100)", judge.TimeLimitExceeded, "wall time")
	f(apb, "cpp17", "#include <vector>\n#include <cstdio>\nint main(){ std::vector<char> v(200<<20, 1); printf(\"%d\\n\", v[12345]); }", judge.MemoryLimitExceeded, "memory")
	f(apb, "c", "#include <stdio.h>\nint main(){ for(;;) fputs(\"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\\n\", stdout); }", judge.OutputLimitExceeded, "output exceeds")
	f(hello, "python3", "print('Hello,  World!')", judge.PresentationError, "")
	f(apb, "java17", "public class Main { public static void main(String[] a) { long[][] x = new long[64][]; for (int i = 0; i < 64; i++) x[i] = new long[1 << 20]; System.out.println(x.length); } }", judge.MemoryLimitExceeded, "memory limit")
	f(apb, "javascript", "const a = []; for (;;) a.push(new Array(1 << 20).fill(1));", judge.MemoryLimitExceeded, "memory limit")
	// A runtime's own footprint is not the program's: a tiny limit still fits hello world.
	small := apb
	small.MemoryLimitMB = 16
	f(small, "javascript", apb.Solutions["javascript"], judge.Accepted, "")
	f(small, "java17", apb.Solutions["java17"], judge.Accepted, "")
}
