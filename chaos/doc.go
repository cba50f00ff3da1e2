// Package chaos holds the fault-injection tests: the platform's promise on a bad day,
// proven against real processes while load runs. Each test builds a private site of its
// own (a Postgres cluster initdb'd into a temporary directory, a MinIO server, and the
// luffy binary run as origin, edge and payment simulator subprocesses, all on free
// loopback ports), then kills or restarts one part of it and measures what clients saw:
// the edge serving stale catalog pages and cached segments while the origin is dead,
// cached segments served and uncached ones refused fast while MinIO is down, and the API
// answering 503 while Postgres restarts without losing a committed order, payment,
// enrollment or points transfer. The shared stack of `make stack` is never touched: its
// binaries (Postgres, .data/bin/minio, ffmpeg) are used, not its servers.
//
// The tests run in `make test` at their default length (a few minutes in all);
// LUFFY_CHAOS_LONG=1 (`make chaos`) runs them with more load and longer outages.
package chaos
