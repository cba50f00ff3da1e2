package sandbox

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Recipe is everything the sandbox image is made from. Its hash is the image's tag, so an
// image is rebuilt exactly when the recipe (or the runner's source) changes.
type Recipe struct {
	Suite    string   `json:"suite"`
	Packages []string `json:"packages"`
	Runner   string   `json:"runner_sha256"`
	// Revision is bumped when the build steps below change in a way the other fields
	// do not show.
	Revision int `json:"revision"`
}

// DefaultRecipe is a minimal Debian bookworm with the judge's toolchains: gcc and g++ 12,
// Python 3.11, OpenJDK 17, Go 1.19 and Node.js 18.
func DefaultRecipe() Recipe {
	sum := sha256.Sum256(RunnerSource)
	return Recipe{
		Suite:    "bookworm",
		Packages: []string{"gcc", "g++", "libc6-dev", "python3", "openjdk-17-jdk-headless", "golang-go", "nodejs"},
		Runner:   hex.EncodeToString(sum[:]),
		Revision: 1,
	}
}

// ImageRepository is the local name sandbox images are tagged under.
const ImageRepository = "luffy-judge"

// Tag is the image reference for this recipe.
func (r Recipe) Tag() string {
	b, _ := json.Marshal(r)
	sum := sha256.Sum256(b)
	return ImageRepository + ":" + hex.EncodeToString(sum[:])[:16]
}

// ImageExists says whether the engine holds the image.
func ImageExists(ctx context.Context, cli *client.Client, ref string) (bool, error) {
	_, err := cli.ImageInspect(ctx, ref)
	if err == nil {
		return true, nil
	}
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("inspect image %s: %w", ref, err)
}

// BuildOptions configure BuildImage.
type BuildOptions struct {
	// WorkDir holds the root filesystem while it is built; it needs about 2 GB.
	WorkDir string
	// Mirror is the Debian mirror; empty means the first one the machine's apt sources name.
	Mirror string
	// Force rebuilds even when the tag exists.
	Force bool
	Log   *slog.Logger
}

// BuildImage makes the sandbox image without a registry: debootstrap builds a minimal
// Debian root filesystem from the machine's apt mirror, the runner is compiled statically
// inside it, and the tree is imported through the Docker API. It needs root (debootstrap
// and chroot do). It returns the tag, and does nothing when that tag already exists.
func BuildImage(ctx context.Context, cli *client.Client, r Recipe, opt BuildOptions) (string, error) {
	log := opt.Log
	if log == nil {
		log = slog.Default()
	}
	tag := r.Tag()
	if !opt.Force {
		ok, err := ImageExists(ctx, cli, tag)
		if err != nil {
			return "", err
		}
		if ok {
			log.Info("sandbox image is up to date", "image", tag)
			return tag, nil
		}
	}
	if os.Geteuid() != 0 {
		return "", errors.New("building the sandbox image needs root (debootstrap and chroot); or build deploy/judge.Dockerfile where a registry is available")
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return "", errors.New("debootstrap is not installed (`make stack` installs it)")
	}
	mirror := opt.Mirror
	if mirror == "" {
		m, err := AptMirror()
		if err != nil {
			return "", err
		}
		mirror = m
	}
	if opt.WorkDir == "" {
		opt.WorkDir = os.TempDir()
	}
	if err := os.MkdirAll(opt.WorkDir, 0o755); err != nil {
		return "", err
	}
	root, err := os.MkdirTemp(opt.WorkDir, "judge-rootfs-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(root)

	log.Info("building sandbox image: debootstrap", "suite", r.Suite, "mirror", mirror, "dir", root)
	args := []string{"--variant=minbase", "--include=" + strings.Join(r.Packages, ","), r.Suite, root, mirror}
	if err := runLogged(ctx, log, "debootstrap", args...); err != nil {
		return "", fmt.Errorf("debootstrap: %w", err)
	}
	if err := os.WriteFile(filepath.Join(root, "tmp/runner.c"), RunnerSource, 0o644); err != nil {
		return "", err
	}
	if err := runLogged(ctx, log, "chroot", root, "gcc", "-static", "-O2", "-o", "/usr/local/bin/luffy-runner", "/tmp/runner.c"); err != nil {
		return "", fmt.Errorf("compile runner: %w", err)
	}
	// The sandbox user exists so tools that look their user up (Java, Python's
	// getpass) find a name; it owns nothing in the image.
	for file, line := range map[string]string{
		"etc/passwd": fmt.Sprintf("judge:x:%d:%d:judge:/work:/usr/sbin/nologin\n", SandboxUID, SandboxUID),
		"etc/group":  fmt.Sprintf("judge:x:%d:\n", SandboxUID),
	} {
		f, err := os.OpenFile(filepath.Join(root, file), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return "", err
		}
		_, err = f.WriteString(line)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	// What the sandbox never needs: package caches, docs, manuals, locales.
	for _, dir := range []string{"var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "tmp"} {
		p := filepath.Join(root, dir)
		os.RemoveAll(p)
		os.MkdirAll(p, 0o755)
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)

	log.Info("building sandbox image: importing", "image", tag)
	tarCmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "-C", root, "-cf", "-", ".")
	tarOut, err := tarCmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	tarCmd.Stderr = os.Stderr
	if err := tarCmd.Start(); err != nil {
		return "", fmt.Errorf("tar root filesystem: %w", err)
	}
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: tarOut, SourceName: "-"}, tag, image.ImportOptions{
		Message: "luffy judge sandbox",
		Changes: []string{
			fmt.Sprintf("USER %d:%d", SandboxUID, SandboxUID),
			"WORKDIR /work",
			"ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8",
			`CMD ["/usr/local/bin/luffy-runner"]`,
			"LABEL luffy.judge.recipe=" + tag,
		},
	})
	if err != nil {
		tarCmd.Process.Kill()
		tarCmd.Wait()
		return "", fmt.Errorf("import image: %w", err)
	}
	// The engine streams JSON progress; an error may arrive inside it.
	dec := json.NewDecoder(rc)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			rc.Close()
			return "", fmt.Errorf("import image: %w", err)
		}
		if msg.Error != "" {
			rc.Close()
			return "", fmt.Errorf("import image: %s", msg.Error)
		}
	}
	rc.Close()
	if err := tarCmd.Wait(); err != nil {
		return "", fmt.Errorf("tar root filesystem: %w", err)
	}
	log.Info("sandbox image built", "image", tag)
	pruneOld(ctx, cli, tag, log)
	return tag, nil
}

