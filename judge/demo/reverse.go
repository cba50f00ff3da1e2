package demo

import "github.com/luffy-edu/luffy/judge"

func reverseString() Problem {
	r := newRand(3)
	ts := &tests{solve: func(in string) string {
		return reverse(newTokens(in).str()) + "\n"
	}}
	ts.sample("hello\n")
	ts.sample("luffy2024\n")
	ts.test("a\n")
	ts.test("ab\n")
	ts.test("racecar\n")
	for _, n := range []int{10, 1000, 100_000} {
		ts.test(randomString(r, lowerDigits, n) + "\n")
	}
	half := randomString(r, lowerDigits, 50_000)
	ts.test(half + reverse(half) + "\n")

	return problem(judge.Problem{
		Slug:  "reverse-string",
		Title: "字符串反转 / Reverse a String",
		Statement: statement(
			"给定一个字符串 s，把它倒过来输出。\n\nGiven a string s, print it backwards.",
			"一行，一个由小写英文字母和数字组成的字符串 s。\n\nOne line with a string s of lowercase English letters and digits.",
			"一行，s 反转后的字符串。本题逐字节比较输出（行末空白除外）。\n\n"+
				"One line: s reversed. The output is compared byte for byte (apart from trailing blanks).",
			"- 1 ≤ |s| ≤ 10⁵",
		),
		Checker: judge.CheckExact,
		Tags:    []string{"beginner", "strings"},
	}, ts, map[string]string{
		"cpp17": `#include <algorithm>
#include <iostream>
#include <string>

int main() {
    std::ios::sync_with_stdio(false);
    std::string s;
    std::cin >> s;
    std::reverse(s.begin(), s.end());
    std::cout << s << '\n';
    return 0;
}
`,
		"python3": `import sys

s = sys.stdin.readline().strip()
print(s[::-1])
`,
	})
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}
