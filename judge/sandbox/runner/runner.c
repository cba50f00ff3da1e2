/*
 * luffy-runner: the judge's helper inside a sandbox container.
 *
 * It runs as the container's PID 1 and the sandbox's unprivileged user, reads commands on
 * stdin and answers on stdout, so a submission's tests run without a `docker exec` or a
 * container per test. For each RUN it forks a watcher, a child subreaper, which forks the
 * program with its limits (CPU time, file size for the output limit, stack, optionally
 * address space) and waits for it under a wall clock. When the program ends the watcher
 * kills every process left (a daemon the program forked cannot outlive its test), reaps
 * them all, and reports the CPU time of the program and all its descendants, and the peak
 * memory of the largest of them, from getrusage(RUSAGE_CHILDREN): a program cannot hide
 * work in a child it never waits for. The runner adds the container's OOM-kill count and
 * answers with the facts; the judge turns facts into verdicts.
 *
 * The program's stdin, stdout and stderr are memfds the runner created and still holds,
 * so it reads results back through its own descriptors and never follows a path the
 * program could have replaced with a link. The runner makes itself non-dumpable, so the
 * program, running as the same user, cannot ptrace it or open its descriptors in /proc.
 *
 * Protocol (all numbers decimal, header lines end in \n):
 *   PUT <name> <len> <mode>\n<len bytes>        -> "OK\n" | "ERR <reason>\n"
 *       writes /work/<name>; name is [A-Za-z0-9._-]+ and does not start with '.'
 *   RUN <wall_ms> <cpu_ms> <out_bytes> <as_kb> <nargs> <nenv> <stdin_len>\n
 *       <nargs NUL-terminated args><nenv NUL-terminated KEY=VALUE><stdin_len bytes>
 *     -> "R <exited> <code> <signal> <cpu_ms> <wall_ms> <maxrss_kb> <wall_killed>
 *           <out_exceeded> <out_len> <err_len> <exec_errno> <oom_kills>\n<out bytes><err bytes>"
 *       as_kb 0 means no address-space limit (managed runtimes reserve far more address
 *       space than they use); memory is then bounded by the container's cgroup.
 *   PING\n -> "PONG\n"
 *
 * Build: gcc -static -O2 -o luffy-runner runner.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKDIR "/work"
#define MAX_HEADER 512
#define MAX_ARGS 64
#define MAX_ARGBYTES 65536
#define MAX_PUT (256L << 20)
#define ERR_RETURN_MAX (64 * 1024)

static void die(const char *msg) {
	dprintf(2, "luffy-runner: %s: %s\n", msg, strerror(errno));
	_exit(111);
}

static int read_full(int fd, void *buf, size_t n) {
	char *p = buf;
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t n) {
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR) continue;
		if (w <= 0) return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* read_line reads one header line from stdin byte by byte: headers are short and the
 * payload after them must stay unread in the pipe. */
static int read_line(char *buf, size_t cap) {
	size_t n = 0;
	for (;;) {
		char c;
		ssize_t r = read(0, &c, 1);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) return -1;
		if (c == '\n') break;
		if (n + 1 >= cap) return -1;
		buf[n++] = c;
	}
	buf[n] = 0;
	return (int)n;
}

/* copy_in moves n bytes from stdin to fd through a small buffer. */
static int copy_in(int fd, long n) {
	char buf[65536];
	int failed = 0;
	while (n > 0) {
		size_t want = n < (long)sizeof buf ? (size_t)n : sizeof buf;
		ssize_t r = read(0, buf, want);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) return -2;
		if (!failed && fd >= 0 && write_full(fd, buf, (size_t)r) < 0) failed = 1;
		n -= r;
	}
	return failed ? -1 : 0;
}

