package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// superviseWorkers runs n copies of this command as worker processes that share the
// listen port (SO_REUSEPORT), each with a private control address that the others pass
// purges to. A worker that dies is started again; on ctx's end every worker gets SIGTERM
// and up to grace to finish.
func superviseWorkers(ctx context.Context, n int, grace time.Duration) error {
	ctl := make([]string, n)
	for i := range ctl {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("pick a control port: %w", err)
		}
		ctl[i] = ln.Addr().String()
		ln.Close()
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for i := range n {
		var peers []string
		for j, a := range ctl {
			if j != i {
				peers = append(peers, a)
			}
		}
		env := append(os.Environ(), fmt.Sprintf("LUFFY_EDGE_WORKER=%d", i+1), "LUFFY_EDGE_CONTROL="+ctl[i],
			"LUFFY_EDGE_PEERS="+strings.Join(peers, ","))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for backoff := 100 * time.Millisecond; ctx.Err() == nil; backoff = min(backoff*2, 5*time.Second) {
				cmd := exec.Command(self, os.Args[1:]...)
				cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stdout, os.Stderr
				// a worker must not outlive its supervisor, even one killed with SIGKILL
				cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
				if err := cmd.Start(); err != nil {
					slog.Error("start edge worker", "worker", i+1, "err", err)
				} else {
					done := make(chan error, 1)
					go func() { done <- cmd.Wait() }()
					select {
					case err := <-done:
						slog.Error("edge worker exited; starting it again", "worker", i+1, "err", err, "in", backoff)
					case <-ctx.Done():
						cmd.Process.Signal(syscall.SIGTERM)
						select {
						case <-done:
						case <-time.After(grace):
							cmd.Process.Kill()
							<-done
						}
						return
					}
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
			}
		}()
	}
	slog.Info("edge workers started", "workers", n, "control", ctl)
	wg.Wait()
	return nil
}
