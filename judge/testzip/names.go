package testzip

import "strings"

// validName reports whether name matches ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$: safe as a
// file name and an object key everywhere, and short enough to show in a verdict table.
func validName(name string) bool {
	if len(name) == 0 || len(name) > 64 || name[0] == '-' || name[0] == '_' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isDigit(c) && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// compareNatural orders names the way people number tests: runs of digits compare as
// numbers (2 before 10, sample2 before sample10), everything else byte by byte. Names
// equal as numbers ("01" and "1") fall back to plain order, so the order is total.
func compareNatural(a, b string) int {
	x, y := a, b
	for x != "" && y != "" {
		var cx, cy string
		cx, x = nextRun(x)
		cy, y = nextRun(y)
		var c int
		if isDigit(cx[0]) && isDigit(cy[0]) {
			c = compareNumbers(cx, cy)
		} else {
			c = strings.Compare(cx, cy)
		}
		if c != 0 {
			return c
		}
	}
	switch {
	case x == "" && y != "":
		return -1
	case x != "" && y == "":
		return 1
	}
	return strings.Compare(a, b)
}

// nextRun splits s after its leading run of digits or of non-digits.
func nextRun(s string) (run, rest string) {
	digits := isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == digits {
		i++
	}
	return s[:i], s[i:]
}

// compareNumbers compares two runs of digits by value without parsing them, which could
// overflow: a longer run without its leading zeros is the larger number.
func compareNumbers(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// compareTests is the order tests run and are listed in: samples first (a program
// failing them fails fast, and students see them first), then the rest, each group in
// natural order.
func compareTests(a, b string) int {
	if sa, sb := isSample(a), isSample(b); sa != sb {
		if sa {
			return -1
		}
		return 1
	}
	return compareNatural(a, b)
}

// isSample says whether a test name marks a sample test, shown to students.
func isSample(name string) bool { return strings.HasPrefix(name, "sample") }
