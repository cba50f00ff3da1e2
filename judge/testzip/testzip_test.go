package testzip

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"runtime"
	"strings"
	"testing"

	"github.com/luffy-edu/luffy/judge"
)

// zf is one entry of a zip built by a test.
type zf struct {
	name string
	body string
	mode fs.FileMode // 0 means a regular file
}

// files turns name, body, name, body... into entries.
func files(nameBody ...string) []zf {
	var fs []zf
	for i := 0; i+1 < len(nameBody); i += 2 {
		fs = append(fs, zf{name: nameBody[i], body: nameBody[i+1]})
	}
	return fs
}

func zipOf(t testing.TB, entries ...zf) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		h.SetMode(0o644 | e.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatalf("create %q: %v", e.name, err)
		}
		if _, err := io.WriteString(w, e.body); err != nil && !e.mode.IsDir() {
			t.Fatalf("write %q: %v", e.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawZip is a zip of one raw entry whose header says whatever the test wants, next to a
// good 1.in, to reach the checks behind the path and pairing rules.
func rawZip(t testing.TB, h *zip.FileHeader, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(raw); err != nil {
		t.Fatal(err)
	}
	w, err = zw.Create("1.in")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "1 2\n")
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func deflate(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	fw.Write(data)
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func read(data []byte, lim Limits) ([]judge.TestCase, error) {
	return Read(bytes.NewReader(data), int64(len(data)), lim)
}

// render shows tests compactly: name, a * for samples, input/answer.
func render(tests []judge.TestCase) string {
	var b strings.Builder
	for i, tc := range tests {
		if i > 0 {
			b.WriteString(" ")
		}
		star := ""
		if tc.Sample {
			star = "*"
		}
		fmt.Fprintf(&b, "%s%s=%q/%q", tc.Name, star, tc.Input, tc.Answer)
	}
	return b.String()
}

func TestReadAccepts(t *testing.T) {
	f := func(entries []zf, lim Limits, want string) {
		t.Helper()
		got, err := read(zipOf(t, entries...), lim)
		if err != nil {
			t.Errorf("Read(%v): %v", entries, err)
			return
		}
		if render(got) != want {
			t.Errorf("Read(%v) =\n%s\nwant\n%s", entries, render(got), want)
		}
	}
	// at the root
	f(files("1.in", "1 2\n", "1.ans", "3\n"), Limits{}, `1="1 2\n"/"3\n"`)
	// in one folder, with the junk of zipping it on a Mac and a statement beside it
	f(append([]zf{{name: "tests/", mode: fs.ModeDir}, {name: "__MACOSX/", mode: fs.ModeDir}},
		files("tests/1.in", "a", "tests/1.ans", "b", "__MACOSX/tests/._1.in", "junk",
			"tests/.DS_Store", "junk", ".DS_Store", "junk", "README.md", "# p", "tests/problem.md", "# p", "README", "p")...),
		Limits{}, `1="a"/"b"`)
	// empty directories anywhere are ignored
	f(append(files("1.in", "a", "1.ans", "b"), zf{name: "x/y/z/", mode: fs.ModeDir}), Limits{}, `1="a"/"b"`)
	// .out is the answer too
	f(files("1.in", "a", "1.out", "b", "2.in", "c", "2.ans", "d"), Limits{}, `1="a"/"b" 2="c"/"d"`)
	// samples first, natural order, case-sensitive names
	f(files("10.in", "", "10.ans", "", "2.in", "", "2.ans", "", "1.in", "", "1.out", "",
		"sample10.in", "", "sample10.ans", "", "sample2.in", "", "sample2.ans", "", "sample-1.in", "", "sample-1.ans", "",
		"a.in", "", "a.ans", "", "A.in", "", "A.ans", "", "x_7.in", "", "x_7.ans", "", "x_007b.in", "", "x_007b.ans", ""),
		Limits{}, `sample2*=""/"" sample10*=""/"" sample-1*=""/"" 1=""/"" 2=""/"" 10=""/"" A=""/"" a=""/"" x_7=""/"" x_007b=""/""`)
	// any bytes, a name of 64 characters
	long := strings.Repeat("z", 64)
	f(files(long+".in", "\x00\xff\r\n", long+".ans", "\x00"), Limits{}, long+`="\x00\xff\r\n"/"\x00"`)
	// exactly at the limits
	f(files("1.in", "1234", "1.ans", "12", "2.in", "1234", "2.ans", ""), Limits{MaxFileBytes: 4, MaxTotalBytes: 10, MaxTests: 2},
		`1="1234"/"12" 2="1234"/""`)
}

func TestReadRejects(t *testing.T) {
	f := func(data []byte, lim Limits, wantFile, wantReason string) {
		t.Helper()
		_, err := read(data, lim)
		var ze *Error
		if !errors.As(err, &ze) {
			t.Errorf("Read: error %v, want an *Error about %q: %s", err, wantFile, wantReason)
			return
		}
		if ze.File != wantFile || !strings.Contains(ze.Reason, wantReason) {
			t.Errorf("Read: %v, want an error about %q: %s", err, wantFile, wantReason)
		}
	}
	z := func(nameBody ...string) []byte { return zipOf(t, files(nameBody...)...) }
	pair := []string{"1.in", "a", "1.ans", "b"}
	with := func(nameBody ...string) []byte { return z(append(pair, nameBody...)...) }
	good := z(pair...)

	// not a zip
	f(nil, Limits{}, "", "not a valid zip")
	f([]byte("1.in 1 2\n1.ans 3\n"), Limits{}, "", "not a valid zip")
	f(good[:len(good)-10], Limits{}, "", "not a valid zip")
	f(good, Limits{MaxZipBytes: int64(len(good) - 1)}, "", "more than the limit")

	// no tests
	f(zipOf(t), Limits{}, "", "no tests")
	f(z("README.md", "# A+B"), Limits{}, "", "no tests")

	// pairing
	f(with("3.in", "x"), Limits{}, "3.in", "no answer file (3.ans or 3.out)")
	f(with("3.ans", "x"), Limits{}, "3.ans", "no input file 3.in")
	f(with("3.out", "x"), Limits{}, "3.out", "no input file 3.in")
	f(with("1.out", "x"), Limits{}, "1.out", "both 1.ans and 1.out")
	f(z("tests/1.in", "", "tests/1.ans", "", "tests/2.in", ""), Limits{}, "tests/2.in", "no answer file (2.ans or 2.out)")

	// names
	f(with("-1.in", "", "-1.ans", ""), Limits{}, "-1.in", "test name")
	f(with("_1.in", "", "_1.ans", ""), Limits{}, "_1.in", "test name")
	f(with(strings.Repeat("z", 65)+".in", ""), Limits{}, strings.Repeat("z", 65)+".in", "test name")
	f(with("a b.in", ""), Limits{}, "a b.in", "test name")
	f(with(".in", ""), Limits{}, ".in", "test name")
	f(with("a.b.in", ""), Limits{}, "a.b.in", "not a test file")
	f(with("1.txt", ""), Limits{}, "1.txt", "not a test file")
	f(with("1.IN", ""), Limits{}, "1.IN", "not a test file")
	f(with("checker.cpp", ""), Limits{}, "checker.cpp", "not a test file")
	f(with("readme.md", ""), Limits{}, "readme.md", "not a test file")
	f(with("2", ""), Limits{}, "2", "not a test file")

	// layout
	f(with("a/b/2.in", ""), Limits{}, "a/b/2.in", "nested too deep")
	f(with("t/2.in", "", "t/2.ans", ""), Limits{}, "t/2.in", "in a folder while \"1.in\" is at the root")
	f(z("t/1.in", "", "t/1.ans", "", "2.in", ""), Limits{}, "2.in", "at the root while \"t/1.in\" is in a folder")
	f(z("t/1.in", "", "t/1.ans", "", "u/2.in", ""), Limits{}, "u/2.in", `in folder "u"`)
	f(with("/2.in", ""), Limits{}, "/2.in", "absolute path")
	f(with("C:/2.in", ""), Limits{}, "C:/2.in", "absolute path")
	f(with("../2.in", ""), Limits{}, "../2.in", `".."`)
	f(with("t/../2.in", ""), Limits{}, "t/../2.in", `".."`)
	f(with(`t\2.in`, ""), Limits{}, `t\2.in`, "backslash")
	f(with("./2.in", ""), Limits{}, "./2.in", `"." element`)
	f(with("t//2.in", ""), Limits{}, "t//2.in", "empty")
	f(with("", ""), Limits{}, "", "empty name")
	f(with("1.in", "again"), Limits{}, "1.in", `duplicate of "1.in"`)
	f(z("t/1.in", "", "t/1.ans", "", "t/1.in", ""), Limits{}, "t/1.in", `duplicate of "t/1.in"`)

	// file types
	f(zipOf(t, append(files(pair...), zf{name: "2.in", body: "/etc/passwd", mode: fs.ModeSymlink})...), Limits{}, "2.in", "symbolic link")
	f(zipOf(t, append(files(pair...), zf{name: "2.in", mode: fs.ModeNamedPipe})...), Limits{}, "2.in", "not a regular file")
	f(zipOf(t, append(files(pair...), zf{name: "2.in", mode: fs.ModeDevice})...), Limits{}, "2.in", "not a regular file")

	// limits
	f(with("2.in", "", "2.ans", "", "3.in", "", "3.ans", ""), Limits{MaxTests: 2}, "", "3 tests, more than the limit of 2")
	f(with("2.in", "12345", "2.ans", ""), Limits{MaxFileBytes: 4}, "2.in", "more than the limit of 4 bytes per file")
	f(with("2.in", "1234", "2.ans", "1"), Limits{MaxFileBytes: 4, MaxTotalBytes: 6}, "2.ans", "add up to more than the limit of 6 bytes")

	// corruption: a stored body with one byte changed, a deflate stream that is not one
	h := &zip.FileHeader{Name: "1.ans", Method: zip.Store, CRC32: crc32.ChecksumIEEE([]byte("42\n")), CompressedSize64: 3, UncompressedSize64: 3}
	f(rawZip(t, h, []byte("43\n")), Limits{}, "1.ans", "checksum mismatch")
	h = &zip.FileHeader{Name: "1.ans", Method: zip.Deflate, CompressedSize64: 5, UncompressedSize64: 3}
	f(rawZip(t, h, []byte{0xff, 0xff, 0xff, 0xff, 0xff}), Limits{}, "1.ans", "corrupted")
	h = &zip.FileHeader{Name: "1.ans", Method: 12, CompressedSize64: 3, UncompressedSize64: 3}
	f(rawZip(t, h, []byte("42\n")), Limits{}, "1.ans", "unsupported compression method 12")
	h = &zip.FileHeader{Name: "1.ans", Method: zip.Store, Flags: 0x1, CompressedSize64: 3, UncompressedSize64: 3}
	f(rawZip(t, h, []byte("42\n")), Limits{}, "1.ans", "encrypted")

	// headers that lie about the size are caught by the bytes that come out
	zeros := make([]byte, 64<<10)
	d := deflate(t, zeros)
	h = &zip.FileHeader{Name: "1.ans", Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(zeros), CompressedSize64: uint64(len(d)), UncompressedSize64: 10}
	f(rawZip(t, h, d), Limits{}, "1.ans", "corrupted")
	h.UncompressedSize64 = 1 << 40
	f(rawZip(t, h, d), Limits{MaxFileBytes: 1 << 20}, "1.ans", "corrupted")
	h.UncompressedSize64 = 1
	f(rawZip(t, h, d), Limits{MaxFileBytes: 1000}, "1.ans", "corrupted")
	h.UncompressedSize64 = uint64(len(zeros))
	f(rawZip(t, h, d), Limits{MaxFileBytes: 1000}, "1.ans", "more than the limit of 1000 bytes per file")
}

func TestErrorMessage(t *testing.T) {
	f := func(e *Error, want string) {
		t.Helper()
		if got := e.Error(); got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
	}
	f(&Error{File: "3.in", Reason: "no answer file (3.ans or 3.out)"}, `test zip: "3.in": no answer file (3.ans or 3.out)`)
	f(&Error{Reason: "no tests"}, "test zip: no tests")
}

// TestReadZipBomb reads a zip whose 1 MiB hides a 1 GiB file of zeros: Read must stop just
// past the file limit instead of inflating (or allocating) the whole gigabyte.
func TestReadZipBomb(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed) // 4x faster than the default on zeros
	})
	w, err := zw.Create("1.in")
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for range 1024 {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	w, _ = zw.Create("1.ans")
	io.WriteString(w, "0\n")
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 4<<20 {
		t.Fatalf("the bomb is %d bytes compressed; the test expects a small zip", buf.Len())
	}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = read(buf.Bytes(), Limits{MaxFileBytes: 1 << 20})
	runtime.ReadMemStats(&after)

	var ze *Error
	if !errors.As(err, &ze) || ze.File != "1.in" || !strings.Contains(ze.Reason, "limit of 1048576 bytes per file") {
		t.Fatalf("Read(bomb) error %v, want 1.in over the file limit", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("Read(bomb) allocated %d bytes, want a small multiple of the 1 MiB limit", alloc)
	}
}

// brokenDisk fails every read at or past failFrom, as a storage error would.
type brokenDisk struct {
	r        *bytes.Reader
	failFrom int64
}

var errDisk = errors.New("input/output error")

func (d brokenDisk) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > d.failFrom {
		return 0, errDisk
	}
	return d.r.ReadAt(p, off)
}

// TestReadStorageError checks that a failing disk is not blamed on the admin.
func TestReadStorageError(t *testing.T) {
	data := zipOf(t, files("1.in", "a", "1.ans", "b")...)
	f := func(failFrom int64) {
		t.Helper()
		_, err := Read(brokenDisk{bytes.NewReader(data), failFrom}, int64(len(data)), Limits{})
		var ze *Error
		if !errors.Is(err, errDisk) || errors.As(err, &ze) {
			t.Errorf("Read with reads failing from %d: error %v, want the disk error, not an *Error", failFrom, err)
		}
	}
	f(0)                    // the central directory
	f(int64(len(data) / 3)) // the files' data
}

func TestWriteReadRoundTrip(t *testing.T) {
	tests := []judge.TestCase{
		{Name: "sample1", Input: []byte("1 2\n"), Answer: []byte("3\n"), Sample: true},
		{Name: "sample-2", Input: []byte("2 2\n"), Answer: []byte("4\n"), Sample: true},
		{Name: "1", Input: []byte{}, Answer: []byte{}},
		{Name: "2", Input: bytes.Repeat([]byte("9 "), 100000), Answer: []byte("\x00\xff")},
		{Name: "10", Input: []byte("x"), Answer: []byte("y")},
	}
	var buf bytes.Buffer
	if err := Write(&buf, tests); err != nil {
		t.Fatal(err)
	}
	got, err := read(buf.Bytes(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := tests // samples first, then natural order: as written
	if render(got) != render(want) {
		t.Errorf("round trip =\n%s\nwant\n%s", render(got), render(want))
	}

	// the same tests give the same bytes
	var again bytes.Buffer
	if err := Write(&again, tests); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Errorf("second Write differs from the first (err %v)", err)
	}
}

func TestWriteRejects(t *testing.T) {
	f := func(tests []judge.TestCase, want string) {
		t.Helper()
		err := Write(io.Discard, tests)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Write(%v) error %v, want one containing %q", tests, err, want)
		}
	}
	f(nil, "no tests")
	f([]judge.TestCase{{Name: "a/b"}}, "does not match")
	f([]judge.TestCase{{Name: ""}}, "does not match")
	f([]judge.TestCase{{Name: "1"}, {Name: "1"}}, "duplicate")
	f([]judge.TestCase{{Name: "1", Sample: true}}, "Sample is true")
	f([]judge.TestCase{{Name: "sample1"}}, "Sample is false")
}

func TestCompareNatural(t *testing.T) {
	f := func(a, b string, want int) {
		t.Helper()
		got := compareNatural(a, b)
		if sign(got) != want || sign(compareNatural(b, a)) != -want {
			t.Errorf("compareNatural(%q, %q) = %d, want sign %d (and the reverse)", a, b, got, want)
		}
	}
	f("2", "10", -1)
	f("sample2", "sample10", -1)
	f("a2b", "a10a", -1)
	f("a10a", "a10b", -1)
	f("1", "01", 1) // equal as numbers: plain order breaks the tie
	f("1", "1", 0)
	f("1", "1a", -1)
	f("9", "a", -1)
	f("99999999999999999999999", "100000000000000000000000", -1) // longer than an int64
	f("x007", "x7", -1)
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func TestValidName(t *testing.T) {
	f := func(name string, want bool) {
		t.Helper()
		if got := validName(name); got != want {
			t.Errorf("validName(%q) = %t, want %t", name, got, want)
		}
	}
	f("1", true)
	f("Sample_1-a", true)
	f(strings.Repeat("a", 64), true)
	f(strings.Repeat("a", 65), false)
	f("", false)
	f("-a", false)
	f("_a", false)
	f("a.b", false)
	f("a b", false)
	f("é", false)
}
