package check

import (
	"testing"
	"unicode/utf8"

	"github.com/luffy-edu/luffy/judge"
)

func FuzzCompare(f *testing.F) {
	seeds := [][2]string{
		{"", ""},
		{"1 2\n3\n", "1 2\n3"},
		{"1  2\r\n3\n\n", "1 2\n3\n"},
		{"1 2 4", "1 2 3"},
		{"1.0000005 nan", "1 nan"},
		{"1e400 -0 .5 5. 1e-400", "1e401 0 0.5 5 0"},
		{"\xff\xfe\x00\v\f", "\xff \xfe"},
		{"é\n\n\n", "é\r\n"},
	}
	for _, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	kinds := []Options{exact, token, float}
	f.Fuzz(func(t *testing.T, output, answer []byte) {
		results := make(map[judge.CheckerKind]Result, len(kinds))
		for _, opts := range kinds {
			r := Compare(opts, output, answer)
			results[opts.Kind] = r
			checkResult(t, opts, output, answer, r)
			if self := Compare(opts, output, output); self.Verdict != judge.Accepted {
				t.Errorf("Compare(%s, x, x) = %+v, want AC for x = %q", opts.Kind, self, output)
			}
		}
		ex, tok, fl := results[judge.CheckExact], results[judge.CheckToken], results[judge.CheckFloat]
		if ex.Verdict == judge.Accepted && tok.Verdict != judge.Accepted {
			t.Errorf("exact accepts but token says %s (%q)", tok.Verdict, tok.Message)
		}
		if (ex.Verdict == judge.PresentationError) != (ex.Verdict != judge.Accepted && tok.Verdict == judge.Accepted) {
			t.Errorf("exact says %s but token says %s", ex.Verdict, tok.Verdict)
		}
		if tok.Verdict == judge.Accepted && fl.Verdict != judge.Accepted {
			t.Errorf("token accepts but float says %s (%q)", fl.Verdict, fl.Message)
		}
	})
}

func checkResult(t *testing.T, opts Options, output, answer []byte, r Result) {
	t.Helper()
	switch {
	case r.Verdict == judge.Accepted:
		if r.Diff != nil || r.Message != "" {
			t.Errorf("Compare(%s, %q, %q) accepts with %q %+v", opts.Kind, output, answer, r.Message, r.Diff)
		}
		return
	case r.Verdict == judge.WrongAnswer, r.Verdict == judge.PresentationError && opts.Kind == judge.CheckExact:
	default:
		t.Fatalf("Compare(%s, %q, %q) = %s", opts.Kind, output, answer, r.Verdict)
	}
	if r.Diff == nil || r.Diff.Line < 1 {
		t.Fatalf("Compare(%s, %q, %q) = %s with Diff %+v", opts.Kind, output, answer, r.Verdict, r.Diff)
	}
	if r.Diff.Missing && r.Diff.Got != "" {
		t.Errorf("Compare(%s, %q, %q): Missing with Got %q", opts.Kind, output, answer, r.Diff.Got)
	}
	for _, s := range []string{r.Message, r.Diff.Expected, r.Diff.Got} {
		if len(s) > maxShown || !utf8.ValidString(s) {
			t.Errorf("Compare(%s, %q, %q) shows %q", opts.Kind, output, answer, s)
		}
	}
	if r.Message == "" {
		t.Errorf("Compare(%s, %q, %q) = %s without a message", opts.Kind, output, answer, r.Verdict)
	}
}
