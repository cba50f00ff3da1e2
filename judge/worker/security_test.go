package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/judge"
	"github.com/luffy-edu/luffy/judge/demo"
	"github.com/luffy-edu/luffy/judge/sandbox"
)

// The security suite: hostile programs, each judged for real, each followed by a check
// that the host is as it was: no process of the sandbox user alive, no sandbox container
// left, host files unread and unchanged.

type hostState struct {
	passwd [32]byte
	marker string
}

func snapshotHost(t *testing.T) hostState {
	t.Helper()
	marker := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(marker, []byte("host secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	return hostState{passwd: sha256.Sum256(b), marker: marker}
}

// sandboxProcesses lists host processes still inside a container this engine started
// (other packages' tests may be judging at the same time, as the same user).
func sandboxProcesses(t *testing.T, eng *sandbox.Engine) []string {
	t.Helper()
	ids := eng.Started()
	dirs, _ := os.ReadDir("/proc")
	var out []string
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cgroup"))
		if err != nil {
			continue
		}
		for _, id := range ids {
			if bytes.Contains(b, []byte(id)) {
				out = append(out, d.Name())
				break
			}
		}
	}
	return out
}

func (h hostState) check(t *testing.T, j *Judger) {
	t.Helper()
	eng := j.Engine
	j.closing.Wait() // sandboxes are removed in the background
	// A killed container's processes take a moment to be reaped by the kernel.
	deadline := time.Now().Add(5 * time.Second)
	for len(sandboxProcesses(t, eng)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if p := sandboxProcesses(t, eng); len(p) > 0 {
		t.Errorf("sandbox processes alive on the host after judging: %v", p)
	}
	if n, err := eng.Count(context.Background()); err != nil || n > 0 {
		// Other packages' tests may run sandboxes at the same time; only ours matter.
		if m, _ := eng.Sweep(context.Background()); m > 0 {
			t.Errorf("%d sandbox containers of this test left behind", m)
		}
	}
	b, _ := os.ReadFile("/etc/passwd")
	if sha256.Sum256(b) != h.passwd {
		t.Error("/etc/passwd changed")
	}
	if b, err := os.ReadFile(h.marker); err != nil || string(b) != "host secret\n" {
		t.Errorf("host marker changed: %q %v", b, err)
	}
}

func TestSecurity(t *testing.T) {
	j := newJudger(t)
	eng := j.Engine
	host := snapshotHost(t)
	// The leftover check must see a live sandbox's processes, or it proves nothing.
	box, err := eng.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p := sandboxProcesses(t, eng); len(p) == 0 {
		t.Fatal("the host check does not see a running sandbox's runner")
	}
	box.Close()
	apb := demoProblem(t, "a-plus-b")
	apb.MemoryLimitMB = 128
	os.Setenv("LUFFY_SECRET_FOR_TEST", "do-not-leak") // the judge's own environment
	defer os.Unsetenv("LUFFY_SECRET_FOR_TEST")

	f := func(name string, p demo.Problem, lang, src string, want ...judge.Verdict) {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			res, err := j.Judge(context.Background(), p.Problem, p.Tests, Submission{Language: lang, Source: src}, nil)
			if err != nil {
				t.Fatalf("judge: %v", err)
			}
			ok := false
			for _, v := range want {
				ok = ok || res.Verdict == v
			}
			if !ok {
				var msgs []string
				for _, tr := range res.Tests {
					msgs = append(msgs, string(tr.Verdict)+" "+tr.Message)
				}
				t.Errorf("verdict %s, want %v (%s) %s", res.Verdict, want, res.CompileOutput, strings.Join(msgs, "; "))
			}
			t.Logf("%s in %v %s", res.Verdict, time.Since(start).Round(time.Millisecond), firstLine(res.CompileOutput))
			host.check(t, j)
		})
	}
	// The answer printed only when an attack failed: AC means contained.
	const answer = "a, b = map(int, open(0).read().split())\nprint(a + b)\n"

	f("fork bomb", apb, "c", `#include <unistd.h>
int main(void) { for (;;) fork(); }`, judge.TimeLimitExceeded, judge.RuntimeError)

	f("memory bomb", apb, "cpp17", `#include <cstdlib>
#include <cstring>
int main() { for (;;) { char *p = (char *)malloc(1 << 20); if (p) memset(p, 1, 1 << 20); } }`, judge.MemoryLimitExceeded)

	f("infinite loop", apb, "c", `int main(void) { volatile unsigned long x = 0; for (;;) x++; }`, judge.TimeLimitExceeded)

	f("sleep forever", apb, "python3", "import time\nwhile True: time.sleep(3600)\n", judge.TimeLimitExceeded)

	f("1 GB output flood", apb, "c", `#include <stdio.h>
#include <string.h>
int main(void) { static char buf[1 << 20]; memset(buf, 'x', sizeof buf);
	for (int i = 0; i < 1024; i++) fwrite(buf, 1, sizeof buf, stdout); return 0; }`, judge.OutputLimitExceeded)

	f("filling the work dir", apb, "python3", `import os
try:
    with open('/work/fill', 'wb') as f:
        while True:
            f.write(b'x' * (1 << 20))
except OSError:
    pass
try:
    for i in range(100000):
        open('/work/inode%d' % i, 'w').close()
except OSError:
    pass
`+answer, judge.Accepted)

	f("opening a network connection", apb, "python3", `import socket
leaks = []
for host, port in [('127.0.0.1', 55432), ('127.0.0.1', 9000), ('172.17.0.1', 2375), ('1.1.1.1', 80)]:
    try:
        socket.create_connection((host, port), timeout=1).close()
        leaks.append(host)
    except OSError:
        pass
if leaks:
    print('CONNECTED', leaks)
else:
`+indent(answer), judge.Accepted)

	f("reading host files and the judge's environment", apb, "python3", `import os
leaks = []
for path in [`+strconv.Quote(host.marker)+`, '/proc/1/environ', '/proc/1/mem', '/var/run/docker.sock', '/etc/shadow']:
    try:
        with open(path, 'rb') as fh:
            data = fh.read(4096)
        if b'host secret' in data or b'LUFFY' in data or path.endswith('shadow') or path.endswith('mem'):
            leaks.append(path)
    except OSError:
        pass
if any('LUFFY' in k or 'PG' in k for k in os.environ):
    leaks.append('environ')
try:
    os.listdir('/proc/1/fd')
    leaks.append('/proc/1/fd')
except OSError:
    pass
if leaks:
    print('LEAKED', leaks)
else:
`+indent(answer), judge.Accepted)

	f("writing outside the work dir", apb, "python3", `wrote = []
for path in ['/etc/x', '/usr/bin/x', '/x', '/usr/local/bin/luffy-runner', '/proc/sys/kernel/hostname']:
    try:
        with open(path, 'w') as fh:
            fh.write('x')
        wrote.append(path)
    except OSError:
        pass
if wrote:
    print('WROTE', wrote)
else:
`+indent(answer), judge.Accepted)

	// The program plants links where the judge might write or read, pointing at host and
	// container paths; the judge reads results through its own descriptors, and the
	// checker has a sandbox of its own.
	pair := demoProblem(t, "any-pair-sum")
	f("symlinks in the work dir", pair, "python3", `import os
for name in ['input', 'output', 'answer', 'checker', 'checker.cpp', 'stdout', 'result']:
    try:
        os.remove('/work/' + name)
    except OSError:
        pass
    try:
        os.symlink(`+strconv.Quote(host.marker)+`, '/work/' + name)
    except OSError:
        pass
`+pair.Solutions["python3"], judge.Accepted)

	f("compile-time bomb: including /dev/zero", apb, "cpp17", `#include "/dev/zero"
int main() {}`, judge.CompileError)
	f("compile-time bomb: exponential templates", apb, "cpp17", `template<int N, int M> struct A { enum { v = A<N-1, M>::v + A<N-1, M+1>::v }; };
template<int M> struct A<0, M> { enum { v = 1 }; };
int main() { return A<60, 0>::v; }`, judge.CompileError)

	// Work done in a child the program never waits for still counts.
	f("CPU hidden in an unwaited child", apb, "c", `#include <stdio.h>
#include <unistd.h>
int main(void) {
	long a, b; if (scanf("%ld %ld", &a, &b) != 2) return 1;
	int p[2]; pipe(p);
	if (fork() == 0) { close(p[0]); volatile unsigned long x = 0; for (unsigned long i = 0; i < 7000000000UL; i++) x += i; printf("%ld\n", a + b); fflush(stdout); _exit(0); }
	close(p[1]); char c; read(p[0], &c, 1); /* returns when the child exits */
	return 0;
}`, judge.TimeLimitExceeded)
	f("memory hidden in an unwaited child", apb, "c", `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(void) {
	long a, b; if (scanf("%ld %ld", &a, &b) != 2) return 1;
	int p[2]; pipe(p);
	if (fork() == 0) { close(p[0]); size_t n = 250u << 20; volatile char *m = malloc(n); for (size_t i = 0; i < n; i += 4096) m[i] = 1; printf("%ld\n", a + b + (m[n-4096] - 1)); fflush(stdout); _exit(0); }
	close(p[1]); char c; read(p[0], &c, 1);
	return 0;
}`, judge.MemoryLimitExceeded)

	f("a process left running after main exits", apb, "c", `#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>
int main(void) {
	/* A process from an earlier test still alive would show in /proc (beside the
	 * runner, PID 1, and its watcher, our parent). */
	DIR *d = opendir("/proc"); struct dirent *e; int others = 0;
	while ((e = readdir(d))) { int pid = atoi(e->d_name); if (pid > 1 && pid != getpid() && pid != getppid()) others++; }
	closedir(d);
	long a, b; if (scanf("%ld %ld", &a, &b) != 2) return 1;
	if (fork() == 0) { setsid(); if (fork() == 0) { for (;;) sleep(1); } _exit(0); }
	if (others) printf("LEFTOVER %d\n", others); else printf("%ld\n", a + b);
	fflush(stdout);
	return 0;
}`, judge.Accepted)
}

func indent(s string) string {
	var b bytes.Buffer
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("    " + line + "\n")
	}
	return b.String()
}

// TestHugeSourceIsRefused: a 10 MB source never reaches a sandbox.
func TestHugeSourceIsRefused(t *testing.T) {
	e := newEnv(t)
	_, err := e.store.Submit(context.Background(), e.user.ID, e.user.Username, "a-plus-b", "c", "int main(){}\n//"+strings.Repeat("x", 10<<20))
	if ie, ok := err.(*judge.InputError); !ok || ie.Field != "source" {
		t.Fatalf("10 MB source: %v, want an input error on source", err)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
