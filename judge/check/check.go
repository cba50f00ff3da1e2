package check

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/luffy-edu/luffy/judge"
)

// Options for Compare.
type Options struct {
	// Kind is exact, token or float. The empty kind is exact, the judge's default;
	// custom checkers run in the sandbox and are read with Testlib instead.
	Kind judge.CheckerKind
	// FloatAbs and FloatRel are the float checker's tolerances: a number is right when
	// it is within FloatAbs of the answer or within FloatRel of it relatively. Zero (or
	// a negative or NaN value, which no problem means on purpose) is the default 1e-6.
	FloatAbs float64
	FloatRel float64
}

// Diff says where output first differs from the answer, for sample tests.
type Diff struct {
	Line     int    `json:"line"`     // 1-based line number
	Expected string `json:"expected"` // that line of the answer, at most 200 bytes of valid UTF-8
	Got      string `json:"got"`      // that line of the output, same truncation; "" with Missing when output ended
	Missing  bool   `json:"missing,omitempty"`
}

// Result is a checker's decision on one test.
type Result struct {
	// Verdict is Accepted, WrongAnswer or PresentationError (exact only); InternalError
	// when Options name a kind Compare does not handle.
	Verdict judge.Verdict
	Message string // short reason, at most 200 bytes of valid UTF-8; empty when Accepted
	Diff    *Diff  // first differing line; nil when Accepted
}

const (
	defaultTolerance = 1e-6
	maxShown         = 200 // bytes of a Message or of a Diff line
	maxTokenShown    = 40  // bytes of a token quoted in a Message, so two fit
	ellipsis         = "…"
)

// Compare checks output against answer. It never panics, whatever the bytes, and takes
// time linear in their length.
func Compare(opts Options, output, answer []byte) Result {
	// Every kind starts with bytes.Equal: most accepted outputs are byte-identical to the
	// answer, and memcmp runs several times faster than any scan.
	switch opts.Kind {
	case judge.CheckExact, "":
		return compareExact(output, answer)
	case judge.CheckToken:
		return compareTokens(comparer{}, output, answer)
	case judge.CheckFloat:
		return compareTokens(newFloatComparer(opts), output, answer)
	default:
		return Result{
			Verdict: judge.InternalError,
			Message: clip(fmt.Appendf(nil, "checker kind %q is not built in", opts.Kind), maxShown),
		}
	}
}

func compareExact(output, answer []byte) Result {
	if bytes.Equal(output, answer) {
		return Result{Verdict: judge.Accepted}
	}
	d := firstLineDiff(output, answer, bytes.Equal)
	if d == nil {
		return Result{Verdict: judge.Accepted}
	}
	if tokensEqual(comparer{}, output, answer) {
		return Result{
			Verdict: judge.PresentationError,
			Message: fmt.Sprintf("output differs from the answer only in whitespace, first on line %d", d.Line),
			Diff:    d,
		}
	}
	msg := fmt.Sprintf("line %d differs", d.Line)
	if d.Missing {
		msg = fmt.Sprintf("output ends before line %d", d.Line)
	}
	return Result{Verdict: judge.WrongAnswer, Message: msg, Diff: d}
}

func compareTokens(c comparer, output, answer []byte) Result {
	if bytes.Equal(output, answer) {
		return Result{Verdict: judge.Accepted}
	}
	out, ans := tokenScanner{data: output}, tokenScanner{data: answer}
	for i := 1; ; i++ {
		got, gotOK := out.next()
		exp, expOK := ans.next()
		var msg []byte
		switch {
		case !gotOK && !expOK:
			return Result{Verdict: judge.Accepted}
		case !gotOK:
			msg = fmt.Appendf(nil, "output has fewer tokens: token %d should be %s, output ended", i, showToken(exp))
		case !expOK:
			msg = fmt.Appendf(nil, "output has more tokens: token %d is %s, answer ended", i, showToken(got))
		case c.tokenEqual(got, exp):
			continue
		default:
			msg = c.mismatch(i, got, exp)
		}
		return Result{
			Verdict: judge.WrongAnswer,
			Message: clip(msg, maxShown),
			Diff:    firstLineDiff(output, answer, c.lineEqual),
		}
	}
}

func tokensEqual(c comparer, output, answer []byte) bool {
	out, ans := tokenScanner{data: output}, tokenScanner{data: answer}
	for {
		got, gotOK := out.next()
		exp, expOK := ans.next()
		if !gotOK || !expOK {
			return gotOK == expOK
		}
		if !c.tokenEqual(got, exp) {
			return false
		}
	}
}

// firstLineDiff pairs the lines of output and answer, trailing blanks trimmed, and
// returns the first pair that same rejects, or nil. A side that has ended reads as empty
// lines, so trailing blank lines never count as a difference.
//
// same must be the kind's own notion of equal, applied to one line: if every line pair
// passes, the whole output passes, so a rejected output always gets a Diff.
func firstLineDiff(output, answer []byte, same func(got, exp []byte) bool) *Diff {
	out, ans := lineScanner{data: output}, lineScanner{data: answer}
	for n := 1; ; n++ {
		got, gotOK := out.next()
		exp, expOK := ans.next()
		if !gotOK && !expOK {
			return nil
		}
		if same(got, exp) {
			continue
		}
		return &Diff{Line: n, Expected: clip(exp, maxShown), Got: clip(got, maxShown), Missing: !gotOK}
	}
}

