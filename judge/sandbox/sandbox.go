package sandbox

import (
	"bufio"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
)

// RunnerSource is the C source of the helper that runs as PID 1 in every sandbox.
//
//go:embed runner/runner.c
var RunnerSource []byte

// Labels every sandbox container carries, so a worker can find what a predecessor left.
const (
	LabelSandbox = "luffy.judge.sandbox"
	LabelOwner   = "luffy.judge.owner"
)

// engineTimeout bounds each call to the Docker engine.
const engineTimeout = 60 * time.Second

// SandboxUID is the unprivileged user programs run as; it owns nothing in the image.
const SandboxUID = 10000

// Config says how sandboxes are made. Zero values mean the documented defaults.
type Config struct {
	// Image is the sandbox image, normally ImageTag() of the built-in recipe.
	Image string
	// Owner names this worker in container labels; Sweep removes the containers a
	// previous worker of the same name left behind.
	Owner string
	// MemoryBytes is the container's memory limit while compiling (no swap); Run phases
	// lower it with SetMemory. Default 1 GiB.
	MemoryBytes int64
	// Pids caps processes and threads in the container. Default 128.
	Pids int64
	// NanoCPUs caps CPU; default one core.
	NanoCPUs int64
	// WorkBytes and WorkInodes size the tmpfs work dir /work (and /tmp). Defaults 128 MiB
	// and 4096 inodes.
	WorkBytes  int64
	WorkInodes int
	// Runtime is the OCI runtime containers run under; empty means the engine's default
	// (runc). "runsc" selects gVisor where the engine has it registered. (crun would
	// halve a container's start cost but refuses hosts with hybrid cgroups, as here.)
	Runtime string
}

func (c Config) withDefaults() Config {
	if c.MemoryBytes == 0 {
		c.MemoryBytes = 1 << 30
	}
	if c.Pids == 0 {
		c.Pids = 128
	}
	if c.NanoCPUs == 0 {
		c.NanoCPUs = 1e9
	}
	if c.WorkBytes == 0 {
		c.WorkBytes = 128 << 20
	}
	if c.WorkInodes == 0 {
		c.WorkInodes = 4096
	}
	if c.Owner == "" {
		c.Owner = "luffy"
	}
	return c
}

// Engine makes sandboxes through the Docker Engine API.
type Engine struct {
	cli *client.Client
	cfg Config

	mu      sync.Mutex
	started []string // recent container IDs, for tests that look for leftovers
}

// Started returns the IDs of the last containers this engine started (up to 4096).
func (e *Engine) Started() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.started...)
}

// NewEngine connects to the Docker engine named by DOCKER_HOST (default the local socket),
// negotiating the API version down to what the engine speaks.
func NewEngine(ctx context.Context, cfg Config) (*Engine, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker engine not reachable (start the local stack with `make stack`): %w", err)
	}
	return &Engine{cli: cli, cfg: cfg.withDefaults()}, nil
}

// Client is the engine's API client, for the image builder.
func (e *Engine) Client() *client.Client { return e.cli }

// Close releases the client.
func (e *Engine) Close() error { return e.cli.Close() }

// Config is the engine's effective configuration.
func (e *Engine) Config() Config { return e.cfg }

// Sweep removes every sandbox container labelled with this engine's owner: a worker calls
// it when it starts, before it has any of its own.
func (e *Engine) Sweep(ctx context.Context) (int, error) {
	list, err := e.cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelOwner+"="+e.cfg.Owner)),
	})
	if err != nil {
		return 0, fmt.Errorf("list sandboxes: %w", err)
	}
	n := 0
	for _, c := range list {
		err := e.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		if err != nil && !cerrdefs.IsNotFound(err) && !removalInProgress(err) {
			return n, fmt.Errorf("remove sandbox %s: %w", c.ID[:12], err)
		}
		n++
	}
	return n, nil
}

