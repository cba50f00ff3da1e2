package demo

import (
	"fmt"
	"math"
	"strconv"

	"github.com/luffy-edu/luffy/judge"
)

// circleArea is checked with a tolerance: printing π r² to any reasonable precision is
// right, which is the point of the float checker.
func circleArea() Problem {
	r := newRand(4)
	ts := &tests{solve: func(in string) string {
		s := newTokens(in).str()
		radius, err := strconv.ParseFloat(s, 64)
		if err != nil {
			panic(fmt.Sprintf("demo: circle-area radius %q: %v", s, err))
		}
		return fmt.Sprintf("%.10f\n", math.Pi*radius*radius)
	}}
	// Radii are whole thousandths, written without trailing zeros.
	radius := func(thousandths int64) string {
		return strconv.FormatFloat(float64(thousandths)/1000, 'f', -1, 64) + "\n"
	}
	ts.sample(radius(1000))
	ts.sample(radius(2500))
	ts.test(radius(1))
	ts.test(radius(10_000_000))
	ts.test(radius(9_999_999))
	ts.test(radius(1_234_567))
	for range 4 {
		ts.test(radius(1 + r.Int64N(10_000_000)))
	}

	return problem(judge.Problem{
		Slug:  "circle-area",
		Title: "圆的面积 / Area of a Circle",
		Statement: statement(
			"给定圆的半径 r，求圆的面积 π r²。\n\nGiven the radius r of a circle, find its area π r².",
			"一行，一个实数 r，小数点后至多 3 位。\n\nOne line with a real number r, with at most 3 digits after the decimal point.",
			"一个实数，即圆的面积。与标准答案的绝对误差或相对误差不超过 10⁻⁶ 即视为正确，所以请至少输出 6 位小数。\n\n"+
				"One real number: the area. It is accepted when its absolute or relative error is at most 10⁻⁶, so print at least 6 digits after the decimal point.",
			"- 0 < r ≤ 10⁴",
		),
		Checker:  judge.CheckFloat,
		FloatAbs: 1e-6,
		FloatRel: 1e-6,
		Tags:     []string{"beginner", "math", "floating-point"},
	}, ts, map[string]string{
		"cpp17": `#include <cmath>
#include <cstdio>

int main() {
    double r;
    if (std::scanf("%lf", &r) != 1) return 1;
    const double pi = std::acos(-1.0);
    std::printf("%.10f\n", pi * r * r);
    return 0;
}
`,
		"python3": `import math

r = float(input())
print("%.10f" % (math.pi * r * r))
`,
	})
}
