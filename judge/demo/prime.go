package demo

import (
	"fmt"
	"strings"

	"github.com/luffy-edu/luffy/judge"
)

// primeCheck has squares of primes and Carmichael numbers, which catch a loop that stops
// one short of √n and a Fermat test passed off as a primality test.
func primeCheck() Problem {
	const limit = 1_000_000_000
	r := newRand(7)
	ts := &tests{solve: func(in string) string {
		t := newTokens(in)
		var b strings.Builder
		for range t.int() {
			if isPrime(t.int()) {
				b.WriteString("YES\n")
			} else {
				b.WriteString("NO\n")
			}
		}
		return b.String()
	}}
	numbers := func(ns ...int64) string {
		var b strings.Builder
		fmt.Fprintln(&b, len(ns))
		for _, n := range ns {
			fmt.Fprintln(&b, n)
		}
		return b.String()
	}
	// primesBelow lists the count largest primes below n, largest first.
	primesBelow := func(n int64, count int) []int64 {
		var ps []int64
		for k := n - 1; len(ps) < count; k-- {
			if isPrime(k) {
				ps = append(ps, k)
			}
		}
		return ps
	}
	var upTo50 []int64
	for k := int64(1); k <= 50; k++ {
		upTo50 = append(upTo50, k)
	}
	var squares []int64
	for _, p := range primesBelow(31_623, 25) { // 31623² > 10⁹
		squares = append(squares, p*p, p*(p+2))
	}
	random := make([]int64, 50)
	for i := range random {
		random[i] = 1 + r.Int64N(limit)
	}
	oddRandom := make([]int64, 50)
	for i := range oddRandom {
		oddRandom[i] = 1 + 2*r.Int64N(limit/2)
	}

	ts.sample(numbers(2, 15, 17))
	ts.sample(numbers(1, 97))
	ts.test(numbers(upTo50...))
	ts.test(numbers(561, 1105, 1729, 2465, 2821, 6601, 8911, 41041, 825265, 321197185))
	ts.test(numbers(squares...))
	ts.test(numbers(primesBelow(limit+1, 50)...))
	ts.test(numbers(limit, limit-1, 999_999_937, 1<<29, 3*3*3*3*3*3*3*3*3*3*3*3*3*3*3*3*3*3))
	ts.test(numbers(random...))
	ts.test(numbers(oddRandom...))
	ts.test(numbers(2))

	return problem(judge.Problem{
		Slug:  "prime-check",
		Title: "素数判定 / Is It Prime?",
		Statement: statement(
			"给定若干个正整数，判断每一个是不是素数。\n\nGiven some positive integers, tell for each whether it is prime.",
			"第一行一个整数 T。接下来 T 行，每行一个整数 n。\n\nThe first line holds an integer T. Each of the next T lines holds an integer n.",
			"T 行，第 i 行是 `YES`（第 i 个数是素数）或 `NO`。\n\nT lines; line i is `YES` if the i-th number is prime and `NO` otherwise.",
			"- 1 ≤ T ≤ 50\n- 1 ≤ n ≤ 10⁹\n\n"+
				"1 不是素数。\n\n1 is not prime.",
		),
		Checker: judge.CheckToken,
		Tags:    []string{"math", "number-theory"},
	}, ts, map[string]string{
		"cpp17": `#include <cstdio>

bool is_prime(long long n) {
    if (n < 2) return false;
    for (long long d = 2; d * d <= n; d++) {
        if (n % d == 0) return false;
    }
    return true;
}

int main() {
    int t;
    if (std::scanf("%d", &t) != 1) return 1;
    while (t--) {
        long long n;
        std::scanf("%lld", &n);
        std::puts(is_prime(n) ? "YES" : "NO");
    }
    return 0;
}
`,
		"python3": `import sys


def is_prime(n):
    if n < 2:
        return False
    if n < 4:
        return True
    if n % 2 == 0 or n % 3 == 0:
        return False
    d = 5
    while d * d <= n:
        if n % d == 0 or n % (d + 2) == 0:
            return False
        d += 6
    return True


def main():
    data = sys.stdin.buffer.read().split()
    t = int(data[0])
    out = ["YES" if is_prime(int(x)) else "NO" for x in data[1:1 + t]]
    sys.stdout.write("\n".join(out) + "\n")


main()
`,
	})
}

func isPrime(n int64) bool {
	if n < 2 {
		return false
	}
	for d := int64(2); d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}
