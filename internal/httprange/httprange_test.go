package httprange

import "testing"

func TestParse(t *testing.T) {
	f := func(h string, size, start, end int64, ranged, ok bool) {
		t.Helper()
		s, e, r, o := Parse(h, size)
		if s != start || e != end || r != ranged || o != ok {
			t.Errorf("Parse(%q, %d) = %d, %d, %v, %v; want %d, %d, %v, %v", h, size, s, e, r, o, start, end, ranged, ok)
		}
	}
	f("", 100, 0, 0, false, true)
	f("bytes=0-9", 100, 0, 9, true, true)
	f("bytes=90-", 100, 90, 99, true, true)
	f("bytes=90-500", 100, 90, 99, true, true)
	f("bytes=-10", 100, 90, 99, true, true)
	f("bytes=-500", 100, 0, 99, true, true)
	f("bytes=100-", 100, 0, 0, false, false)
	f("Bytes = 0-9", 100, 0, 9, true, true)
	f("bytes=-0", 100, 0, 0, false, false)
	f("bytes=-5", 0, 0, 0, false, false)
	// not acted on, so ignored: the whole file
	f("bytes=5-2", 100, 0, 0, false, true)
	f("bytes=0-1,5-6", 100, 0, 0, false, true)
	f("items=0-1", 100, 0, 0, false, true)
	f("bytes=x-1", 100, 0, 0, false, true)
	f("bytes=+1-2", 100, 0, 0, false, true)
}

func FuzzParse(f *testing.F) {
	f.Add("bytes=0-9", int64(100))
	f.Add("bytes=-1", int64(1))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		s, e, ranged, ok := Parse(h, size)
		if ok && ranged && (s < 0 || e < s || e >= size) {
			t.Fatalf("Parse(%q, %d) = %d-%d outside the file", h, size, s, e)
		}
	})
}
