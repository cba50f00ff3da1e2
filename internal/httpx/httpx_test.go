package httpx

import "testing"

func TestAcceptsGzip(t *testing.T) {
	for ae, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "br, gzip": true, "gzip;q=0": false, "gzip; q=0.000": false,
		"gzip;q=0.5": true, "gzip; Q=1": true, "*": true, "*;q=0": false, "identity": false, "xgzip": false,
		"gzipx": false, "br;q=1, gzip;q=0, *;q=0.1": false, "deflate, *": true,
	} {
		if got := AcceptsGzip([]byte(ae)); got != want {
			t.Errorf("AcceptsGzip(%q) = %t, want %t", ae, got, want)
		}
	}
}

func TestETagMatches(t *testing.T) {
	id, gz := []byte(`"abc"`), []byte(`"abc-gz"`)
	for inm, want := range map[string]bool{
		`"abc"`: true, `W/"abc"`: true, `"x", "abc-gz"`: true, `*`: true, `"abd"`: false, ``: false,
		`abc`: false, `"abc`: false, ` , "abc"`: true, `"x" "abc"`: true,
	} {
		if got := ETagMatches([]byte(inm), id, gz); got != want {
			t.Errorf("ETagMatches(%q) = %t, want %t", inm, got, want)
		}
	}
	if ETagMatches([]byte(`"abc"`), nil) {
		t.Error("a nil tag matched")
	}
}

func FuzzHeaders(f *testing.F) {
	for _, s := range []string{"gzip;q=0", `W/"a", "b"`, "*", `"unterminated`, "br;q=1, gzip"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		AcceptsGzip(b)
		ETagMatches(b, []byte(`"a"`), nil)
	})
}
