package demo

import (
	"fmt"

	"github.com/luffy-edu/luffy/judge"
)

// anyPairSum accepts any valid pair, so it needs a custom checker. The answer file holds
// the pair the reference solver found, or -1; the checker uses it only to know whether a
// pair exists.
func anyPairSum() Problem {
	const limit = 1_000_000_000
	r := newRand(10)
	ts := &tests{solve: func(in string) string {
		t := newTokens(in)
		n, target := t.int(), t.int()
		seen := make(map[int64]int64, n)
		for j := range n {
			x := t.int()
			if i, ok := seen[target-x]; ok {
				return fmt.Sprintf("%d %d\n", i+1, j+1)
			}
			if _, ok := seen[x]; !ok {
				seen[x] = j
			}
		}
		return "-1\n"
	}}
	instance := func(target int64, a []int64) string {
		return lines(fmt.Sprint(len(a), " ", target), joinInts(a))
	}
	random := func(n int, lo, hi int64) []int64 {
		a := make([]int64, n)
		for i := range a {
			a[i] = lo + r.Int64N(hi-lo+1)
		}
		return a
	}
	// planted returns a random array and a target that exactly one chosen pair is sure to
	// reach; others may reach it too.
	planted := func(n int) (int64, []int64) {
		a := random(n, -limit, limit)
		i := r.IntN(n)
		j := (i + 1 + r.IntN(n-1)) % n
		return a[i] + a[j], a
	}
	// mapped applies f to a random array: with every value even (or ≡ 1 mod 3) no pair
	// can reach an odd target (or one ≡ 1 mod 3).
	mapped := func(n int, f func(int64) int64) []int64 {
		a := random(n, -limit/3+1, limit/3-1)
		for i := range a {
			a[i] = f(a[i])
		}
		return a
	}

	ts.sample(instance(9, []int64{2, 7, 11, 15}))
	ts.sample(instance(10, []int64{1, 2, 3}))
	ts.test(instance(0, []int64{-5, 5}))
	ts.test(instance(2, []int64{1, 3}))
	ts.test(instance(8, []int64{4, 1, 2, 9, 10}))    // 4 + 4 would need two fours
	ts.test(instance(8, []int64{4, 1, 4, 2, 9, 10})) // and here there are two
	ts.test(instance(2*limit, []int64{-limit, limit, 0, 7, limit}))
	ts.test(instance(planted(1000)))
	ts.test(instance(planted(100_000)))
	ts.test(instance(1+2*r.Int64N(limit)-limit, mapped(100_000, func(x int64) int64 { return 2 * x })))
	ts.test(instance(1, mapped(100_000, func(x int64) int64 { return 3*x + 1 })))
	ts.test(instance(r.Int64N(401)-200, random(100_000, -100, 100)))

	return problem(judge.Problem{
		Slug:  "any-pair-sum",
		Title: "两数之和 / Any Pair with a Given Sum",
		Statement: statement(
			"给定 n 个整数 a₁, a₂, …, aₙ 和目标值 t，找出两个不同的下标 i ≠ j，使得 aᵢ + aⱼ = t。如果有多组解，输出任意一组即可；如果无解，输出 `-1`。\n\n"+
				"Given n integers a₁, a₂, …, aₙ and a target t, find two different indices i ≠ j with aᵢ + aⱼ = t. If there are several such pairs, print any one of them; if there is none, print `-1`.",
			"第一行两个整数 n 和 t。第二行 n 个整数 a₁, a₂, …, aₙ。\n\n"+
				"The first line holds two integers n and t. The second line holds n integers a₁, a₂, …, aₙ.",
			"如果存在这样的一对下标，输出两个整数 i 和 j（下标从 1 开始，顺序任意）；否则输出 `-1`。本题使用特殊评测程序，任何正确的一对都会被接受。\n\n"+
				"If such a pair exists, print two integers i and j (indices start at 1, in either order); otherwise print `-1`. A special checker accepts any correct pair.",
			"- 2 ≤ n ≤ 10⁵\n- −10⁹ ≤ aᵢ ≤ 10⁹\n- −2·10⁹ ≤ t ≤ 2·10⁹\n\n"+
				"O(n²) 枚举在最大的数据上会超时。\n\nTrying every pair, O(n²), is too slow for the largest tests.",
		),
		Checker:       judge.CheckCustom,
		CheckerSource: anyPairSumChecker,
		Tags:          []string{"hashing", "two-pointers", "special-judge"},
	}, ts, map[string]string{
		"cpp17": `#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

int main() {
    int n;
    long long t;
    if (std::scanf("%d %lld", &n, &t) != 2) return 1;
    std::vector<std::pair<long long, int>> a(n);
    for (int i = 0; i < n; i++) {
        std::scanf("%lld", &a[i].first);
        a[i].second = i + 1;
    }
    std::sort(a.begin(), a.end());
    int l = 0, r = n - 1;
    while (l < r) {
        long long s = a[l].first + a[r].first;
        if (s == t) {
            std::printf("%d %d\n", a[l].second, a[r].second);
            return 0;
        }
        if (s < t) {
            l++;
        } else {
            r--;
        }
    }
    std::puts("-1");
    return 0;
}
`,
		"python3": `import sys


def main():
    data = sys.stdin.buffer.read().split()
    n, t = int(data[0]), int(data[1])
    seen = {}
    for j in range(n):
        x = int(data[2 + j])
        i = seen.get(t - x)
        if i is not None:
            print(i + 1, j + 1)
            return
        if x not in seen:
            seen[x] = j
    print(-1)


main()
`,
	})
}