// SweepAbandoned removes the sandbox containers of any owner that were created long ago
// and never started. A started sandbox ends with its worker's attach stream, and the
// engine removes it; one whose worker died between creating and starting it has no
// stream to lose, and its name may never come back to sweep it. A live worker starts
// what it creates within engineTimeout, or removes it.
func (e *Engine) SweepAbandoned(ctx context.Context) (int, error) {
	return e.sweepAbandoned(ctx, 2*engineTimeout, filters.Arg("label", LabelSandbox))
}

func (e *Engine) sweepAbandoned(ctx context.Context, after time.Duration, label filters.KeyValuePair) (int, error) {
	list, err := e.cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(label, filters.Arg("status", "created")),
	})
	if err != nil {
		return 0, fmt.Errorf("list sandboxes: %w", err)
	}
	n := 0
	for _, c := range list {
		if time.Since(time.Unix(c.Created, 0)) < after {
			continue
		}
		err := e.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		if err != nil && !cerrdefs.IsNotFound(err) && !removalInProgress(err) {
			return n, fmt.Errorf("remove sandbox %s: %w", c.ID[:12], err)
		}
		n++
	}
	return n, nil
}

// Count returns how many sandbox containers of any owner exist, for tests and metrics.
func (e *Engine) Count(ctx context.Context) (int, error) {
	list, err := e.cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelSandbox)),
	})
	return len(list), err
}

// Box is one running sandbox container with its runner attached.
type Box struct {
	e    *Engine
	id   string
	conn net.Conn
	out  *bufio.Reader
	demx *demux
	// exited is closed once the container has ended, with its status in exitCode: an
	// ended sandbox is removed by the engine at once, leaving nothing to inspect.
	exited    chan struct{}
	exitCode  int64
	stopWatch context.CancelFunc
}

