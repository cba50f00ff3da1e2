package demo

import (
	"fmt"
	"strings"

	"github.com/luffy-edu/luffy/judge"
)

// countWords has runs of spaces, tabs, blank lines and an input of only blanks, where a
// solution that counts spaces instead of words goes wrong.
func countWords() Problem {
	r := newRand(9)
	ts := &tests{solve: func(in string) string {
		return fmt.Sprintln(len(strings.Fields(in)))
	}}
	// text writes words of letters and punctuation separated by random blanks, as lines
	// of at most about 80 characters.
	text := func(words int) string {
		const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'-()"
		blanks := []string{" ", " ", " ", "  ", "\t", " \t "}
		var b strings.Builder
		width := 0
		for i := range words {
			if i > 0 {
				if width > 80 {
					b.WriteString("\n")
					width = 0
				} else {
					sep := blanks[r.IntN(len(blanks))]
					b.WriteString(sep)
					width += len(sep)
				}
			}
			w := randomString(r, chars, 1+r.IntN(10))
			b.WriteString(w)
			width += len(w)
		}
		return b.String() + "\n"
	}

	ts.sample("Hello world\n")
	ts.sample(lines("  The quick brown fox", "jumps over   the lazy dog.  "))
	ts.test("\n")
	ts.test("   \t  \n")
	ts.test("word\n")
	ts.test(lines("don't stop-believing", "", "", "  1 + 1 = 2"))
	ts.test(lines("\ttabs\tbetween\twords\t", "and   spaces"))
	ts.test(text(100))
	ts.test(text(10_000))

	return problem(judge.Problem{
		Slug:  "count-words",
		Title: "单词计数 / Count the Words",
		Statement: statement(
			"给定一段英文文本，数一数其中有多少个单词。单词是由非空白字符（空白指空格、制表符和换行）组成的、尽可能长的连续片段。\n\n"+
				"Given a piece of English text, count its words. A word is a maximal run of characters that are not whitespace (spaces, tabs, newlines).",
			"若干行文本，直到输入结束。文本只含可打印 ASCII 字符、空格和制表符，可能有空行。\n\n"+
				"Lines of text up to the end of input. The text holds printable ASCII characters, spaces and tabs, and may have blank lines.",
			"一个整数，即单词的个数。\n\nOne integer: the number of words.",
			"- 输入总长度不超过 10⁵ 个字符 / the input is at most 10⁵ characters long\n\n"+
				"单词之间可能有多个空白字符，输入也可能一个单词都没有。\n\nWords may be separated by several blanks, and the input may hold no word at all.",
		),
		Checker: judge.CheckToken,
		Tags:    []string{"beginner", "strings"},
	}, ts, map[string]string{
		"cpp17": `#include <iostream>
#include <string>

int main() {
    std::ios::sync_with_stdio(false);
    std::string word;
    long long count = 0;
    while (std::cin >> word) count++;
    std::cout << count << '\n';
    return 0;
}
`,
		"python3": `import sys

print(len(sys.stdin.buffer.read().split()))
`,
	})
}
