package demo

import (
	"fmt"
	"strings"

	"github.com/luffy-edu/luffy/judge"
)

// gcdLCM has lcm values near 10¹⁸, so a solution that multiplies before dividing, or
// keeps 32-bit integers, fails.
func gcdLCM() Problem {
	const limit = 1_000_000_000
	r := newRand(5)
	ts := &tests{solve: func(in string) string {
		t := newTokens(in)
		var b strings.Builder
		for range t.int() {
			a, c := t.int(), t.int()
			g := gcd(a, c)
			fmt.Fprintf(&b, "%d %d\n", g, a/g*c)
		}
		return b.String()
	}}
	pairs := func(ps ...[2]int64) string {
		var b strings.Builder
		fmt.Fprintln(&b, len(ps))
		for _, p := range ps {
			fmt.Fprintf(&b, "%d %d\n", p[0], p[1])
		}
		return b.String()
	}
	randomPairs := func(n int, max int64) string {
		ps := make([][2]int64, n)
		for i := range ps {
			ps[i] = [2]int64{1 + r.Int64N(max), 1 + r.Int64N(max)}
		}
		return pairs(ps...)
	}
	ts.sample(pairs([2]int64{12, 18}))
	ts.sample(pairs([2]int64{4, 6}, [2]int64{7, 7}, [2]int64{1, 10}))
	ts.test(pairs([2]int64{1, 1}))
	ts.test(pairs([2]int64{limit, limit}, [2]int64{limit, limit - 1}, [2]int64{999_999_937, 999_999_929}))
	ts.test(pairs([2]int64{1 << 29, 3 * (1 << 20)}, [2]int64{6 * 7 * 11 * 13, 5 * 7 * 13 * 17}))
	ts.test(randomPairs(10, 100))
	ts.test(randomPairs(1000, limit))
	// Pairs sharing a large factor, so the gcd is not almost always 1.
	shared := make([][2]int64, 1000)
	for i := range shared {
		g := 1 + r.Int64N(100_000)
		shared[i] = [2]int64{g * (1 + r.Int64N(limit/g)), g * (1 + r.Int64N(limit/g))}
	}
	ts.test(pairs(shared...))
	ts.test(randomPairs(10_000, limit))
	ts.test(randomPairs(10_000, 1000))

	return problem(judge.Problem{
		Slug:  "gcd-lcm",
		Title: "最大公约数与最小公倍数 / GCD and LCM",
		Statement: statement(
			"对每组正整数 a 和 b，求它们的最大公约数 gcd(a, b) 和最小公倍数 lcm(a, b)。\n\n"+
				"For each pair of positive integers a and b, find their greatest common divisor gcd(a, b) and least common multiple lcm(a, b).",
			"第一行一个整数 T，表示数据组数。接下来 T 行，每行两个整数 a 和 b。\n\n"+
				"The first line holds an integer T, the number of pairs. Each of the next T lines holds two integers a and b.",
			"T 行，每行两个整数：gcd(a, b) 和 lcm(a, b)，用空格隔开。\n\n"+
				"T lines, each with two integers separated by a space: gcd(a, b) and lcm(a, b).",
			"- 1 ≤ T ≤ 10⁴\n- 1 ≤ a, b ≤ 10⁹\n\n"+
				"lcm(a, b) 可能接近 10¹⁸，请使用 64 位整数。\n\nlcm(a, b) may be close to 10¹⁸: use 64-bit integers.",
		),
		Checker: judge.CheckToken,
		Tags:    []string{"math", "number-theory"},
	}, ts, map[string]string{
		"cpp17": `#include <cstdio>

long long gcd(long long a, long long b) {
    while (b != 0) {
        long long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int main() {
    int t;
    if (std::scanf("%d", &t) != 1) return 1;
    while (t--) {
        long long a, b;
        std::scanf("%lld %lld", &a, &b);
        long long g = gcd(a, b);
        std::printf("%lld %lld\n", g, a / g * b);
    }
    return 0;
}
`,
		"python3": `import sys
from math import gcd


def main():
    data = sys.stdin.buffer.read().split()
    t = int(data[0])
    out = []
    for i in range(t):
        a = int(data[1 + 2 * i])
        b = int(data[2 + 2 * i])
        g = gcd(a, b)
        out.append("%d %d" % (g, a // g * b))
    sys.stdout.write("\n".join(out) + "\n")


main()
`,
	})
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
