package features_test

import (
	"context"
	"errors"
	"testing"

	"github.com/luffy-edu/luffy/features"
	"github.com/luffy-edu/luffy/storage/pgtest"
)

func TestSwitchesAreSharedThroughTheDatabase(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	a, b := features.New(db.Pool), features.New(db.Pool)
	for _, n := range features.All {
		if !a.Enabled(n) {
			t.Fatalf("%s is off before anything was read", n)
		}
	}
	sw, err := a.Set(ctx, features.Orders, false, "payment provider incident", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if sw.Enabled || sw.Reason != "payment provider incident" || sw.UpdatedBy != "admin" {
		t.Fatalf("set: %+v", sw)
	}
	if a.Enabled(features.Orders) {
		t.Fatal("the process that switched orders off still has them on")
	}
	if !b.Enabled(features.Orders) {
		t.Fatal("another process changed before it reloaded")
	}
	if err := b.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Enabled(features.Orders) || !b.Enabled(features.Judge) || !b.Enabled(features.Playback) || !b.Enabled(features.HomeworkUploads) {
		t.Fatalf("after reloading: orders %t judge %t playback %t homework %t", b.Enabled(features.Orders),
			b.Enabled(features.Judge), b.Enabled(features.Playback), b.Enabled(features.HomeworkUploads))
	}
	list, err := b.List(ctx)
	if err != nil || len(list) != len(features.All) {
		t.Fatalf("list: %+v %v", list, err)
	}
	if _, err := a.Set(ctx, "coffee", false, "", "admin"); !errors.Is(err, features.ErrUnknown) {
		t.Fatalf("unknown switch: %v", err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO feature_switches (name) VALUES ('coffee')`); err == nil {
		t.Fatal("the database took a switch nobody reads")
	}
}
