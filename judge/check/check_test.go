package check

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/luffy-edu/luffy/judge"
)

var (
	exact = Options{Kind: judge.CheckExact}
	token = Options{Kind: judge.CheckToken}
	float = Options{Kind: judge.CheckFloat}
)

func TestCompareVerdict(t *testing.T) {
	f := func(opts Options, output, answer string, want judge.Verdict) {
		t.Helper()
		got := Compare(opts, []byte(output), []byte(answer))
		if got.Verdict != want {
			t.Errorf("Compare(%s, %q, %q) = %s (%q), want %s", opts.Kind, output, answer, got.Verdict, got.Message, want)
		}
	}

	// exact: trailing blanks at line ends and blank lines at the end do not count.
	f(exact, "1 2\n3\n", "1 2\n3\n", judge.Accepted)
	f(exact, "1 2  \t\n3", "1 2\n3\n", judge.Accepted)
	f(exact, "1 2\r\n3\r\n", "1 2\n3\n", judge.Accepted)
	f(exact, "1 2\n3\n\n\n  \n\r\n", "1 2\n3", judge.Accepted)
	f(exact, "1 2\n3", "1 2\n3\n\n", judge.Accepted)
	f(exact, "", "", judge.Accepted)
	f(exact, "\n\n \r\n", "", judge.Accepted)
	f(exact, "", "\n", judge.Accepted)
	f(exact, "x", "x", judge.Accepted)
	// exact: the same tokens laid out differently are a presentation error.
	f(exact, "1  2\n3\n", "1 2\n3\n", judge.PresentationError)
	f(exact, " 1 2\n3\n", "1 2\n3\n", judge.PresentationError)
	f(exact, "1\n2\n3\n", "1 2\n3\n", judge.PresentationError)
	f(exact, "1 2\n\n3\n", "1 2\n3\n", judge.PresentationError)
	f(exact, "1 2\v\n3\n", "1 2\n3\n", judge.PresentationError) // \v is not trimmed, but separates tokens
	f(exact, "1\r2\n", "1 2\n", judge.PresentationError)        // a lone \r is not a line end
	f(exact, "\n1 2\n", "1 2\n", judge.PresentationError)
	// exact: different tokens are a wrong answer.
	f(exact, "1 2\n4\n", "1 2\n3\n", judge.WrongAnswer)
	f(exact, "1 2\n", "1 2\n3\n", judge.WrongAnswer)
	f(exact, "1 2\n3\n4\n", "1 2\n3\n", judge.WrongAnswer)
	f(exact, "", "1", judge.WrongAnswer)
	f(exact, "1", "", judge.WrongAnswer)
	f(exact, "Yes", "YES", judge.WrongAnswer)
	f(exact, "12", "1 2", judge.WrongAnswer)
	// the empty kind is exact, the judge's default.
	f(Options{}, "1  2", "1 2", judge.PresentationError)

	// token: any whitespace separates tokens, and only the tokens count.
	f(token, "1 2 3", "1 2 3", judge.Accepted)
	f(token, "  1\n2\t\t3\r\n\v\f", "1 2 3\n", judge.Accepted)
	f(token, "", "", judge.Accepted)
	f(token, " \n\t", "", judge.Accepted)
	f(token, "", "\n\n", judge.Accepted)
	f(token, "1 2 4", "1 2 3", judge.WrongAnswer)
	f(token, "1 2", "1 2 3", judge.WrongAnswer)
	f(token, "1 2 3 4", "1 2 3", judge.WrongAnswer)
	f(token, "1.0", "1", judge.WrongAnswer) // token compares text, not numbers
	f(token, "", "0", judge.WrongAnswer)
	f(token, "12", "1 2", judge.WrongAnswer)
	f(token, "\xff\xfe", "\xff\xfe", judge.Accepted)

	// float: numbers within the absolute or the relative tolerance.
	f(float, "1.0000005", "1", judge.Accepted)
	f(float, "1.000001", "1", judge.Accepted) // exactly on the boundary
	f(float, "1.0000011", "1", judge.WrongAnswer)
	f(float, "-2.0000009", "-2", judge.Accepted)
	f(float, "-2.0000021", "-2", judge.WrongAnswer)
	f(float, "0.000001", "0", judge.Accepted)
	f(float, "-0.000001", "0", judge.Accepted)
	f(float, "0.0000011", "0", judge.WrongAnswer)
	f(float, "-0", "0", judge.Accepted)
	f(float, "1000001", "1e6", judge.Accepted) // relative: 1e-6 of 1e6 is 1
	f(float, "1000001.5", "1e6", judge.WrongAnswer)
	f(float, "1.5E+3", "1500", judge.Accepted)
	f(float, "1.5e3", "1500.0000001", judge.Accepted)
	f(float, "15e-1", "1.5", judge.Accepted)
	f(float, ".5", "0.5", judge.Accepted)
	f(float, "5.", "5", judge.Accepted)
	f(float, "+3", "3", judge.Accepted)
	f(float, "1e-400", "0", judge.Accepted) // underflows to 0, still a finite number
	f(float, "1e400", "1e400", judge.Accepted)
	f(float, "1e400", "1e401", judge.WrongAnswer) // overflows: not a number, compared as text
	f(float, strings.Repeat("7", 300)+"8", strings.Repeat("7", 300)+"9", judge.Accepted)
	// float: NaN, infinities and non-decimal spellings in the output are never numbers.
	f(float, "nan", "1", judge.WrongAnswer)
	f(float, "NaN", "0", judge.WrongAnswer)
	f(float, "inf", "1e308", judge.WrongAnswer)
	f(float, "0x1p0", "1", judge.WrongAnswer)
	f(float, "1_0", "10", judge.WrongAnswer)
	f(float, "1e", "1", judge.WrongAnswer)
	f(float, "-", "0", judge.WrongAnswer)
	f(float, "nan", "nan", judge.Accepted) // equal text is always right
	// float: tokens that are not numbers must be equal text.
	f(float, "YES 0.5000001", "YES 0.5", judge.Accepted)
	f(float, "yes 0.5", "YES 0.5", judge.WrongAnswer)
	f(float, "1 2", "1 2 3", judge.WrongAnswer)
	f(float, "1\n2\n", "1.0000001 2", judge.Accepted)
	// float: custom tolerances.
	f(Options{Kind: judge.CheckFloat, FloatAbs: 0.01, FloatRel: 1e-9}, "3.149", "3.14", judge.Accepted)
	f(Options{Kind: judge.CheckFloat, FloatAbs: 0.01, FloatRel: 1e-9}, "3.151", "3.14", judge.WrongAnswer)
	f(Options{Kind: judge.CheckFloat, FloatAbs: 1e-9, FloatRel: 0.01}, "101", "100", judge.Accepted)
	f(Options{Kind: judge.CheckFloat, FloatAbs: 1e-9, FloatRel: 0.01}, "-101", "-100", judge.Accepted)
	f(Options{Kind: judge.CheckFloat, FloatAbs: 1e-9, FloatRel: 0.01}, "-102", "-100", judge.WrongAnswer)
	f(Options{Kind: judge.CheckFloat, FloatAbs: 1e-9, FloatRel: 0.01}, "100", "-100", judge.WrongAnswer)
	f(Options{Kind: judge.CheckFloat, FloatAbs: -1, FloatRel: -1}, "1.0000005", "1", judge.Accepted) // nonsense means default

	// kinds Compare does not run.
	f(Options{Kind: judge.CheckCustom}, "1", "1", judge.InternalError)
	f(Options{Kind: "fuzzy"}, "1", "1", judge.InternalError)
}

