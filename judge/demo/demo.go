package demo

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/luffy-edu/luffy/judge"
)

// Problem is a demo problem with everything seeding needs: the judge's view of it, its
// tests and accepted solutions.
type Problem struct {
	judge.Problem
	// Tests come samples first (named sample1, sample2, ...), then the others (1, 2, ...).
	Tests []judge.TestCase
	// Solutions maps a judge language to an accepted source. A key with a suffix, such as
	// "cpp17-naive", is a deliberately weaker solution that shows what subtasks are for.
	Solutions map[string]string
}

// Problems returns the demo problems in a stable order, a-plus-b first. Every call
// generates them afresh, identically, so callers may modify what they get.
func Problems() []Problem {
	return []Problem{
		aPlusB(),
		helloWorld(),
		reverseString(),
		circleArea(),
		gcdLCM(),
		fibonacciMod(),
		primeCheck(),
		maxOfArray(),
		countWords(),
		anyPairSum(),
		rangeSum(),
	}
}

// newRand gives each problem its own stream, so adding a test to one problem does not
// change the tests of another.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x6c756666))
}

// tests collects a problem's test cases, answering each with the problem's reference
// solver so that no answer is ever written by hand.
type tests struct {
	solve  func(input string) string
	cases  []judge.TestCase
	others int
}

// sample adds a test shown in the statement. Samples must come before other tests.
func (ts *tests) sample(input string) {
	if ts.others > 0 {
		panic("demo: sample added after a non-sample test")
	}
	ts.add(fmt.Sprintf("sample%d", len(ts.cases)+1), input, true)
}

// test adds a hidden test and returns its name, for subtasks.
func (ts *tests) test(input string) string {
	ts.others++
	name := fmt.Sprint(ts.others)
	ts.add(name, input, false)
	return name
}

func (ts *tests) add(name, input string, sample bool) {
	if !strings.HasSuffix(input, "\n") {
		panic(fmt.Sprintf("demo: input of test %s does not end with a newline", name))
	}
	ts.cases = append(ts.cases, judge.TestCase{
		Name:   name,
		Input:  []byte(input),
		Answer: []byte(ts.solve(input)),
		Sample: sample,
	})
}

// problem fills in what follows from the tests: the samples shown in the statement and
// the test count.
func problem(p judge.Problem, ts *tests, solutions map[string]string) Problem {
	for _, tc := range ts.cases {
		if tc.Sample {
			p.Samples = append(p.Samples, judge.Sample{Name: tc.Name, Input: string(tc.Input), Answer: string(tc.Answer)})
		}
	}
	p.TestCount = len(ts.cases)
	if p.TimeLimitMS == 0 {
		p.TimeLimitMS = 1000
	}
	if p.MemoryLimitMB == 0 {
		p.MemoryLimitMB = 256
	}
	return Problem{Problem: p, Tests: ts.cases, Solutions: solutions}
}

// statement lays out a bilingual statement in the sections every demo problem shares.
// Each argument is Markdown, Chinese first and English after.
func statement(description, input, output, constraints string) string {
	var b strings.Builder
	section := func(title, body string) {
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", title, strings.TrimSpace(body))
	}
	section("题目描述 / Description", description)
	section("输入 / Input", input)
	section("输出 / Output", output)
	section("数据范围 / Constraints", constraints)
	section("样例 / Samples", "样例在题面下方给出，提交前请先在样例上试一试。\n\nThe samples are shown below the statement; try your program on them before submitting.")
	return strings.TrimSuffix(b.String(), "\n")
}

// lines joins lines, each ending with a newline, which every test input must.
func lines(ls ...string) string {
	return strings.Join(ls, "\n") + "\n"
}

// joinInts writes numbers space-separated, as one input line.
func joinInts[T ~int | ~int64](xs []T) string {
	b := make([]byte, 0, 12*len(xs))
	for i, x := range xs {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, int64(x), 10)
	}
	return string(b)
}

// tokens reads a test input the way the reference solvers need it: whitespace-separated
// tokens. A malformed input is a bug in a generator, so it panics.
type tokens struct {
	fields []string
}

func newTokens(input string) *tokens {
	return &tokens{fields: strings.Fields(input)}
}

func (t *tokens) str() string {
	if len(t.fields) == 0 {
		panic("demo: input ended early")
	}
	s := t.fields[0]
	t.fields = t.fields[1:]
	return s
}

func (t *tokens) int() int64 {
	s := t.str()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("demo: input token %q: %v", s, err))
	}
	return n
}

const (
	letters     = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lowerDigits = "abcdefghijklmnopqrstuvwxyz0123456789"
)

func randomString(r *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}
