package check

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// numbers returns about size bytes of answer: lines of ten integers and one real. The
// output has the same values laid out with CRLF and double spaces, so neither the
// byte-equality fast path nor the exact checker's line match hides the scanning cost.
func numbers(size int) (output, answer []byte) {
	r := rand.New(rand.NewPCG(1, 2))
	for len(answer) < size {
		for i := range 10 {
			n := strconv.AppendInt(nil, r.Int64N(2_000_000_001)-1_000_000_000, 10)
			if i > 0 {
				answer = append(answer, ' ')
				output = append(output, ' ', ' ')
			}
			answer = append(answer, n...)
			output = append(output, n...)
		}
		x := r.Float64() * 1e6
		answer = append(answer, ' ')
		answer = strconv.AppendFloat(answer, x, 'f', 9, 64)
		output = append(output, ' ')
		output = strconv.AppendFloat(output, x, 'f', 6, 64)
		answer = append(answer, '\n')
		output = append(output, '\r', '\n')
	}
	return output, answer
}

func BenchmarkCompareToken(b *testing.B) {
	_, answer := numbers(10 << 20)
	// Token compares text, so give it the answer's spelling of every number.
	output := append([]byte(nil), answer...)
	for i := range output {
		if output[i] == '\n' {
			output[i] = ' ' // one long line: not byte-equal, same tokens
		}
	}
	benchmarkCompare(b, token, output, answer)
}

func BenchmarkCompareFloat(b *testing.B) {
	output, answer := numbers(10 << 20)
	benchmarkCompare(b, float, output, answer)
}

func BenchmarkCompareExact(b *testing.B) {
	_, answer := numbers(10 << 20)
	output := make([]byte, 0, len(answer)+len(answer)/50)
	for _, c := range answer {
		if c == '\n' {
			output = append(output, ' ', '\r') // trailing blank and CRLF: still accepted
		}
		output = append(output, c)
	}
	benchmarkCompare(b, exact, output, answer)
}

func BenchmarkCompareExactPresentationError(b *testing.B) {
	_, answer := numbers(10 << 20)
	output := append([]byte(nil), answer...)
	i := len(output) / 2
	for output[i] != ' ' {
		i++
	}
	output[i] = '\n' // halfway: a full line pass, then a token pass to tell PE from WA
	benchmarkCompare(b, exact, output, answer)
}

func benchmarkCompare(b *testing.B, opts Options, output, answer []byte) {
	b.Helper()
	b.SetBytes(int64(len(output)))
	b.ReportAllocs()
	for b.Loop() {
		Compare(opts, output, answer)
	}
}
