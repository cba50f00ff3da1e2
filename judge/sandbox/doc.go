// Package sandbox runs untrusted programs in Docker containers through the Engine API.
//
// One container serves one submission. Its PID 1 is luffy-runner (runner/runner.c, a
// static C program compiled into the image): it takes commands on the attached stdin,
// forks each program with its CPU, output and stack limits, waits under a wall clock,
// measures CPU time and peak memory with wait4, kills whatever the program left running,
// and answers on stdout. A test therefore costs a fork and an exec inside a running
// container, not a `docker exec` (~40 ms) or a `docker run` (~220 ms).
//
// The container has no network, a read-only root, tmpfs /work and /tmp with size and
// inode limits, an unprivileged user, no capabilities, no-new-privileges, and memory (no
// swap), pids and CPU limits. The image is built locally from a Recipe (BuildImage) and
// tagged by the recipe's hash.
//
// A sandbox lives no longer than its attach stream: when the worker that holds it dies,
// the engine closes the runner's stdin, the runner exits, and the engine removes the
// container. Containers are labelled with their worker's name (Sweep) and swept when
// created but never started (SweepAbandoned).
package sandbox