// Start creates and starts a sandbox: no network, read-only root, tmpfs /work and /tmp
// with size and inode limits, the unprivileged user, no capabilities, no new privileges,
// memory without swap, pids and CPU limits.
func (e *Engine) Start(ctx context.Context) (*Box, error) {
	// A hung engine must not hold a submission (whose lease the heartbeat keeps renewing)
	// forever.
	ctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	c := e.cfg
	tmpfs := fmt.Sprintf("rw,exec,nosuid,nodev,size=%d,nr_inodes=%d,mode=0700,uid=%d,gid=%d", c.WorkBytes, c.WorkInodes, SandboxUID, SandboxUID)
	pids := c.Pids
	noOOMKill, noInit := false, false
	// The runner ends when its stdin does, and with StdinOnce the engine closes stdin when
	// the attach stream closes; with AutoRemove it then removes the ended container. So a
	// worker that dies (kill -9, a crash, a lost host) takes its sandboxes with it
	// instead of leaving them waiting for commands that never come.
	cfg := &container.Config{
		Image:           c.Image,
		Cmd:             []string{"/usr/local/bin/luffy-runner"},
		User:            fmt.Sprintf("%d:%d", SandboxUID, SandboxUID),
		WorkingDir:      "/work",
		Env:             []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/work", "LANG=C.UTF-8"},
		AttachStdin:     true,
		AttachStdout:    true,
		AttachStderr:    true,
		OpenStdin:       true,
		StdinOnce:       true,
		NetworkDisabled: true,
		Labels:          map[string]string{LabelSandbox: "1", LabelOwner: c.Owner},
	}
	host := &container.HostConfig{
		NetworkMode: "none",
		Runtime:     c.Runtime,
		AutoRemove:  true,
		// Answers travel over the attach stream; a log driver would copy every byte of
		// every test's output to a file on the host as well.
		LogConfig:      container.LogConfig{Type: "none"},
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		Tmpfs:          map[string]string{"/work": tmpfs, "/tmp": tmpfs},
		ShmSize:        1 << 20,
		// The runner must be PID 1 (it refuses otherwise): its cleanup between tests
		// relies on it, whatever the engine's default-init setting.
		Init:    &noInit,
		IpcMode: "private",
		Resources: container.Resources{
			Memory:         c.MemoryBytes,
			MemorySwap:     c.MemoryBytes,
			PidsLimit:      &pids,
			NanoCPUs:       c.NanoCPUs,
			OomKillDisable: &noOOMKill,
			Ulimits:        []*container.Ulimit{{Name: "nofile", Soft: 256, Hard: 256}},
		},
	}
	// A name of our own: when the create call fails on our side (a timeout) the engine
	// may still have made the container, and the name finds it.
	var rnd [8]byte
	rand.Read(rnd[:])
	name := "luffy-sandbox-" + hex.EncodeToString(rnd[:])
	created, err := e.cli.ContainerCreate(ctx, cfg, host, &network.NetworkingConfig{}, nil, name)
	if err != nil {
		rctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
		e.cli.ContainerRemove(rctx, name, container.RemoveOptions{Force: true})
		cancel()
		return nil, fmt.Errorf("create sandbox: %w", err)
	}
	b := &Box{e: e, id: created.ID}
	e.mu.Lock()
	if len(e.started) >= 4096 {
		e.started = e.started[1:]
	}
	e.started = append(e.started, created.ID)
	e.mu.Unlock()
	// Registered before the start, so no exit goes unseen.
	b.watchExit(ctx)
	hj, err := e.cli.ContainerAttach(ctx, b.id, container.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("attach sandbox: %w", err)
	}
	b.conn = hj.Conn
	b.demx = &demux{r: hj.Reader}
	b.out = bufio.NewReaderSize(b.demx, 64<<10)
	if err := e.cli.ContainerStart(ctx, b.id, container.StartOptions{}); err != nil {
		b.Close()
		return nil, fmt.Errorf("start sandbox: %w", err)
	}
	if err := b.ping(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// ID is the container's ID.
func (b *Box) ID() string { return b.id }

// SetMemory changes the container's memory limit (and its swap limit with it, so there is
// still no swap), between the compile phase and the tests.
func (b *Box) SetMemory(ctx context.Context, bytes int64) error {
	ctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	_, err := b.e.cli.ContainerUpdate(ctx, b.id, container.UpdateConfig{Resources: container.Resources{Memory: bytes, MemorySwap: bytes}})
	if err != nil {
		return fmt.Errorf("set sandbox memory: %w", err)
	}
	return nil
}

// OOMKilled says whether the kernel's OOM killer has fired in the container's cgroup;
// the judge asks when the runner stopped answering.
func (b *Box) OOMKilled(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	// A runner that died has an exit status, kept even once the engine has removed the
	// ended container. Only the host can SIGKILL a container's PID 1, and the judge kills
	// no sandbox it is still using, so a SIGKILL was the OOM killer's.
	wait, stop := context.WithTimeout(ctx, 2*time.Second)
	defer stop()
	select {
	case <-b.exited:
		if b.exitCode == 128+int64(syscall.SIGKILL) {
			return true
		}
	case <-wait.Done():
	}
	info, err := b.e.cli.ContainerInspect(ctx, b.id)
	return err == nil && info.State != nil && info.State.OOMKilled
}

// watchExit starts waiting for the container's exit, whose status OOMKilled may need;
// the wait lasts until Close. ctx bounds only the call that registers it.
func (b *Box) watchExit(ctx context.Context) {
	wctx, cancel := context.WithCancel(context.Background())
	b.stopWatch = cancel
	b.exited = make(chan struct{})
	unbind := context.AfterFunc(ctx, cancel)
	res, errs := b.e.cli.ContainerWait(wctx, b.id, container.WaitConditionNextExit)
	unbind()
	go func() {
		select {
		case r := <-res:
			b.exitCode = r.StatusCode
			close(b.exited)
		case <-errs:
		}
	}()
}

// Close removes the container, whatever state it is in, and returns once it is gone. It
// is safe to call twice.
func (b *Box) Close() error {
	if b.id == "" {
		if b.conn != nil {
			b.conn.Close()
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Removed before the attach stream closes: closing it first would end the runner and
	// race the engine's own removal of an ended sandbox.
	err := b.e.cli.ContainerRemove(ctx, b.id, container.RemoveOptions{Force: true})
	if removalInProgress(err) {
		// The runner had ended and the engine is removing the container already.
		gone, errs := b.e.cli.ContainerWait(ctx, b.id, container.WaitConditionRemoved)
		select {
		case <-gone:
			err = nil
		case err = <-errs:
		}
	}
	if cerrdefs.IsNotFound(err) {
		err = nil
	}
	if b.conn != nil {
		b.conn.Close()
	}
	if b.stopWatch != nil {
		b.stopWatch()
	}
	id := b.id
	b.id = ""
	if err != nil {
		return fmt.Errorf("remove sandbox %s: %w", id[:12], err)
	}
	return nil
}

func removalInProgress(err error) bool {
	return err != nil && strings.Contains(err.Error(), "already in progress")
}

func (b *Box) deadline(ctx context.Context, d time.Duration) func() {
	t := time.Now().Add(d)
	if dl, ok := ctx.Deadline(); ok && dl.Before(t) {
		t = dl
	}
	b.conn.SetDeadline(t)
	stop := context.AfterFunc(ctx, func() { b.conn.SetDeadline(time.Unix(1, 0)) })
	return func() { stop() }
}

func (b *Box) ping(ctx context.Context) error {
	defer b.deadline(ctx, 30*time.Second)()
	if _, err := io.WriteString(b.conn, "PING\n"); err != nil {
		return fmt.Errorf("sandbox runner: %w", err)
	}
	line, err := b.out.ReadString('\n')
	if err != nil || line != "PONG\n" {
		return fmt.Errorf("sandbox runner did not answer (%q, %v): %s", line, err, b.demx.stderr())
	}
	return nil
}

// Put writes a file into the work dir. name is a plain file name.
func (b *Box) Put(ctx context.Context, name string, data []byte, mode uint32) error {
	defer b.deadline(ctx, 30*time.Second)()
	hdr := fmt.Sprintf("PUT %s %d %o\n", name, len(data), mode)
	if _, err := b.conn.Write(append([]byte(hdr), data...)); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	line, err := b.out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("put %s: %w %s", name, err, b.demx.stderr())
	}
	if line != "OK\n" {
		return fmt.Errorf("put %s: %s", name, strings.TrimSpace(line))
	}
	return nil
}

// Limits bound one run.
type Limits struct {
	WallMS      int
	CPUMS       int
	OutputBytes int64
	// AddressSpaceKB, when set, limits virtual memory (fine for C and C++; managed
	// runtimes reserve far more than they use and rely on the cgroup instead).
	AddressSpaceKB int64
}

// RunSpec is one program run: argv[0] must be an absolute path.
type RunSpec struct {
	Args  []string
	Env   []string
	Stdin []byte
	Limits
}

// RunResult is what the runner measured. CPUMS covers the program and every process it
// started; MaxRSSKB is the peak of the largest of them.
type RunResult struct {
	Exited         bool
	ExitCode       int
	Signal         int
	CPUMS          int
	WallMS         int
	MaxRSSKB       int64
	WallKilled     bool
	OutputExceeded bool
	ExecErrno      int
	// OOMKills counts processes the kernel's OOM killer ended in the container during
	// the run: the program (or a child of it) hit the memory limit.
	OOMKills int
	Stdout   []byte
	Stderr   []byte
}

// ErrBroken means the sandbox stopped answering; the caller judges the run IE or, when
// the box was killed by its memory limit, from the OOM state.
var ErrBroken = errors.New("sandbox runner stopped answering")

// Run runs one program and waits for it.
func (b *Box) Run(ctx context.Context, spec RunSpec) (RunResult, error) {
	var res RunResult
	slack := time.Duration(spec.WallMS)*time.Millisecond + 30*time.Second
	defer b.deadline(ctx, slack)()
	var req []byte
	req = fmt.Appendf(req, "RUN %d %d %d %d %d %d %d\n", spec.WallMS, spec.CPUMS, spec.OutputBytes, spec.AddressSpaceKB, len(spec.Args), len(spec.Env), len(spec.Stdin))
	for _, s := range append(spec.Args, spec.Env...) {
		if strings.IndexByte(s, 0) >= 0 {
			return res, fmt.Errorf("run: NUL in argument")
		}
		req = append(append(req, s...), 0)
	}
	if _, err := b.conn.Write(req); err != nil {
		return res, fmt.Errorf("%w: %v", ErrBroken, err)
	}
	if len(spec.Stdin) > 0 {
		if _, err := b.conn.Write(spec.Stdin); err != nil {
			return res, fmt.Errorf("%w: %v", ErrBroken, err)
		}
	}
	line, err := b.out.ReadString('\n')
	if err != nil {
		return res, fmt.Errorf("%w: %v %s", ErrBroken, err, b.demx.stderr())
	}
	f := strings.Fields(line)
	if len(f) != 13 || f[0] != "R" {
		return res, fmt.Errorf("%w: bad answer %q", ErrBroken, line)
	}
	n := make([]int64, 12)
	for i := range n {
		if n[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return res, fmt.Errorf("%w: bad answer %q", ErrBroken, line)
		}
	}
	res = RunResult{
		Exited: n[0] == 1, ExitCode: int(n[1]), Signal: int(n[2]), CPUMS: int(n[3]), WallMS: int(n[4]),
		MaxRSSKB: n[5], WallKilled: n[6] == 1, OutputExceeded: n[7] == 1, ExecErrno: int(n[10]), OOMKills: int(n[11]),
	}
	if n[8] < 0 || n[8] > spec.OutputBytes || n[9] < 0 || n[9] > 1<<20 {
		return res, fmt.Errorf("%w: bad lengths %q", ErrBroken, line)
	}
	res.Stdout = make([]byte, n[8])
	res.Stderr = make([]byte, n[9])
	if _, err := io.ReadFull(b.out, res.Stdout); err != nil {
		return res, fmt.Errorf("%w: %v", ErrBroken, err)
	}
	if _, err := io.ReadFull(b.out, res.Stderr); err != nil {
		return res, fmt.Errorf("%w: %v", ErrBroken, err)
	}
	return res, nil
}

// demux splits Docker's multiplexed attach stream: stdout frames are the runner's
// answers, stderr frames its diagnostics, kept (capped) for error messages.
type demux struct {
	r      *bufio.Reader
	left   int
	errBuf []byte
}

func (d *demux) Read(p []byte) (int, error) {
	for d.left == 0 {
		var hdr [8]byte
		if _, err := io.ReadFull(d.r, hdr[:]); err != nil {
			return 0, err
		}
		size := int(binary.BigEndian.Uint32(hdr[4:]))
		if hdr[0] == 1 {
			d.left = size
			continue
		}
		chunk := make([]byte, size)
		if _, err := io.ReadFull(d.r, chunk); err != nil {
			return 0, err
		}
		if len(d.errBuf) < 4096 {
			d.errBuf = append(d.errBuf, chunk[:min(len(chunk), 4096-len(d.errBuf))]...)
		}
	}
	if len(p) > d.left {
		p = p[:d.left]
	}
	n, err := d.r.Read(p)
	d.left -= n
	return n, err
}

func (d *demux) stderr() string {
	if len(d.errBuf) == 0 {
		return ""
	}
	return "(runner: " + strings.TrimSpace(string(d.errBuf)) + ")"
}
