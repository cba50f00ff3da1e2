package check

import (
	"bytes"
	"strconv"

	"github.com/luffy-edu/luffy/judge"
)

// Exit codes of a checker built with testlib.h's default macros. EJUDGE and CONTESTER
// builds renumber them; the judge builds checkers itself, so it never defines those.
const (
	testlibOK            = 0
	testlibWA            = 1
	testlibPE            = 2
	testlibFail          = 3 // the checker found the answer file or itself broken
	testlibDirt          = 4 // extra output after the checker accepted; testlib means PE
	testlibPointsCode    = 7 // quitp: the score is in the message, not the exit code
	testlibUnexpectedEOF = 8 // only with -DENABLE_UNEXPECTED_EOF; testlib means PE
)

// TestlibPCBase is the exit code of quitf(_pc(0), ...) when the checker is compiled with
// -DPC_BASE_EXIT_CODE=50, the value testlib itself uses under TESTSYS; _pc(n) then exits
// with 50+n. testlib's default base is 0, which makes _pc(n) exit with n, indistinguishable
// from _ok, _wa and the rest, so the judge must pass that flag when it builds checkers.
const TestlibPCBase = 50

// testlibPCFull is the _pc score of a fully correct answer: _pc takes 0..200.
const testlibPCFull = 200

// Testlib maps a testlib checker's exit code to a verdict and the fraction of the test's
// score earned. known is false for codes testlib does not produce and for quitp's code 7,
// whose score only TestlibReport can read; the verdict is then InternalError, so a broken
// or unexpected checker never passes a submission.
//
// There is no partially-correct verdict: a partial score below 1 is WrongAnswer with that
// fraction, and a full one is Accepted.
//
// exitCode is the checker's own exit status. A checker killed by a signal must not be
// passed in as a shell's 128+n, which would read as a _pc score.
func Testlib(exitCode int) (v judge.Verdict, fraction float64, known bool) {
	switch exitCode {
	case testlibOK:
		return judge.Accepted, 1, true
	case testlibWA:
		return judge.WrongAnswer, 0, true
	case testlibPE, testlibDirt, testlibUnexpectedEOF:
		return judge.PresentationError, 0, true
	case testlibFail:
		return judge.InternalError, 0, true
	}
	if exitCode >= TestlibPCBase && exitCode <= TestlibPCBase+testlibPCFull {
		return partial(float64(exitCode-TestlibPCBase) / testlibPCFull)
	}
	return judge.InternalError, 0, false
}

// TestlibReport is Testlib, plus the score of a checker that ended with quitp(points, ...),
// read from its stderr ("points 0.5 ..."). points must be a fraction in [0, 1], the
// convention of most judges that read quitp (Luogu, UOJ); anything else is reported as
// InternalError with known false.
func TestlibReport(exitCode int, stderr []byte) (v judge.Verdict, fraction float64, known bool) {
	if exitCode != testlibPointsCode {
		return Testlib(exitCode)
	}
	f, ok := readTestlibPoints(stderr)
	if !ok || !(f >= 0 && f <= 1) {
		return judge.InternalError, 0, false
	}
	return partial(f)
}

func partial(f float64) (judge.Verdict, float64, bool) {
	if f == 1 {
		return judge.Accepted, 1, true
	}
	return judge.WrongAnswer, f, true
}

// readTestlibPoints finds the last line of stderr that starts with "points " and reads the
// number after it. The last one, because testlib writes its verdict when it quits, after
// anything the checker printed itself.
func readTestlibPoints(stderr []byte) (float64, bool) {
	const prefix = "points "
	for len(stderr) > 0 {
		start := bytes.LastIndexByte(stderr, '\n') + 1
		line := stderr[start:]
		if rest, ok := bytes.CutPrefix(line, []byte(prefix)); ok {
			tok, _, _ := bytes.Cut(bytes.TrimLeft(rest, " "), []byte(" "))
			tok = bytes.TrimRight(tok, "\r")
			if !isDecimal(tok) {
				return 0, false
			}
			f, err := strconv.ParseFloat(string(tok), 64)
			return f, err == nil
		}
		if start == 0 {
			break
		}
		stderr = stderr[:start-1]
	}
	return 0, false
}
