package demo

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/luffy-edu/luffy/judge"
)

func bySlug(t *testing.T, ps []Problem, slug string) Problem {
	t.Helper()
	for _, p := range ps {
		if p.Slug == slug {
			return p
		}
	}
	t.Fatalf("no demo problem %q", slug)
	return Problem{}
}

func TestProblemsAreWellFormed(t *testing.T) {
	ps := Problems()
	if len(ps) < 10 {
		t.Fatalf("got %d problems, want at least 10", len(ps))
	}
	if ps[0].Slug != "a-plus-b" {
		t.Errorf("first problem is %q, want a-plus-b", ps[0].Slug)
	}
	slugPattern := regexp.MustCompile(`^[a-z0-9-]+$`)
	seen := map[string]bool{}
	for _, p := range ps {
		if !slugPattern.MatchString(p.Slug) || seen[p.Slug] {
			t.Errorf("slug %q is malformed or repeated", p.Slug)
		}
		seen[p.Slug] = true
		if p.Title == "" || p.TimeLimitMS <= 0 || p.MemoryLimitMB <= 0 || len(p.Tags) == 0 {
			t.Errorf("%s: title %q, limits %d ms / %d MB, tags %v", p.Slug, p.Title, p.TimeLimitMS, p.MemoryLimitMB, p.Tags)
		}
		for _, section := range []string{"## 题目描述 / Description", "## 输入 / Input", "## 输出 / Output", "## 数据范围 / Constraints"} {
			if !strings.Contains(p.Statement, section) {
				t.Errorf("%s: statement has no %q section", p.Slug, section)
			}
		}
		if (p.Checker == judge.CheckCustom) != (p.CheckerSource != "") {
			t.Errorf("%s: checker %q with %d bytes of checker source", p.Slug, p.Checker, len(p.CheckerSource))
		}
		if p.Checker == judge.CheckFloat && (p.FloatAbs <= 0 || p.FloatRel <= 0) {
			t.Errorf("%s: float checker without tolerances", p.Slug)
		}
		for _, lang := range []string{"cpp17", "python3"} {
			if p.Solutions[lang] == "" {
				t.Errorf("%s: no %s solution", p.Slug, lang)
			}
		}
		if p.TestCount != len(p.Tests) {
			t.Errorf("%s: TestCount %d, but %d tests", p.Slug, p.TestCount, len(p.Tests))
		}
	}
}

// Samples come first and are numbered apart from the other tests, and the statement's
// samples are exactly the sample tests.
func TestTestsAreNamedAndOrdered(t *testing.T) {
	for _, p := range Problems() {
		var names, want []string
		var samples []judge.Sample
		for _, tc := range p.Tests {
			names = append(names, tc.Name)
			if tc.Sample {
				want = append(want, fmt.Sprintf("sample%d", len(samples)+1))
				samples = append(samples, judge.Sample{Name: tc.Name, Input: string(tc.Input), Answer: string(tc.Answer)})
			} else {
				want = append(want, fmt.Sprint(len(want)-len(samples)+1))
			}
			if !strings.HasSuffix(string(tc.Input), "\n") || len(tc.Answer) == 0 {
				t.Errorf("%s/%s: input does not end with a newline, or the answer is empty", p.Slug, tc.Name)
			}
		}
		if len(samples) == 0 || !p.Tests[0].Sample {
			t.Errorf("%s: the first test is not a sample", p.Slug)
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s: tests are %v, want %v", p.Slug, names, want)
		}
		if !reflect.DeepEqual(p.Samples, samples) {
			t.Errorf("%s: statement samples %v differ from the sample tests", p.Slug, p.Samples)
		}
	}
}

// Where a problem has subtasks, every hidden test scores in exactly one of them.
func TestSubtasksCoverEveryHiddenTestOnce(t *testing.T) {
	withSubtasks := 0
	for _, p := range Problems() {
		if len(p.Subtasks) == 0 {
			continue
		}
		withSubtasks++
		count := map[string]int{}
		points := 0
		for _, st := range p.Subtasks {
			points += st.Points
			for _, name := range st.Tests {
				count[name]++
			}
		}
		if points != 100 {
			t.Errorf("%s: subtask points add up to %d, want 100", p.Slug, points)
		}
		for _, tc := range p.Tests {
			if !tc.Sample && count[tc.Name] != 1 {
				t.Errorf("%s: test %s is in %d subtasks, want 1", p.Slug, tc.Name, count[tc.Name])
			}
			delete(count, tc.Name)
		}
		if len(count) > 0 {
			t.Errorf("%s: subtasks name tests that do not exist: %v", p.Slug, count)
		}
	}
	if withSubtasks == 0 {
		t.Error("no demo problem has subtasks")
	}
}

func TestRequiredProblems(t *testing.T) {
	ps := Problems()
	ab := bySlug(t, ps, "a-plus-b")
	if len(ab.Tests) != 10 || len(ab.Samples) != 2 || ab.Checker != judge.CheckToken || ab.TimeLimitMS != 1000 || ab.MemoryLimitMB != 256 {
		t.Errorf("a-plus-b: %d tests, %d samples, checker %q, %d ms, %d MB", len(ab.Tests), len(ab.Samples), ab.Checker, ab.TimeLimitMS, ab.MemoryLimitMB)
	}
	for _, lang := range []string{"c", "cpp17", "python3", "java17", "go", "javascript"} {
		if ab.Solutions[lang] == "" {
			t.Errorf("a-plus-b: no %s solution", lang)
		}
	}

	f := func(slug string, want func(Problem) bool) {
		t.Helper()
		if p := bySlug(t, ps, slug); !want(p) {
			t.Errorf("%s: checker %q, %d tests, %d subtasks, float tolerances %g/%g", slug, p.Checker, len(p.Tests), len(p.Subtasks), p.FloatAbs, p.FloatRel)
		}
	}
	f("circle-area", func(p Problem) bool {
		return p.Checker == judge.CheckFloat && p.FloatAbs == 1e-6 && p.FloatRel == 1e-6
	})
	f("any-pair-sum", func(p Problem) bool { return p.Checker == judge.CheckCustom })
	f("range-sum", func(p Problem) bool { return len(p.Subtasks) == 3 && p.Solutions["cpp17-naive"] != "" })
	f("max-of-array", func(p Problem) bool { return len(p.Tests) == 100 })
	f("hello-world", func(p Problem) bool { return p.Checker == judge.CheckExact })
}

func TestProblemsAreDeterministic(t *testing.T) {
	if !reflect.DeepEqual(Problems(), Problems()) {
		t.Fatal("two calls to Problems returned different problems")
	}
}

// fibonacci-mod's answers come from fast doubling; the plain recurrence confirms it.
func TestFibMatchesRecurrence(t *testing.T) {
	a, b := uint64(0), uint64(1)
	for n := range uint64(2000) {
		if got, _ := fib(n); got != a {
			t.Fatalf("fib(%d) = %d, want %d", n, got, a)
		}
		a, b = b, (a+b)%fibMod
	}
}