// pruneOld removes sandbox images of earlier recipes (about 1.5 GB each); one a running
// worker still uses stays, as the engine refuses to remove it.
func pruneOld(ctx context.Context, cli *client.Client, keep string, log *slog.Logger) {
	list, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", ImageRepository))})
	if err != nil {
		return
	}
	for _, img := range list {
		for _, ref := range img.RepoTags {
			if ref == keep {
				continue
			}
			if _, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true}); err == nil {
				log.Info("removed the sandbox image of an earlier recipe", "image", ref)
			}
		}
	}
}

func runLogged(ctx context.Context, log *slog.Logger, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		tail := string(out)
		if len(tail) > 4000 {
			tail = tail[len(tail)-4000:]
		}
		return fmt.Errorf("%s: %w\n%s", name, err, tail)
	}
	log.Debug("ran", "cmd", name, "output_bytes", len(out))
	return nil
}

// AptMirror reads the Debian mirror from the machine's apt sources (deb822 .sources files
// or the one-line format), skipping security and third-party repositories.
func AptMirror() (string, error) {
	var files []string
	if m, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources"); m != nil {
		files = append(files, m...)
	}
	files = append(files, "/etc/apt/sources.list")
	if m, _ := filepath.Glob("/etc/apt/sources.list.d/*.list"); m != nil {
		files = append(files, m...)
	}
	fallback := ""
	for _, f := range files {
		u, any := mirrorsIn(f)
		if u != "" {
			return u, nil
		}
		if fallback == "" {
			fallback = any
		}
	}
	if fallback != "" {
		return fallback, nil
	}
	return "", errors.New("no Debian mirror found in /etc/apt/sources.list{,.d}; pass --mirror")
}

// mirrorIn returns the first Debian (not security) mirror a sources file names.
func mirrorIn(path string) string {
	u, _ := mirrorsIn(path)
	return u
}

// mirrorsIn returns the first URI with "debian" in it that is not a security archive,
// and the first non-security URI of any name (a local mirror may not say debian).
func mirrorsIn(path string) (debian, other string) {
	f, err := os.Open(path)
	if err != nil {
		return "", ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		var u string
		switch {
		case strings.HasPrefix(line, "URIs:"):
			u = strings.Fields(strings.TrimPrefix(line, "URIs:") + " ")[0]
		case strings.HasPrefix(line, "deb "):
			for _, f := range strings.Fields(line)[1:] {
				if !strings.HasPrefix(f, "[") && !strings.HasSuffix(f, "]") {
					u = f
					break
				}
			}
		}
		if u == "" || strings.Contains(u, "security") {
			continue
		}
		if strings.Contains(u, "debian") {
			return u, other
		}
		if other == "" && (strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) {
			other = u
		}
	}
	return "", other
}
