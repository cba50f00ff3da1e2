package sandbox

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The Dockerfile for registries installs what the built-in recipe installs.
func TestDockerfileMatchesRecipe(t *testing.T) {
	b, err := os.ReadFile("../../deploy/judge.Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`apt-get install -y --no-install-recommends ([^\\\n]+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no apt-get install line in deploy/judge.Dockerfile")
	}
	got := strings.Fields(string(m[1]))
	want := DefaultRecipe().Packages
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("Dockerfile installs %v, the recipe %v", got, want)
	}
	if !strings.Contains(string(b), "FROM debian:"+DefaultRecipe().Suite) {
		t.Errorf("Dockerfile is not based on Debian %s", DefaultRecipe().Suite)
	}
}

func TestRecipeTagChangesWithTheRecipe(t *testing.T) {
	r := DefaultRecipe()
	if r.Tag() != DefaultRecipe().Tag() || !strings.HasPrefix(r.Tag(), ImageRepository+":") {
		t.Fatalf("tag %q is not stable", r.Tag())
	}
	r2 := r
	r2.Packages = append(slices.Clone(r.Packages), "rustc")
	r3 := r
	r3.Runner = "0"
	if r2.Tag() == r.Tag() || r3.Tag() == r.Tag() {
		t.Error("the tag does not change with the packages or the runner")
	}
}

func TestMirrorFromAptSources(t *testing.T) {
	dir := t.TempDir()
	f := func(name, content, want string) {
		t.Helper()
		p := dir + "/" + name
		os.WriteFile(p, []byte(content), 0o644)
		if got := mirrorIn(p); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	f("a.sources", "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n", "http://mirror.example/debian")
	f("b.sources", "Types: deb\nURIs: http://mirror.example/debian-security\n", "")
	f("c.list", "# comment\ndeb [arch=amd64] http://ftp.example/debian bookworm main\n", "http://ftp.example/debian")
}
