package demo

import (
	"fmt"

	"github.com/luffy-edu/luffy/judge"
)

const fibMod = 1_000_000_007

// fibonacciMod has n up to 10¹⁸, so looping n times is far too slow and a student has to
// find fast doubling or matrix powers.
func fibonacciMod() Problem {
	const limit = 1_000_000_000_000_000_000
	r := newRand(6)
	ts := &tests{solve: func(in string) string {
		f, _ := fib(uint64(newTokens(in).int()))
		return fmt.Sprintln(f)
	}}
	n := func(n int64) string { return fmt.Sprintln(n) }
	ts.sample(n(10))
	ts.sample(n(50))
	ts.test(n(0))
	ts.test(n(1))
	ts.test(n(2))
	ts.test(n(100_000))
	ts.test(n(1 << 60))
	ts.test(n(limit))
	for range 2 {
		ts.test(n(1 + r.Int64N(limit)))
	}

	return problem(judge.Problem{
		Slug:  "fibonacci-mod",
		Title: "斐波那契数 / Fibonacci Modulo",
		Statement: statement(
			"斐波那契数列定义为 F(0) = 0，F(1) = 1，F(n) = F(n−1) + F(n−2)（n ≥ 2）。给定 n，求 F(n) 除以 1000000007 的余数。\n\n"+
				"The Fibonacci numbers are F(0) = 0, F(1) = 1 and F(n) = F(n−1) + F(n−2) for n ≥ 2. Given n, find F(n) modulo 1000000007.",
			"一行，一个整数 n。\n\nOne line with an integer n.",
			"一个整数，即 F(n) mod 1000000007。\n\nOne integer: F(n) mod 1000000007.",
			"- 0 ≤ n ≤ 10¹⁸\n\n"+
				"n 很大，逐项递推会超时。\n\nn is large: computing the terms one by one is too slow.",
		),
		Checker: judge.CheckToken,
		Tags:    []string{"math", "fast-exponentiation"},
	}, ts, map[string]string{
		"cpp17": `#include <cstdio>
#include <utility>

typedef unsigned long long u64;
const u64 MOD = 1000000007ULL;

// fib returns F(n) and F(n+1) modulo MOD, by fast doubling:
// F(2k) = F(k) * (2 F(k+1) - F(k)), F(2k+1) = F(k)^2 + F(k+1)^2.
std::pair<u64, u64> fib(u64 n) {
    if (n == 0) return {0, 1};
    std::pair<u64, u64> h = fib(n / 2);
    u64 a = h.first, b = h.second;
    u64 c = a * ((2 * b + MOD - a) % MOD) % MOD;
    u64 d = (a * a + b * b) % MOD;
    if (n % 2 == 0) return {c, d};
    return {d, (c + d) % MOD};
}

int main() {
    u64 n;
    if (std::scanf("%llu", &n) != 1) return 1;
    std::printf("%llu\n", fib(n).first);
    return 0;
}
`,
		"python3": `MOD = 1000000007


def fib(n):
    """Returns F(n) and F(n+1) modulo MOD, by fast doubling."""
    if n == 0:
        return 0, 1
    a, b = fib(n // 2)
    c = a * (2 * b - a) % MOD
    d = (a * a + b * b) % MOD
    if n % 2 == 0:
        return c, d
    return d, (c + d) % MOD


print(fib(int(input()))[0])
`,
	})
}

// fib returns F(n) and F(n+1) modulo fibMod, by fast doubling.
func fib(n uint64) (uint64, uint64) {
	if n == 0 {
		return 0, 1
	}
	a, b := fib(n / 2)
	c := a * ((2*b + fibMod - a) % fibMod) % fibMod
	d := (a*a + b*b) % fibMod
	if n%2 == 0 {
		return c, d
	}
	return d, (c + d) % fibMod
}