func TestCompareResult(t *testing.T) {
	f := func(opts Options, output, answer string, want Result) {
		t.Helper()
		got := Compare(opts, []byte(output), []byte(answer))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Compare(%s, %q, %q)\n got %+v %+v\nwant %+v %+v", opts.Kind, output, answer, got, got.Diff, want, want.Diff)
		}
	}

	f(exact, "1\n2\n", "1\n2", Result{Verdict: judge.Accepted})
	f(exact, "1\n2\n4\n", "1\n2\n3\n", Result{
		Verdict: judge.WrongAnswer,
		Message: "line 3 differs",
		Diff:    &Diff{Line: 3, Expected: "3", Got: "4"},
	})
	f(exact, "1\r\n2  \r\n", "1\n2\n3\n", Result{
		Verdict: judge.WrongAnswer,
		Message: "output ends before line 3",
		Diff:    &Diff{Line: 3, Expected: "3", Got: "", Missing: true},
	})
	f(exact, "", "42\n", Result{
		Verdict: judge.WrongAnswer,
		Message: "output ends before line 1",
		Diff:    &Diff{Line: 1, Expected: "42", Missing: true},
	})
	f(exact, "1\n\n\n2\n", "1\n", Result{
		Verdict: judge.WrongAnswer,
		Message: "line 4 differs",
		Diff:    &Diff{Line: 4, Expected: "", Got: "2"},
	})
	f(exact, "1\n2 3 \n", "1\n2  3\n", Result{
		Verdict: judge.PresentationError,
		Message: "output differs from the answer only in whitespace, first on line 2",
		Diff:    &Diff{Line: 2, Expected: "2  3", Got: "2 3"},
	})

	f(token, "1 2 6\n", "1 2\n5\n", Result{
		Verdict: judge.WrongAnswer,
		Message: "token 3: expected 5, got 6",
		Diff:    &Diff{Line: 1, Expected: "1 2", Got: "1 2 6"},
	})
	// The diff points at the line the token checker rejects, not at the earlier line
	// that only differs in spacing.
	f(token, "a  b\nc\nx\n", "a b\nc\nd\n", Result{
		Verdict: judge.WrongAnswer,
		Message: "token 4: expected d, got x",
		Diff:    &Diff{Line: 3, Expected: "d", Got: "x"},
	})
	f(token, "1 2\n", "1 2\n3\n", Result{
		Verdict: judge.WrongAnswer,
		Message: "output has fewer tokens: token 3 should be 3, output ended",
		Diff:    &Diff{Line: 2, Expected: "3", Missing: true},
	})
	f(token, "1 2\n\n3\n", "1 2\n", Result{
		Verdict: judge.WrongAnswer,
		Message: "output has more tokens: token 3 is 3, answer ended",
		Diff:    &Diff{Line: 3, Expected: "", Got: "3"},
	})
	f(token, "a\x00b", "ab", Result{
		Verdict: judge.WrongAnswer,
		Message: `token 1: expected ab, got "a\x00b"`,
		Diff:    &Diff{Line: 1, Expected: "ab", Got: "a\x00b"},
	})

	f(float, "0.5 2.5\n", "0.5 2.4\n", Result{
		Verdict: judge.WrongAnswer,
		Message: "token 2: expected 2.4, got 2.5 (error 0.1, tolerance 1e-06 absolute or 1e-06 relative)",
		Diff:    &Diff{Line: 1, Expected: "0.5 2.4", Got: "0.5 2.5"},
	})
	f(float, "1\nnan\n", "1\n2\n", Result{
		Verdict: judge.WrongAnswer,
		Message: "token 2: expected 2, got nan (not a finite decimal number)",
		Diff:    &Diff{Line: 2, Expected: "2", Got: "nan"},
	})
	f(float, "1.0000001\n2\nYes\n", "1\n2\nYES\n", Result{
		Verdict: judge.WrongAnswer,
		Message: "token 3: expected YES, got Yes",
		Diff:    &Diff{Line: 3, Expected: "YES", Got: "Yes"},
	})
}