// anyPairSumChecker is plain C++17 because the judge image has no testlib.h; it keeps
// testlib's exit codes, which are what the judge reads.
const anyPairSumChecker = `// Checker for any-pair-sum, called as: checker input output answer
// Exit codes are testlib's: 0 OK, 1 wrong answer, 2 presentation error, 3 checker failure.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

enum { OK = 0, WA = 1, PE = 2, FAIL = 3 };

[[noreturn]] static void verdict(int code, const std::string& why) {
    std::cerr << why << '\n';
    std::exit(code);
}

// parse_int accepts an optional minus sign and 1 to 18 digits, and nothing else, so
// that it cannot overflow.
static bool parse_int(const std::string& s, long long& out) {
    size_t i = 0;
    bool negative = false;
    if (i < s.size() && s[i] == '-') {
        negative = true;
        i++;
    }
    if (i == s.size() || s.size() - i > 18) return false;
    long long v = 0;
    for (; i < s.size(); i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    out = negative ? -v : v;
    return true;
}

// read_tokens reads at most limit+1 tokens: enough to tell that there are too many.
static std::vector<std::string> read_tokens(const char* path, size_t limit) {
    std::ifstream in(path);
    if (!in) verdict(FAIL, std::string("cannot open ") + path);
    std::vector<std::string> tokens;
    std::string s;
    while (tokens.size() <= limit && in >> s) tokens.push_back(s);
    return tokens;
}

int main(int argc, char** argv) {
    if (argc < 4) verdict(FAIL, "usage: checker input output answer");

    std::ifstream in(argv[1]);
    if (!in) verdict(FAIL, "cannot open input");
    long long n, t;
    if (!(in >> n >> t) || n < 2) verdict(FAIL, "malformed input header");
    std::vector<long long> a(n + 1);
    for (long long i = 1; i <= n; i++) {
        if (!(in >> a[i])) verdict(FAIL, "input has fewer than n numbers");
    }
    auto check = [&](long long i, long long j) -> std::string {
        if (i < 1 || i > n || j < 1 || j > n) return "index out of range 1.." + std::to_string(n);
        if (i == j) return "the two indices are equal";
        if (a[i] + a[j] != t) {
            return "a[" + std::to_string(i) + "] + a[" + std::to_string(j) + "] = " +
                   std::to_string(a[i] + a[j]) + ", not " + std::to_string(t);
        }
        return "";
    };

    // The answer file only tells whether a pair exists: it holds -1 or one valid pair.
    std::vector<std::string> answer = read_tokens(argv[3], 2);
    long long ai, aj;
    bool exists;
    if (answer.size() == 1 && answer[0] == "-1") {
        exists = false;
    } else if (answer.size() == 2 && parse_int(answer[0], ai) && parse_int(answer[1], aj) &&
               check(ai, aj).empty()) {
        exists = true;
    } else {
        verdict(FAIL, "answer file holds neither -1 nor a valid pair");
    }

    std::vector<std::string> output = read_tokens(argv[2], 2);
    long long i, j;
    if (output.empty()) verdict(PE, "empty output");
    if (output.size() > 2) verdict(PE, "more than two numbers in the output");
    if (output.size() == 1) {
        if (!parse_int(output[0], i) || i != -1) verdict(PE, "expected two indices or -1");
        if (exists) verdict(WA, "printed -1, but a pair exists, e.g. " + answer[0] + " " + answer[1]);
        verdict(OK, "no pair exists");
    }
    if (!parse_int(output[0], i) || !parse_int(output[1], j)) verdict(PE, "the indices are not integers");
    std::string wrong = check(i, j);
    if (!wrong.empty()) verdict(WA, wrong);
    if (!exists) verdict(FAIL, "the output is a valid pair, but the answer file says there is none");
    verdict(OK, "valid pair");
}
`
