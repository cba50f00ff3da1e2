package sandbox_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/luffy-edu/luffy/judge/sandbox"
	"github.com/luffy-edu/luffy/judge/sandbox/sandboxtest"
)

func TestBoxRunsPrograms(t *testing.T) {
	eng := sandboxtest.Engine(t)
	ctx := context.Background()
	t0 := time.Now()
	b, err := eng.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	t.Logf("start %v", time.Since(t0))
	if err := b.Put(ctx, "main.c", []byte("#include <stdio.h>\nint main(){long a,b;scanf(\"%ld %ld\",&a,&b);printf(\"%ld\\n\",a+b);return 0;}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lim := sandbox.Limits{WallMS: 10000, CPUMS: 10000, OutputBytes: 1 << 20}
	res, err := b.Run(ctx, sandbox.RunSpec{Args: []string{"/usr/bin/gcc", "-O2", "-o", "main", "main.c"}, Env: []string{"PATH=/usr/bin:/bin", "TMPDIR=/tmp"}, Limits: lim})
	if err != nil || !res.Exited || res.ExitCode != 0 {
		t.Fatalf("compile: %+v %v %s", res, err, res.Stderr)
	}
	t.Logf("compile cpu %d ms wall %d ms", res.CPUMS, res.WallMS)
	for i := 0; i < 5; i++ {
		t1 := time.Now()
		res, err = b.Run(ctx, sandbox.RunSpec{Args: []string{"/work/main"}, Stdin: []byte("2 3\n"), Limits: lim})
		if err != nil || string(res.Stdout) != "5\n" {
			t.Fatalf("run: %+v %v", res, err)
		}
		t.Logf("run %v (wall in box %d ms, rss %d kB)", time.Since(t1), res.WallMS, res.MaxRSSKB)
	}
	for _, tc := range []struct{ cmd, want string }{
		{"id -u", "10000\n"},
		{"cat /proc/self/status | grep CapEff", "CapEff:\t0000000000000000\n"},
		{"touch /etc/x 2>&1 | grep -c Read-only", "1\n"},
	} {
		res, err = b.Run(ctx, sandbox.RunSpec{Args: []string{"/bin/sh", "-c", tc.cmd}, Env: []string{"PATH=/usr/bin:/bin"}, Limits: lim})
		if err != nil || string(res.Stdout) != tc.want {
			t.Errorf("%s: got %q (%s) %v", tc.cmd, res.Stdout, strings.TrimSpace(string(res.Stderr)), err)
		}
	}
}

// TestSandboxEndsWithItsAttachStream: a worker that dies (here: its connection to the
// engine closes without a word) leaves no sandbox behind; the engine ends and removes it.
func TestSandboxEndsWithItsAttachStream(t *testing.T) {
	eng := sandboxtest.Engine(t)
	ctx := context.Background()
	b, err := eng.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sandbox.DropConn(b)
	deadline := time.Now().Add(10 * time.Second)
	_, err = eng.Client().ContainerInspect(ctx, b.ID())
	for err == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		_, err = eng.Client().ContainerInspect(ctx, b.ID())
	}
	if !cerrdefs.IsNotFound(err) {
		t.Fatalf("sandbox %s still there 10 s after its attach stream closed (%v)", b.ID()[:12], err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("close after the engine removed the sandbox: %v", err)
	}
}

// TestSweepAbandonedRemovesNeverStartedSandboxes: a sandbox whose worker died between
// creating and starting it has no stream to end it; an old one is swept, a started one
// is not.
func TestSweepAbandonedRemovesNeverStartedSandboxes(t *testing.T) {
	eng := sandboxtest.Engine(t)
	ctx := context.Background()
	started, err := eng.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer started.Close()
	created, err := eng.Client().ContainerCreate(ctx, &container.Config{
		Image:  eng.Config().Image,
		Labels: map[string]string{sandbox.LabelSandbox: "1", sandbox.LabelOwner: eng.Config().Owner},
	}, &container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := eng.SweepOwnAbandoned(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("swept %d sandboxes younger than the age (%v), want 0", n, err)
	}
	if n, err := eng.SweepOwnAbandoned(ctx, 0); err != nil || n != 1 {
		t.Fatalf("swept %d sandboxes (%v), want the never-started one", n, err)
	}
	if _, err := eng.Client().ContainerInspect(ctx, created.ID); !cerrdefs.IsNotFound(err) {
		t.Errorf("the never-started sandbox is still there (%v)", err)
	}
	if _, err := eng.Client().ContainerInspect(ctx, started.ID()); err != nil {
		t.Errorf("the started sandbox was swept: %v", err)
	}
}

// TestRunnerKilledByTheHostReadsAsOOM: the OOM killer ending the runner (simulated: only
// the host can SIGKILL a container's PID 1) is still recognized after the engine has
// removed the ended container.
func TestRunnerKilledByTheHostReadsAsOOM(t *testing.T) {
	eng := sandboxtest.Engine(t)
	ctx := context.Background()
	b, err := eng.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := eng.Client().ContainerKill(ctx, b.ID(), "KILL"); err != nil {
		t.Fatal(err)
	}
	_, err = b.Run(ctx, sandbox.RunSpec{Args: []string{"/bin/true"}, Limits: sandbox.Limits{WallMS: 1000, CPUMS: 1000, OutputBytes: 1 << 10}})
	if !errors.Is(err, sandbox.ErrBroken) {
		t.Fatalf("run in a killed sandbox: %v, want ErrBroken", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, err := eng.Client().ContainerInspect(ctx, b.ID()); !cerrdefs.IsNotFound(err); _, err = eng.Client().ContainerInspect(ctx, b.ID()) {
		if time.Now().After(deadline) {
			t.Fatalf("the engine has not removed the ended sandbox in 5 s (%v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Asked again, as for every later test of the submission, it says the same.
	for range 2 {
		if !b.OOMKilled(ctx) {
			t.Fatal("a runner SIGKILLed from outside does not read as the OOM killer's work")
		}
	}
}
