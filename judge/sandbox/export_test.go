package sandbox

import (
	"context"
	"time"

	"github.com/docker/docker/api/types/filters"
)

// SweepOwnAbandoned is SweepAbandoned limited to this engine's owner (so a test cannot
// take another test's sandbox between its create and its start), with a chosen age.
func (e *Engine) SweepOwnAbandoned(ctx context.Context, after time.Duration) (int, error) {
	return e.sweepAbandoned(ctx, after, filters.Arg("label", LabelOwner+"="+e.cfg.Owner))
}

// DropConn closes a box's attach stream the way a killed worker's process would.
func DropConn(b *Box) { b.conn.Close() }
