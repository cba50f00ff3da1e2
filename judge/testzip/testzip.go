package testzip

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/luffy-edu/luffy/judge"
)

// Limits bounds what Read accepts. A zero (or negative) field means its default.
type Limits struct {
	MaxZipBytes   int64 // size of the upload as sent, compressed; default 256 MiB
	MaxFileBytes  int64 // one input or answer once decompressed; default 64 MiB
	MaxTotalBytes int64 // all inputs and answers once decompressed; default 512 MiB
	MaxTests      int   // pairs of input and answer; default 1000
}

// Defaults of Limits.
const (
	DefaultMaxZipBytes   = 256 << 20
	DefaultMaxFileBytes  = 64 << 20
	DefaultMaxTotalBytes = 512 << 20
	DefaultMaxTests      = 1000
)

func (l Limits) withDefaults() Limits {
	if l.MaxZipBytes <= 0 {
		l.MaxZipBytes = DefaultMaxZipBytes
	}
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = DefaultMaxTotalBytes
	}
	if l.MaxTests <= 0 {
		l.MaxTests = DefaultMaxTests
	}
	return l
}

// Error says what is wrong with an uploaded zip: the admin's mistake, answered with 400.
type Error struct {
	// File is the entry's path inside the zip as uploaded (before a top-level folder is
	// stripped), so the admin can find it; empty when the error is about the whole zip.
	File   string
	Reason string
}

func (e *Error) Error() string {
	if e.File == "" {
		return "test zip: " + e.Reason
	}
	return fmt.Sprintf("test zip: %q: %s", e.File, e.Reason)
}

// junkNames are files that archivers and editors add next to the tests; they are
// skipped rather than rejected so that zipping a folder in Finder or Explorer just works.
var junkNames = map[string]bool{
	".DS_Store":  true,
	"README":     true,
	"README.md":  true,
	"problem.md": true,
}

// entry is a zip file that will become half of a test.
type entry struct {
	f     *zip.File
	elems []string // path elements, the last one being the file name
}

// pair is a test before its files are read.
type pair struct {
	name        string
	in, ans     *zip.File
	out         *zip.File // the NAME.out synonym, kept apart to reject having both
	firstSeenAs string    // path named when the other half of the pair is missing
}

// Read reads the tests in the zip of the given size, sorted by name in natural order (2
// before 10). r is read sequentially from one goroutine. The error is an *Error when the
// zip is at fault.
func Read(r io.ReaderAt, size int64, lim Limits) ([]judge.TestCase, error) {
	lim = lim.withDefaults()
	if size < 0 {
		return nil, fmt.Errorf("read test zip: negative size %d", size)
	}
	if size > lim.MaxZipBytes {
		return nil, &Error{Reason: fmt.Sprintf("zip is %d bytes, more than the limit of %d", size, lim.MaxZipBytes)}
	}
	src := &source{r: r, size: size}
	zr, err := zip.NewReader(src, size)
	// ErrInsecurePath comes with a usable reader (under GODEBUG=zipinsecurepath=0); the
	// checks below reject such paths with a precise reason anyway.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		if src.err != nil {
			return nil, fmt.Errorf("read test zip: %w", src.err)
		}
		if errors.Is(err, zip.ErrFormat) {
			return nil, &Error{Reason: "not a valid zip file"}
		}
		return nil, &Error{Reason: "not a valid zip file: " + err.Error()}
	}

	entries, err := testEntries(zr.File)
	if err != nil {
		return nil, err
	}
	pairs, err := pairUp(entries)
	if err != nil {
		return nil, err
	}
	if len(pairs) == 0 {
		return nil, &Error{Reason: "no tests: want files NAME.in with NAME.ans (or NAME.out)"}
	}
	if len(pairs) > lim.MaxTests {
		return nil, &Error{Reason: fmt.Sprintf("%d tests, more than the limit of %d", len(pairs), lim.MaxTests)}
	}

	tests := make([]judge.TestCase, 0, len(pairs))
	var total int64
	for _, p := range pairs {
		tc := judge.TestCase{Name: p.name, Sample: isSample(p.name)}
		if tc.Input, err = readFile(src, p.in, &total, lim); err != nil {
			return nil, err
		}
		if tc.Answer, err = readFile(src, p.ans, &total, lim); err != nil {
			return nil, err
		}
		tests = append(tests, tc)
	}
	return tests, nil
}

