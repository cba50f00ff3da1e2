package sandbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

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
