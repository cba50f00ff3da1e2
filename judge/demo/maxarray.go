package demo

import (
	"fmt"

	"github.com/luffy-edu/luffy/judge"
)

// maxOfArray has a hundred small tests, to show how a long test list is judged and
// reported; its traps are all-negative arrays and a maximum in the first or last place.
func maxOfArray() Problem {
	const limit = 1_000_000_000
	r := newRand(8)
	ts := &tests{solve: func(in string) string {
		t := newTokens(in)
		n := t.int()
		best := t.int()
		for range n - 1 {
			best = max(best, t.int())
		}
		return fmt.Sprintln(best)
	}}
	array := func(a []int64) string { return lines(fmt.Sprint(len(a)), joinInts(a)) }
	random := func(n int, lo, hi int64) []int64 {
		a := make([]int64, n)
		for i := range a {
			a[i] = lo + r.Int64N(hi-lo+1)
		}
		return a
	}
	filled := func(n int, v int64) []int64 {
		a := make([]int64, n)
		for i := range a {
			a[i] = v
		}
		return a
	}

	ts.sample(array([]int64{3, 1, 4, 1, 5}))
	ts.sample(array([]int64{-7, -2, -9}))
	ts.test(array([]int64{42}))
	ts.test(array([]int64{-limit}))
	ts.test(array(filled(1000, -limit)))
	ts.test(array(filled(1000, limit)))
	ts.test(array(append([]int64{limit}, random(999, -limit, limit-1)...)))
	ts.test(array(append(random(999, -limit, limit-1), limit)))
	ts.test(array(random(1000, -limit, -1)))
	ts.test(array([]int64{0, -1, 0, -1}))
	for i := 0; ts.others < 98; i++ {
		n := 1 + r.IntN(1000)
		switch i % 3 {
		case 0:
			ts.test(array(random(n, -limit, limit)))
		case 1:
			ts.test(array(random(n, -10, 10)))
		default:
			ts.test(array(random(n, -limit, -limit+100)))
		}
	}

	return problem(judge.Problem{
		Slug:  "max-of-array",
		Title: "数组最大值 / Maximum of an Array",
		Statement: statement(
			"给定 n 个整数，输出其中最大的一个。\n\nGiven n integers, print the largest of them.",
			"第一行一个整数 n。第二行 n 个整数 a₁, a₂, …, aₙ，用空格隔开。\n\n"+
				"The first line holds an integer n. The second line holds n integers a₁, a₂, …, aₙ separated by spaces.",
			"一个整数，即最大值。\n\nOne integer: the maximum.",
			"- 1 ≤ n ≤ 1000\n- −10⁹ ≤ aᵢ ≤ 10⁹\n\n"+
				"本题共有 100 个测试点，数字可能全是负数。\n\nThere are 100 tests, and the numbers may all be negative.",
		),
		Checker: judge.CheckToken,
		Tags:    []string{"beginner", "arrays"},
	}, ts, map[string]string{
		"cpp17": `#include <algorithm>
#include <cstdio>

int main() {
    int n;
    if (std::scanf("%d", &n) != 1) return 1;
    long long best = 0;
    for (int i = 0; i < n; i++) {
        long long x;
        std::scanf("%lld", &x);
        best = i == 0 ? x : std::max(best, x);
    }
    std::printf("%lld\n", best);
    return 0;
}
`,
		"python3": `import sys

data = sys.stdin.buffer.read().split()
n = int(data[0])
print(max(map(int, data[1:1 + n])))
`,
	})
}