// testEntries checks every path in the zip, drops the junk, and strips the top-level
// folder if the files sit in one.
func testEntries(files []*zip.File) ([]entry, error) {
	var entries []entry
	for _, f := range files {
		elems, err := splitPath(f.Name)
		if err != nil {
			return nil, err
		}
		if elems[0] == "__MACOSX" || f.Mode().IsDir() || junkNames[elems[len(elems)-1]] {
			continue
		}
		if f.Mode()&fs.ModeSymlink != 0 {
			return nil, &Error{File: f.Name, Reason: "symbolic link; put the file itself in the zip"}
		}
		if !f.Mode().IsRegular() {
			return nil, &Error{File: f.Name, Reason: "not a regular file"}
		}
		if len(elems) > 2 {
			return nil, &Error{File: f.Name, Reason: "nested too deep: put the tests at the root of the zip or in one top-level folder"}
		}
		entries = append(entries, entry{f: f, elems: elems})
	}

	// Decide the layout from the first entry and hold every other one to it, so the
	// error names a file that breaks the rule rather than merely the first file.
	for _, e := range entries[min(1, len(entries)):] {
		first := entries[0]
		switch {
		case len(first.elems) == 1 && len(e.elems) == 2:
			return nil, &Error{File: e.f.Name, Reason: fmt.Sprintf("in a folder while %q is at the root; put all tests at the root or all in one folder", first.f.Name)}
		case len(first.elems) == 2 && len(e.elems) == 1:
			return nil, &Error{File: e.f.Name, Reason: fmt.Sprintf("at the root while %q is in a folder; put all tests at the root or all in one folder", first.f.Name)}
		case len(e.elems) == 2 && e.elems[0] != first.elems[0]:
			return nil, &Error{File: e.f.Name, Reason: fmt.Sprintf("in folder %q while %q is in folder %q; put all tests in one folder", e.elems[0], first.f.Name, first.elems[0])}
		}
	}
	return entries, nil
}

