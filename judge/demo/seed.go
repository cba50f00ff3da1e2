package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/luffy-edu/luffy/judge"
	"github.com/luffy-edu/luffy/judge/testzip"
)

// Seed loads the demo problems that are missing, with their tests; problems already there
// (by slug) are left as they are, so it is safe to run on every start.
func Seed(ctx context.Context, store *judge.Store) (added int, err error) {
	for _, p := range Problems() {
		if _, err := store.Problem(ctx, p.Slug); err == nil {
			continue
		} else if !errors.Is(err, judge.ErrNotFound) {
			return added, err
		}
		created, err := store.CreateProblem(ctx, p.Problem, 0, "seed")
		if errors.Is(err, judge.ErrSlugTaken) {
			continue // another seeder got there first
		}
		if err != nil {
			return added, fmt.Errorf("create problem %s: %w", p.Slug, err)
		}
		var buf bytes.Buffer
		if err := testzip.Write(&buf, p.Tests); err != nil {
			return added, fmt.Errorf("pack tests of %s: %w", p.Slug, err)
		}
		if _, err := store.SetTests(ctx, created.ID, buf.Bytes(), p.Tests); err != nil {
			return added, fmt.Errorf("store tests of %s: %w", p.Slug, err)
		}
		added++
	}
	return added, nil
}
