package testzip

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/luffy-edu/luffy/judge"
)

func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	if err := Write(&buf, []judge.TestCase{
		{Name: "sample1", Input: []byte("1 2\n"), Answer: []byte("3\n"), Sample: true},
		{Name: "2", Input: []byte("5 7\n"), Answer: []byte("12\n")},
	}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(zipOf(f, files("tests/1.in", "a", "tests/1.out", "b", "__MACOSX/tests/._1.in", "x", "tests/.DS_Store", "")...))
	f.Add(zipOf(f, files("1.in", strings.Repeat("0", 5000), "1.ans", "")...))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))

	// Small limits keep a fuzzed zip bomb cheap.
	lim := Limits{MaxFileBytes: 1 << 20, MaxTotalBytes: 4 << 20, MaxTests: 50}
	f.Fuzz(func(t *testing.T, data []byte) {
		tests, err := read(data, lim)
		if err != nil {
			// bytes.Reader never fails, so whatever goes wrong is the zip's fault
			var ze *Error
			if !errors.As(err, &ze) {
				t.Fatalf("Read error %v is not an *Error", err)
			}
			return
		}
		if len(tests) == 0 || len(tests) > lim.MaxTests {
			t.Fatalf("Read succeeded with %d tests", len(tests))
		}
		var total int64
		for i, tc := range tests {
			if !validName(tc.Name) {
				t.Fatalf("test name %q is not valid", tc.Name)
			}
			if tc.Sample != strings.HasPrefix(tc.Name, "sample") {
				t.Fatalf("test %q has Sample %t", tc.Name, tc.Sample)
			}
			if i > 0 && compareTests(tests[i-1].Name, tc.Name) >= 0 {
				t.Fatalf("tests %q and %q are out of order or duplicated", tests[i-1].Name, tc.Name)
			}
			total += int64(len(tc.Input) + len(tc.Answer))
		}
		if total > lim.MaxTotalBytes {
			t.Fatalf("Read returned %d bytes, more than the limit", total)
		}
		if !slices.IsSortedFunc(tests, func(a, b judge.TestCase) int { return compareTests(a.Name, b.Name) }) {
			t.Fatal("tests are not sorted")
		}
	})
}
