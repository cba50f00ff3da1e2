package testzip

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/luffy-edu/luffy/judge"
)

// Write writes tests as a zip that Read accepts: NAME.in and NAME.ans at the root, in the
// order given. The output depends only on tests (no timestamps), so seeding the same
// tests twice gives the same bytes. Since Read takes Sample from the name, a test whose
// Sample does not match its name ("sample" prefix) is refused rather than silently
// changed by the round trip.
func Write(w io.Writer, tests []judge.TestCase) error {
	if len(tests) == 0 {
		return errors.New("write test zip: no tests")
	}
	seen := make(map[string]bool, len(tests))
	for _, tc := range tests {
		switch {
		case !validName(tc.Name):
			return fmt.Errorf("write test zip: test name %q does not match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", tc.Name)
		case seen[tc.Name]:
			return fmt.Errorf("write test zip: duplicate test %q", tc.Name)
		case tc.Sample != strings.HasPrefix(tc.Name, "sample"):
			return fmt.Errorf("write test zip: test %q: Sample is %t but samples are the tests named sample*", tc.Name, tc.Sample)
		}
		seen[tc.Name] = true
	}

	zw := zip.NewWriter(w)
	for _, tc := range tests {
		if err := writeFile(zw, tc.Name+".in", tc.Input); err != nil {
			return err
		}
		if err := writeFile(zw, tc.Name+".ans", tc.Answer); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write test zip: %w", err)
	}
	return nil
}

func writeFile(zw *zip.Writer, name string, data []byte) error {
	h := &zip.FileHeader{Name: name, Method: zip.Deflate}
	h.SetMode(0o644)
	fw, err := zw.CreateHeader(h)
	if err != nil {
		return fmt.Errorf("write test zip: create %q: %w", name, err)
	}
	if _, err := fw.Write(data); err != nil {
		return fmt.Errorf("write test zip: write %q: %w", name, err)
	}
	return nil
}
