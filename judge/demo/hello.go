package demo

import "github.com/luffy-edu/luffy/judge"

// helloWorld is checked exactly, so it is where a student learns that the comma, the
// space and the exclamation mark are part of the answer.
func helloWorld() Problem {
	r := newRand(2)
	ts := &tests{solve: func(in string) string {
		return "Hello, " + newTokens(in).str() + "!\n"
	}}
	ts.sample("World\n")
	ts.sample("Luffy\n")
	ts.test("A\n")
	ts.test("zoro\n")
	for _, n := range []int{5, 12, 50} {
		ts.test(randomString(r, letters, n) + "\n")
	}

	return problem(judge.Problem{
		Slug:  "hello-world",
		Title: "你好，世界 / Hello, World!",
		Statement: statement(
			"读入一个名字 S，向它问好：输出 `Hello, S!`。\n\nRead a name S and greet it: print `Hello, S!`.",
			"一行，一个只含英文字母的字符串 S。\n\nOne line with a string S of English letters.",
			"一行：`Hello, S!`。本题逐字节比较输出（行末空白除外），逗号、空格和感叹号都不能少。\n\n"+
				"One line: `Hello, S!`. The output is compared byte for byte (apart from trailing blanks), so the comma, the space and the exclamation mark all count.",
			"- 1 ≤ |S| ≤ 50",
		),
		Checker: judge.CheckExact,
		Tags:    []string{"beginner", "strings"},
	}, ts, map[string]string{
		"cpp17": `#include <iostream>
#include <string>

int main() {
    std::string s;
    std::cin >> s;
    std::cout << "Hello, " << s << "!\n";
    return 0;
}
`,
		"python3": `name = input().strip()
print(f"Hello, {name}!")
`,
	})
}