/* copy_out writes the first n bytes of fd to stdout. */
static int copy_out(int fd, long n) {
	char buf[65536];
	if (lseek(fd, 0, SEEK_SET) < 0) return -1;
	while (n > 0) {
		size_t want = n < (long)sizeof buf ? (size_t)n : sizeof buf;
		ssize_t r = read(fd, buf, want);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) break;
		if (write_full(1, buf, (size_t)r) < 0) return -1;
		n -= r;
	}
	/* A file that shrank under us is padded so the frame keeps its announced length. */
	static const char zeros[4096];
	while (n > 0) {
		size_t k = n < (long)sizeof zeros ? (size_t)n : sizeof zeros;
		if (write_full(1, zeros, k) < 0) return -1;
		n -= (long)k;
	}
	return 0;
}

static int valid_name(const char *s) {
	if (!*s || *s == '.' || strlen(s) > 128) return 0;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* reap_all kills every process in the container but PID 1 and the caller (the runner is
 * always PID 1: main refuses to run otherwise), then waits for its children. */
static void reap_all(void) {
	kill(-1, SIGKILL);
	while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR) {
	}
}

/* oom_kills reads how many processes the kernel's OOM killer has killed in the
 * container's memory cgroup (v1 memory.oom_control, v2 memory.events); -1 if unknown. */
static long oom_kills(void) {
	static const char *files[] = {"/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"};
	for (int i = 0; i < 2; i++) {
		int fd = open(files[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) continue;
		char buf[1024];
		ssize_t n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n <= 0) continue;
		buf[n] = 0;
		char *p = strstr(buf, "oom_kill ");
		if (p) return atol(p + 9);
	}
	return -1;
}

/* watch is what the watcher reports to the runner through a pipe. */
struct watch {
	int status, wall_killed;
	long wall_ms, cpu_ms, maxrss_kb;
};

static void do_put(char *args) {
	char name[256];
	long len;
	unsigned mode;
	if (sscanf(args, "%255s %ld %o", name, &len, &mode) != 3 || len < 0 || len > MAX_PUT) {
		dprintf(2, "luffy-runner: bad PUT header\n");
		_exit(112);
	}
	if (!valid_name(name)) {
		if (copy_in(-1, len) == -2) _exit(0);
		dprintf(1, "ERR bad name\n");
		return;
	}
	int dir = open(WORKDIR, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (dir < 0) die("open work dir");
	/* Whatever the last program left under this name (a link, a directory) goes. */
	unlinkat(dir, name, 0);
	unlinkat(dir, name, AT_REMOVEDIR);
	int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0755);
	close(dir);
	int r = copy_in(fd, len);
	if (r == -2) _exit(0);
	if (fd < 0 || r < 0) {
		int e = errno;
		if (fd >= 0) close(fd);
		dprintf(1, "ERR %s\n", strerror(e));
		return;
	}
	close(fd);
	dprintf(1, "OK\n");
}

static long ms_between(const struct timespec *a, const struct timespec *b) {
	return (b->tv_sec - a->tv_sec) * 1000L + (b->tv_nsec - a->tv_nsec) / 1000000L;
}