// lineScanner yields lines split at '\n' with trailing spaces, tabs and '\r' removed, so
// CRLF files and trailing blanks compare equal to clean ones.
type lineScanner struct {
	data []byte
}

func (s *lineScanner) next() (line []byte, ok bool) {
	// A final '\n' ends the last line rather than starting an empty one, so output that
	// stops after "1 2\n" has ended (Diff.Missing) when the answer goes on.
	if len(s.data) == 0 {
		return nil, false
	}
	if i := bytes.IndexByte(s.data, '\n'); i >= 0 {
		line, s.data = s.data[:i], s.data[i+1:]
	} else {
		line, s.data = s.data, nil
	}
	end := len(line)
	for end > 0 && (line[end-1] == ' ' || line[end-1] == '\t' || line[end-1] == '\r') {
		end--
	}
	return line[:end], true
}

// isSpace holds the bytes that separate tokens: C's isspace in the "C" locale, which is
// what scanf-reading checkers and testlib agree on.
var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\v': true, '\f': true, '\r': true}

type tokenScanner struct {
	data []byte
	pos  int
}

func (s *tokenScanner) next() (tok []byte, ok bool) {
	d, i := s.data, s.pos
	for i < len(d) && isSpace[d[i]] {
		i++
	}
	if i == len(d) {
		s.pos = i
		return nil, false
	}
	j := i + 1
	for j < len(d) && !isSpace[d[j]] {
		j++
	}
	s.pos = j
	return d[i:j], true
}

// comparer decides token equality for the token kind (float false) and the float kind.
type comparer struct {
	float    bool
	abs, rel float64
}

func newFloatComparer(opts Options) comparer {
	c := comparer{float: true, abs: opts.FloatAbs, rel: opts.FloatRel}
	if !(c.abs > 0) {
		c.abs = defaultTolerance
	}
	if !(c.rel > 0) {
		c.rel = defaultTolerance
	}
	return c
}

func (c comparer) tokenEqual(got, exp []byte) bool {
	if bytes.Equal(got, exp) {
		return true
	}
	if !c.float {
		return false
	}
	e, ok := parseNumber(exp)
	if !ok {
		return false
	}
	g, ok := parseNumber(got)
	return ok && c.within(g, e)
}

func (c comparer) within(got, exp float64) bool {
	diff := math.Abs(got - exp)
	// An output printed exactly on the tolerance boundary ("1.000001" against "1" with
	// 1e-6) differs by a hair more in binary; a couple of ulps of slack keeps it right.
	slack := 2 * 0x1p-52 * math.Max(math.Abs(got), math.Abs(exp))
	return diff <= c.abs+slack || diff <= c.rel*math.Abs(exp)+slack
}

func (c comparer) lineEqual(got, exp []byte) bool {
	return tokensEqual(c, got, exp)
}

func (c comparer) mismatch(i int, got, exp []byte) []byte {
	msg := fmt.Appendf(nil, "token %d: expected %s, got %s", i, showToken(exp), showToken(got))
	if !c.float {
		return msg
	}
	e, ok := parseNumber(exp)
	if !ok {
		return msg
	}
	g, ok := parseNumber(got)
	if !ok {
		return append(msg, " (not a finite decimal number)"...)
	}
	return fmt.Appendf(msg, " (error %.3g, tolerance %g absolute or %g relative)", math.Abs(g-e), c.abs, c.rel)
}

// parseNumber reads a finite decimal number. ParseFloat alone would also take "nan",
// "inf", hex floats and underscores, none of which a contestant's number should be.
func parseNumber(b []byte) (float64, bool) {
	if !isDecimal(b) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	// Overflow comes back as ±Inf with ErrRange; underflow as a finite tiny number.
	return f, !math.IsInf(f, 0) && !math.IsNaN(f)
}

// isDecimal reports whether b is [+-]digits[.digits][(e|E)[+-]digits], with digits on
// at least one side of the point.
func isDecimal(b []byte) bool {
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	digits := 0
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i, digits = i+1, digits+1
	}
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		exp := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i, exp = i+1, exp+1
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(b)
}

// showToken renders a token for a Message: short, and quoted when it holds characters a
// reader could not see or tell apart.
func showToken(tok []byte) string {
	s := clip(tok, maxTokenShown)
	for _, r := range s {
		if !unicode.IsGraphic(r) || r == utf8.RuneError {
			return strconv.Quote(s)
		}
	}
	return s
}

// clip returns b as valid UTF-8 of at most limit bytes (limit >= len(ellipsis)): each
// invalid byte becomes U+FFFD, and a cut-off tail becomes an ellipsis. It stops reading
// at the limit, so a 64 MiB line costs no more than a short one.
func clip(b []byte, limit int) string {
	out := make([]byte, 0, min(len(b), limit))
	cut := -1 // length of out that still leaves room for the ellipsis
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		w := utf8.RuneLen(r) // 3 for RuneError, which is what AppendRune writes
		if cut < 0 && len(out)+w > limit-len(ellipsis) {
			cut = len(out)
		}
		if len(out)+w > limit {
			return string(append(out[:cut], ellipsis...))
		}
		out = utf8.AppendRune(out, r)
		i += size
	}
	return string(out)
}