func TestCompareTruncates(t *testing.T) {
	f := func(opts Options, output, answer string, wantLine int, wantExpected, wantGot string) {
		t.Helper()
		got := Compare(opts, []byte(output), []byte(answer))
		if got.Diff == nil {
			t.Fatalf("Compare(%s) = %+v, want a Diff", opts.Kind, got)
		}
		d := got.Diff
		if d.Line != wantLine || d.Expected != wantExpected || d.Got != wantGot {
			t.Errorf("Compare(%s).Diff = line %d %q %q, want line %d %q %q", opts.Kind, d.Line, d.Expected, d.Got, wantLine, wantExpected, wantGot)
		}
		for _, s := range []string{got.Message, d.Expected, d.Got} {
			if len(s) > maxShown || !utf8.ValidString(s) {
				t.Errorf("Compare(%s) shows %d bytes (valid UTF-8: %t): %q", opts.Kind, len(s), utf8.ValidString(s), s)
			}
		}
	}

	long := strings.Repeat("7", 300)
	f(exact, "ok\n"+long+"8\n", "ok\n"+long+"9\n", 2, strings.Repeat("7", 197)+"…", strings.Repeat("7", 197)+"…")
	f(token, long+"8", long+"9", 1, strings.Repeat("7", 197)+"…", strings.Repeat("7", 197)+"…")
	f(float, "x"+long+"8", "x"+long+"9", 1, "x"+strings.Repeat("7", 196)+"…", "x"+strings.Repeat("7", 196)+"…")

	// 200 bytes fit whole; a multi-byte rune is never split.
	f(exact, strings.Repeat("a", 200), "b", 1, "b", strings.Repeat("a", 200))
	f(exact, strings.Repeat("é", 150), "b", 1, "b", strings.Repeat("é", 98)+"…") // 98*2+3 = 199
	// Invalid bytes become U+FFFD.
	f(exact, "a\xffb\n", "ab\n", 1, "ab", "a\uFFFDb")
	f(exact, strings.Repeat("\xff", 100), "b", 1, "b", strings.Repeat("\uFFFD", 65)+"…")
}