static void do_run(char *args) {
	long wall_ms, cpu_ms, out_bytes, as_kb, stdin_len;
	int nargs, nenv;
	if (sscanf(args, "%ld %ld %ld %ld %d %d %ld", &wall_ms, &cpu_ms, &out_bytes, &as_kb, &nargs,
		   &nenv, &stdin_len) != 7 ||
	    nargs < 1 || nargs > MAX_ARGS || nenv < 0 || nenv > MAX_ARGS || stdin_len < 0 ||
	    stdin_len > MAX_PUT || wall_ms <= 0 || cpu_ms <= 0 || out_bytes < 0 || as_kb < 0) {
		dprintf(2, "luffy-runner: bad RUN header\n");
		_exit(112);
	}
	static char strbuf[MAX_ARGBYTES];
	char *argv[MAX_ARGS + 1], *envp[MAX_ARGS + 1];
	size_t used = 0;
	for (int i = 0; i < nargs + nenv; i++) {
		size_t start = used;
		for (;;) {
			if (used >= sizeof strbuf) _exit(112);
			if (read_full(0, &strbuf[used], 1) < 0) _exit(0);
			if (strbuf[used++] == 0) break;
		}
		if (i < nargs)
			argv[i] = &strbuf[start];
		else
			envp[i - nargs] = &strbuf[start];
	}
	argv[nargs] = NULL;
	envp[nenv] = NULL;

	int in = memfd_create("stdin", MFD_CLOEXEC);
	int out = memfd_create("stdout", MFD_CLOEXEC);
	int err = memfd_create("stderr", MFD_CLOEXEC);
	if (in < 0 || out < 0 || err < 0) die("memfd_create");
	int r = copy_in(in, stdin_len);
	if (r == -2) _exit(0);
	if (r < 0) die("write stdin");
	lseek(in, 0, SEEK_SET);

	/* The exec error travels back over a close-on-exec pipe: no bytes means exec worked.
	 * The watcher's report comes over another. */
	int ep[2], wp[2];
	if (pipe2(ep, O_CLOEXEC) < 0 || pipe2(wp, O_CLOEXEC) < 0) die("pipe");
	long oom_before = oom_kills();

	pid_t watcher = fork();
	if (watcher < 0) {
		int e = errno;
		close(ep[0]);
		close(ep[1]);
		close(wp[0]);
		close(wp[1]);
		close(in);
		close(out);
		close(err);
		dprintf(1, "R 0 0 0 0 0 0 0 0 0 0 %d 0\n", e);
		return;
	}
	if (watcher == 0) {
		/* The watcher: orphans of the program become its children, so it can reap and
		 * account for all of them. SIGCHLD stays blocked, as in the runner. */
		close(ep[0]);
		close(wp[0]);
		prctl(PR_SET_CHILD_SUBREAPER, 1);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		pid_t pid = fork();
		if (pid < 0) _exit(3);
		if (pid == 0) {
			sigset_t none;
			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
			signal(SIGPIPE, SIG_DFL);
			setpgid(0, 0);
			dup2(in, 0);
			dup2(out, 1);
			dup2(err, 2);
			/* Everything else the runner holds (the attach stream) stays behind. */
			syscall(SYS_close_range, 3, ~0U, 0x4 /* CLOSE_RANGE_CLOEXEC */);
			fcntl(ep[1], F_SETFD, FD_CLOEXEC);
			if (chdir(WORKDIR) < 0) goto fail;
			struct rlimit rl;
			rl.rlim_cur = (rlim_t)((cpu_ms + 999) / 1000 + 1);
			rl.rlim_max = rl.rlim_cur + 1;
			setrlimit(RLIMIT_CPU, &rl);
			rl.rlim_cur = rl.rlim_max = (rlim_t)out_bytes + 1;
			setrlimit(RLIMIT_FSIZE, &rl);
			rl.rlim_cur = rl.rlim_max = 0;
			setrlimit(RLIMIT_CORE, &rl);
			rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
			setrlimit(RLIMIT_STACK, &rl);
			if (as_kb > 0) {
				rl.rlim_cur = rl.rlim_max = (rlim_t)as_kb * 1024;
				setrlimit(RLIMIT_AS, &rl);
			}
			execve(argv[0], argv, envp);
		fail:;
			int e = errno;
			write(ep[1], &e, sizeof e);
			_exit(127);
		}
		close(ep[1]);
		sigset_t chld;
		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		struct watch wr;
		memset(&wr, 0, sizeof wr);
		for (;;) {
			pid_t w = waitpid(pid, &wr.status, WNOHANG | __WALL);
			if (w == pid) break;
			clock_gettime(CLOCK_MONOTONIC, &t1);
			long left = wall_ms - ms_between(&t0, &t1);
			if (left <= 0) {
				wr.wall_killed = 1;
				kill(-1, SIGKILL);
				while (waitpid(pid, &wr.status, __WALL) < 0 && errno == EINTR) {
				}
				break;
			}
			/* Wake on any child's exit or at the deadline. */
			struct timespec ts = {left / 1000, (left % 1000) * 1000000L};
			sigtimedwait(&chld, NULL, &ts);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		reap_all();
		struct rusage ru;
		getrusage(RUSAGE_CHILDREN, &ru);
		wr.wall_ms = ms_between(&t0, &t1);
		wr.cpu_ms = ru.ru_utime.tv_sec * 1000L + ru.ru_utime.tv_usec / 1000 + ru.ru_stime.tv_sec * 1000L +
			    ru.ru_stime.tv_usec / 1000;
		wr.maxrss_kb = ru.ru_maxrss;
		write_full(wp[1], &wr, sizeof wr);
		_exit(0);
	}
	close(ep[1]);
	close(wp[1]);
	struct watch wr;
	memset(&wr, 0, sizeof wr);
	/* The program runs as the watcher's user and could stop or kill it: the runner keeps
	 * its own deadline, and a missing report ends the run as killed. */
	struct pollfd pfd = {wp[0], POLLIN, 0};
	int ready;
	while ((ready = poll(&pfd, 1, (int)(wall_ms + 2000))) < 0 && errno == EINTR) {
	}
	int got = ready > 0 && read_full(wp[0], &wr, sizeof wr) == 0;
	if (ready == 0) {
		reap_all(); /* takes the watcher too: SIGKILL ends even a stopped process */
		wr.wall_killed = 1;
		wr.wall_ms = wall_ms;
	}
	close(wp[0]);
	int wstatus = 0;
	while (waitpid(watcher, &wstatus, __WALL) < 0 && errno == EINTR) {
	}
	if (!got) {
		/* The watcher died (the OOM killer, or the program killed it): report the
		 * program as killed with what is known. */
		wr.status = ready == 0 ? (SIGKILL & 0x7f) : wstatus;
		reap_all();
	}
	long oom_after = oom_kills();
	long ooms = (oom_before >= 0 && oom_after >= 0) ? oom_after - oom_before : 0;

	int exec_errno = 0;
	if (read(ep[0], &exec_errno, sizeof exec_errno) != (ssize_t)sizeof exec_errno) exec_errno = 0;
	close(ep[0]);

	struct stat st;
	long out_len = fstat(out, &st) == 0 ? (long)st.st_size : 0;
	long err_len = fstat(err, &st) == 0 ? (long)st.st_size : 0;
	int out_exceeded = out_len > out_bytes;
	if (out_len > out_bytes) out_len = out_bytes;
	if (err_len > ERR_RETURN_MAX) err_len = ERR_RETURN_MAX;
	int exited = WIFEXITED(wr.status), code = exited ? WEXITSTATUS(wr.status) : 0;
	int sig = WIFSIGNALED(wr.status) ? WTERMSIG(wr.status) : 0;
	if (sig == SIGXFSZ) out_exceeded = 1;
	dprintf(1, "R %d %d %d %ld %ld %ld %d %d %ld %ld %d %ld\n", exited, code, sig, wr.cpu_ms,
		wr.wall_ms, wr.maxrss_kb, wr.wall_killed, out_exceeded, out_len, err_len, exec_errno,
		ooms);
	if (copy_out(out, out_len) < 0 || copy_out(err, err_len) < 0) _exit(0);
	close(in);
	close(out);
	close(err);
}

int main(void) {
	if (getpid() != 1) {
		/* Cleaning up between tests kills every process but PID 1: anywhere else that
		 * would reach the runner's own user's processes, and a program could survive
		 * into the next test under an init that is not the runner. */
		dprintf(2, "luffy-runner: must run as PID 1 of its container\n");
		return 111;
	}
	prctl(PR_SET_DUMPABLE, 0);
	signal(SIGPIPE, SIG_IGN);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	char line[MAX_HEADER];
	for (;;) {
		if (read_line(line, sizeof line) < 0) break;
		if (strncmp(line, "RUN ", 4) == 0)
			do_run(line + 4);
		else if (strncmp(line, "PUT ", 4) == 0)
			do_put(line + 4);
		else if (strcmp(line, "PING") == 0)
			dprintf(1, "PONG\n");
		else {
			dprintf(2, "luffy-runner: unknown command\n");
			_exit(112);
		}
	}
	reap_all();
	return 0;
}
