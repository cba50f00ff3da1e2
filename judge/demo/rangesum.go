package demo

import (
	"strconv"

	"github.com/luffy-edu/luffy/judge"
)

// rangeSum shows subtasks: summing each query's range directly is right and earns the
// first two subtasks, but only prefix sums are fast enough for the third, whose long
// ranges make the direct way cost about 10¹⁰ additions. The largest inputs are kept small
// enough for a Python prefix-sum solution to finish well inside the limit.
func rangeSum() Problem {
	const limit = 1_000_000
	r := newRand(11)
	ts := &tests{solve: func(in string) string {
		t := newTokens(in)
		n, q := t.int(), t.int()
		prefix := make([]int64, n+1)
		for i := range n {
			prefix[i+1] = prefix[i] + t.int()
		}
		out := make([]byte, 0, 12*q)
		for range q {
			lo, hi := t.int(), t.int()
			out = strconv.AppendInt(out, prefix[hi]-prefix[lo-1], 10)
			out = append(out, '\n')
		}
		return string(out)
	}}
	// instance writes an array of n values from value(i) and q queries whose ranges come
	// from span(n).
	instance := func(n, q int, value func(i int) int64, span func(n int) (int, int)) string {
		a := make([]int64, n)
		for i := range a {
			a[i] = value(i)
		}
		b := make([]byte, 0, 8*n+14*q)
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(q), 10)
		b = append(b, '\n')
		b = append(b, joinInts(a)...)
		b = append(b, '\n')
		for range q {
			lo, hi := span(n)
			b = strconv.AppendInt(b, int64(lo), 10)
			b = append(b, ' ')
			b = strconv.AppendInt(b, int64(hi), 10)
			b = append(b, '\n')
		}
		return string(b)
	}
	randomValue := func(int) int64 { return r.Int64N(2*limit+1) - limit }
	maxValue := func(int) int64 { return limit }
	minValue := func(int) int64 { return -limit }
	anyRange := func(n int) (int, int) {
		i, j := 1+r.IntN(n), 1+r.IntN(n)
		return min(i, j), max(i, j)
	}
	// longRange starts in the first tenth and ends in the last, so every query covers
	// most of the array.
	longRange := func(n int) (int, int) {
		return 1 + r.IntN(n/10+1), n - r.IntN(n/10+1)
	}
	single := func(n int) (int, int) {
		i := 1 + r.IntN(n)
		return i, i
	}

	ts.sample("5 3\n1 2 3 4 5\n1 5\n2 4\n3 3\n")
	ts.sample("4 2\n-1 5 -3 2\n1 2\n2 4\n")
	small := []string{
		ts.test(instance(1, 1, randomValue, anyRange)),
		ts.test(instance(100, 100, randomValue, anyRange)),
		ts.test(instance(100, 100, maxValue, longRange)),
	}
	medium := []string{
		ts.test(instance(10_000, 10_000, randomValue, anyRange)),
		ts.test(instance(10_000, 10_000, minValue, longRange)),
		ts.test(instance(9_999, 10_000, randomValue, single)),
	}
	large := []string{
		ts.test(instance(200_000, 200_000, randomValue, longRange)),
		ts.test(instance(200_000, 100_000, maxValue, longRange)),
		ts.test(instance(200_000, 30_000, randomValue, anyRange)),
	}

	return problem(judge.Problem{
		Slug:  "range-sum",
		Title: "区间求和 / Range Sum",
		Statement: statement(
			"给定 n 个整数 a₁, a₂, …, aₙ 和 q 个询问。每个询问给出 l 和 r，求 aₗ + aₗ₊₁ + … + aᵣ。\n\n"+
				"Given n integers a₁, a₂, …, aₙ and q queries. Each query gives l and r; answer aₗ + aₗ₊₁ + … + aᵣ.",
			"第一行两个整数 n 和 q。第二行 n 个整数 a₁, a₂, …, aₙ。接下来 q 行，每行两个整数 l 和 r。\n\n"+
				"The first line holds two integers n and q. The second line holds n integers a₁, a₂, …, aₙ. Each of the next q lines holds two integers l and r.",
			"q 行，每行一个整数，依次是每个询问的答案。\n\nq lines, each with one integer: the answers to the queries in order.",
			"- 1 ≤ n, q ≤ 2·10⁵\n- −10⁶ ≤ aᵢ ≤ 10⁶\n- 1 ≤ l ≤ r ≤ n\n\n"+
				"| 子任务 / Subtask | 分值 / Points | 约束 / Constraints |\n"+
				"| --- | --- | --- |\n"+
				"| 1 | 20 | n, q ≤ 100 |\n"+
				"| 2 | 30 | n, q ≤ 10⁴ |\n"+
				"| 3 | 50 | 无附加约束 / none beyond the above |\n\n"+
				"每个子任务的测试点全部通过才能得到该子任务的分数。答案可能超出 32 位整数的范围。\n\n"+
				"A subtask scores only when all of its tests pass. The answers may not fit in a 32-bit integer.",
		),
		Checker: judge.CheckToken,
		Subtasks: []judge.Subtask{
			{Name: "1", Points: 20, Tests: small},
			{Name: "2", Points: 30, Tests: medium},
			{Name: "3", Points: 50, Tests: large},
		},
		Tags: []string{"prefix-sums", "subtasks"},
	}, ts, map[string]string{
		"cpp17": `#include <cstdio>
#include <vector>

int main() {
    int n, q;
    if (std::scanf("%d %d", &n, &q) != 2) return 1;
    std::vector<long long> prefix(n + 1, 0);
    for (int i = 1; i <= n; i++) {
        long long x;
        std::scanf("%lld", &x);
        prefix[i] = prefix[i - 1] + x;
    }
    while (q--) {
        int l, r;
        std::scanf("%d %d", &l, &r);
        std::printf("%lld\n", prefix[r] - prefix[l - 1]);
    }
    return 0;
}
`,
		// Correct, but O(n·q): it passes subtasks 1 and 2 and runs out of time on 3.
		"cpp17-naive": `#include <cstdio>
#include <vector>

int main() {
    int n, q;
    if (std::scanf("%d %d", &n, &q) != 2) return 1;
    std::vector<long long> a(n + 1);
    for (int i = 1; i <= n; i++) std::scanf("%lld", &a[i]);
    while (q--) {
        int l, r;
        std::scanf("%d %d", &l, &r);
        long long sum = 0;
        for (int i = l; i <= r; i++) sum += a[i];
        std::printf("%lld\n", sum);
    }
    return 0;
}
`,
		"python3": `import sys
from itertools import accumulate


def main():
    data = sys.stdin.buffer.read().split()
    n, q = int(data[0]), int(data[1])
    prefix = [0]
    prefix += accumulate(map(int, data[2:2 + n]))
    it = map(int, data[2 + n:2 + n + 2 * q])
    out = [prefix[r] - prefix[l - 1] for l, r in zip(it, it)]
    sys.stdout.write("\n".join(map(str, out)) + "\n")


main()
`,
	})
}