// splitPath returns the elements of a zip path, without the trailing slash of a
// directory. The tests are never extracted to disk, but a path that would escape a
// directory there is a sign of a broken or malicious archive, and is refused.
func splitPath(name string) ([]string, error) {
	switch {
	case name == "":
		return nil, &Error{Reason: "entry with an empty name"}
	case strings.Contains(name, `\`):
		return nil, &Error{File: name, Reason: `backslash in path; paths in a zip use "/"`}
	case path.IsAbs(name) || len(name) >= 2 && name[1] == ':':
		return nil, &Error{File: name, Reason: "absolute path"}
	}
	elems := strings.Split(strings.TrimSuffix(name, "/"), "/")
	for _, el := range elems {
		switch el {
		case "..":
			return nil, &Error{File: name, Reason: `path leaves the zip through ".."`}
		case "", ".":
			return nil, &Error{File: name, Reason: `path has an empty or "." element`}
		}
	}
	return elems, nil
}

// pairUp groups the entries into tests, sorted by name in natural order.
func pairUp(entries []entry) ([]*pair, error) {
	byName := make(map[string]*pair)
	seen := make(map[string]string) // file name after stripping → path as uploaded
	var order []*pair
	for _, e := range entries {
		file := e.elems[len(e.elems)-1]
		if other, dup := seen[file]; dup {
			return nil, &Error{File: e.f.Name, Reason: fmt.Sprintf("duplicate of %q", other)}
		}
		seen[file] = e.f.Name
		name, ext, ok := strings.Cut(file, ".")
		if !ok || (ext != "in" && ext != "ans" && ext != "out") {
			return nil, &Error{File: e.f.Name, Reason: "not a test file: want NAME.in with NAME.ans (or NAME.out)"}
		}
		if !validName(name) {
			return nil, &Error{File: e.f.Name, Reason: "test name must be 1 to 64 letters, digits, '-' or '_', starting with a letter or digit"}
		}
		if e.f.Flags&0x1 != 0 {
			return nil, &Error{File: e.f.Name, Reason: "encrypted; upload a zip without a password"}
		}
		p := byName[name]
		if p == nil {
			p = &pair{name: name, firstSeenAs: e.f.Name}
			byName[name] = p
			order = append(order, p)
		}
		switch ext {
		case "in":
			p.in = e.f
		case "ans":
			p.ans = e.f
		case "out":
			p.out = e.f
		}
	}

	slices.SortFunc(order, func(a, b *pair) int { return compareTests(a.name, b.name) })
	for _, p := range order {
		switch {
		case p.ans != nil && p.out != nil:
			return nil, &Error{File: p.out.Name, Reason: fmt.Sprintf("both %s.ans and %s.out given; keep one answer file", p.name, p.name)}
		case p.ans == nil && p.out == nil:
			return nil, &Error{File: p.firstSeenAs, Reason: fmt.Sprintf("no answer file (%s.ans or %s.out)", p.name, p.name)}
		case p.in == nil:
			return nil, &Error{File: p.firstSeenAs, Reason: fmt.Sprintf("no input file %s.in", p.name)}
		case p.ans == nil:
			p.ans = p.out
		}
	}
	return order, nil
}

// readFile decompresses f, refusing more than the per-file limit and more than what is
// left of the total. It counts the bytes that come out, never the sizes in the headers,
// and reads at most one byte past a limit, so a zip bomb costs what the limit allows.
func readFile(src *source, f *zip.File, total *int64, lim Limits) ([]byte, error) {
	left := lim.MaxTotalBytes - *total
	rc, err := f.Open()
	if err != nil {
		return nil, src.blame(f, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, min(lim.MaxFileBytes, left)+1))
	if err != nil {
		return nil, src.blame(f, err)
	}
	n := int64(len(b))
	switch {
	case n > lim.MaxFileBytes:
		return nil, &Error{File: f.Name, Reason: fmt.Sprintf("more than the limit of %d bytes per file", lim.MaxFileBytes)}
	case n > left:
		return nil, &Error{File: f.Name, Reason: fmt.Sprintf("tests add up to more than the limit of %d bytes", lim.MaxTotalBytes)}
	}
	*total += n
	return b, nil
}

// source is the upload as a blob of exactly size bytes. It tells a broken zip (offsets
// outside the blob, bad data) from storage that cannot be read, which is not the admin's
// fault and must not be answered with 400.
type source struct {
	r    io.ReaderAt
	size int64
	err  error // first error of r itself
}

func (s *source) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= s.size {
		return 0, io.EOF
	}
	short := false
	if int64(len(p)) > s.size-off {
		p, short = p[:s.size-off], true
	}
	n, err := s.r.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		if s.err == nil {
			s.err = err
		}
		return n, err
	}
	if n < len(p) || short {
		return n, io.EOF
	}
	return n, nil
}

// blame turns an error from reading f into an *Error unless the storage failed.
func (s *source) blame(f *zip.File, err error) error {
	if s.err != nil {
		return fmt.Errorf("read %q from test zip: %w", f.Name, s.err)
	}
	switch {
	case errors.Is(err, zip.ErrChecksum):
		return &Error{File: f.Name, Reason: "corrupted: checksum mismatch"}
	case errors.Is(err, zip.ErrAlgorithm):
		return &Error{File: f.Name, Reason: fmt.Sprintf("unsupported compression method %d; use deflate or store", f.Method)}
	case errors.Is(err, zip.ErrFormat):
		return &Error{File: f.Name, Reason: "corrupted: the data does not match its header"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{File: f.Name, Reason: "corrupted: the data ends early"}
	}
	return &Error{File: f.Name, Reason: "corrupted: " + err.Error()}
}