func TestClip(t *testing.T) {
	f := func(in string, limit int, want string) {
		t.Helper()
		if got := clip([]byte(in), limit); got != want {
			t.Errorf("clip(%q, %d) = %q, want %q", in, limit, got, want)
		}
	}
	f("", 10, "")
	f("abc", 3, "abc")
	f("abcd", 3, "…")
	f("abcd", 4, "abcd")
	f("abcde", 4, "a…")
	f("日本語", 9, "日本語")
	f("日本語x", 9, "日本…")
	f("\xc3", 5, "\uFFFD")
	f("\xed\xa0\x80", 9, "\uFFFD\uFFFD\uFFFD") // a UTF-16 surrogate is not UTF-8
}

func TestCompareAcceptedAllocs(t *testing.T) {
	f := func(opts Options, output, answer string) {
		t.Helper()
		out, ans := []byte(output), []byte(answer)
		allocs := testing.AllocsPerRun(100, func() {
			if r := Compare(opts, out, ans); r.Verdict != judge.Accepted {
				t.Fatalf("Compare(%s, %q, %q) = %+v, want AC", opts.Kind, output, answer, r)
			}
		})
		if allocs != 0 {
			t.Errorf("Compare(%s, %q, %q) allocates %v times, want 0", opts.Kind, output, answer, allocs)
		}
	}
	f(exact, "1 2\r\n3  \n\n", "1 2\n3")
	f(token, "1\n2\n3\n", "1 2 3")
	f(float, "0.3333333 1e3 YES\n", "0.33333333333 1000 YES")
}

func TestTestlib(t *testing.T) {
	f := func(code int, wantV judge.Verdict, wantFraction float64, wantKnown bool) {
		t.Helper()
		v, fraction, known := Testlib(code)
		if v != wantV || fraction != wantFraction || known != wantKnown {
			t.Errorf("Testlib(%d) = %s, %v, %t; want %s, %v, %t", code, v, fraction, known, wantV, wantFraction, wantKnown)
		}
	}
	f(0, judge.Accepted, 1, true)
	f(1, judge.WrongAnswer, 0, true)
	f(2, judge.PresentationError, 0, true)
	f(3, judge.InternalError, 0, true)
	f(4, judge.PresentationError, 0, true) // _dirt
	f(8, judge.PresentationError, 0, true) // _unexpected_eof
	f(7, judge.InternalError, 0, false)    // quitp: needs the message
	f(5, judge.InternalError, 0, false)
	f(16, judge.InternalError, 0, false) // _partially is an enum value, not an exit code
	f(49, judge.InternalError, 0, false)
	f(50, judge.WrongAnswer, 0, true) // _pc(0)
	f(150, judge.WrongAnswer, 0.5, true)
	f(250, judge.Accepted, 1, true) // _pc(200)
	f(251, judge.InternalError, 0, false)
	f(255, judge.InternalError, 0, false)
	f(-1, judge.InternalError, 0, false) // killed by a signal
}

func TestTestlibReport(t *testing.T) {
	f := func(code int, stderr string, wantV judge.Verdict, wantFraction float64, wantKnown bool) {
		t.Helper()
		v, fraction, known := TestlibReport(code, []byte(stderr))
		if v != wantV || fraction != wantFraction || known != wantKnown {
			t.Errorf("TestlibReport(%d, %q) = %s, %v, %t; want %s, %v, %t", code, stderr, v, fraction, known, wantV, wantFraction, wantKnown)
		}
	}
	f(7, "points 0.5", judge.WrongAnswer, 0.5, true)
	f(7, "points 0.250 3 of 4 queries answered\n", judge.WrongAnswer, 0.25, true)
	f(7, "points 1.0000000000\n", judge.Accepted, 1, true)
	f(7, "points 0\r\n", judge.WrongAnswer, 0, true)
	f(7, "debug: points 0.9\npoints 0.1 ok\n", judge.WrongAnswer, 0.1, true)
	f(7, "points 0.1\nchecker printed more\n", judge.WrongAnswer, 0.1, true)
	f(7, "points 1.5\n", judge.InternalError, 0, false) // not a fraction
	f(7, "points -0.5\n", judge.InternalError, 0, false)
	f(7, "points nan\n", judge.InternalError, 0, false)
	f(7, "points\n", judge.InternalError, 0, false)
	f(7, "", judge.InternalError, 0, false)
	f(7, "ok 0.5\n", judge.InternalError, 0, false)
	f(0, "ok all good\n", judge.Accepted, 1, true)
	f(1, "points 0.5\n", judge.WrongAnswer, 0, true) // only code 7 reads points
	f(150, "", judge.WrongAnswer, 0.5, true)
}
