package demo

import (
	"fmt"

	"github.com/luffy-edu/luffy/judge"
)

// aPlusB is the problem the stack's checks submit to, so it has a solution in every
// judge language and exactly ten tests.
func aPlusB() Problem {
	const limit = 1_000_000_000
	r := newRand(1)
	ts := &tests{solve: func(in string) string {
		t := newTokens(in)
		return fmt.Sprintln(t.int() + t.int())
	}}
	pair := func(a, b int64) string { return fmt.Sprintf("%d %d\n", a, b) }
	ts.sample(pair(1, 2))
	ts.sample(pair(123456789, 987654321))
	ts.test(pair(0, 0))
	ts.test(pair(-3, -4))
	ts.test(pair(limit, limit))
	ts.test(pair(-limit, -limit))
	ts.test(pair(limit, -limit))
	for range 3 {
		ts.test(pair(r.Int64N(2*limit+1)-limit, r.Int64N(2*limit+1)-limit))
	}

	return problem(judge.Problem{
		Slug:  "a-plus-b",
		Title: "A + B",
		Statement: statement(
			"给定两个整数 a 和 b，输出它们的和。\n\nGiven two integers a and b, print their sum.",
			"一行，两个整数 a 和 b，用空格隔开。\n\nOne line with two integers a and b separated by a space.",
			"一个整数，即 a + b。\n\nOne integer: a + b.",
			"- −10⁹ ≤ a, b ≤ 10⁹\n\n"+
				"注意 a + b 可能超出 32 位整数的范围。\n\nNote that a + b may not fit in a 32-bit integer.",
		),
		Checker: judge.CheckToken,
		Tags:    []string{"beginner", "math"},
	}, ts, map[string]string{
		"c": `#include <stdio.h>

int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) return 1;
    printf("%lld\n", a + b);
    return 0;
}
`,
		"cpp17": `#include <iostream>

int main() {
    long long a, b;
    std::cin >> a >> b;
    std::cout << a + b << '\n';
    return 0;
}
`,
		"python3": `import sys

a, b = map(int, sys.stdin.read().split())
print(a + b)
`,
		"java17": `import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.util.StringTokenizer;

public class Main {
    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        StringTokenizer st = new StringTokenizer(in.readLine());
        long a = Long.parseLong(st.nextToken());
        long b = Long.parseLong(st.nextToken());
        System.out.println(a + b);
    }
}
`,
		"go": `package main

import (
	"bufio"
	"fmt"
	"os"
)

func main() {
	var a, b int64
	if _, err := fmt.Fscan(bufio.NewReader(os.Stdin), &a, &b); err != nil {
		os.Exit(1)
	}
	fmt.Println(a + b)
}
`,
		"javascript": `const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\s+/).map(BigInt);
console.log((a + b).toString());
`,
	})
}
