package origin

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/luffy-edu/luffy/features"
)

// listenForChanges keeps a LISTEN catalog_changed connection open and turns each
// notification into cache invalidations. While it is disconnected the cache is bypassed,
// and every (re)connect flushes it: changes made while nobody listened were never heard.
func (s *Server) listenForChanges(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		s.cache.live.Store(false)
		s.metrics.listening.Set(0)
		if ctx.Err() != nil {
			return
		}
		slog.Warn("catalog change listener disconnected; cache bypassed until it is back", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

func (s *Server) listenOnce(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(s.pgURL)
	if err != nil {
		return err
	}
	// The connection is idle between notifications; a peer that vanished without a reset
	// (a partition, a host crash) must be noticed in seconds, not after the kernel's
	// two-hour keepalive, or the cache would trust a listener that hears nothing.
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 2 * time.Second, Count: 3}}
	cfg.DialFunc = d.DialContext
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN catalog_changed; LISTEN "+features.Channel); err != nil {
		return err
	}
	s.reloadFeatures(ctx) // a change made while nobody listened
	s.reads.Changed()     // what changed while nobody listened may not be on the replica yet
	s.cache.flush()
	s.metrics.notifies.WithLabelValues("flush").Inc()
	s.cache.live.Store(true)
	s.metrics.listening.Set(1)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel == features.Channel {
			s.reloadFeatures(ctx)
			continue
		}
		s.applyChange(n.Payload)
	}
}

// applyChange handles one payload of the catalog_changed channel: "all", or
// "course:ID,ID,..." (see the schema's notify_catalog_changed).
func (s *Server) applyChange(payload string) {
	// The refills that follow read the primary until the replica has replayed the change.
	s.reads.Changed()
	ids, ok := strings.CutPrefix(payload, "course:")
	if !ok {
		s.cache.flush()
		s.metrics.notifies.WithLabelValues("all").Inc()
		return
	}
	for _, f := range strings.Split(ids, ",") {
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			s.cache.flush() // a payload we cannot read must not leave stale entries
			s.metrics.notifies.WithLabelValues("all").Inc()
			return
		}
		s.cache.courseChanged(id)
	}
	s.metrics.notifies.WithLabelValues("course").Inc()
}
