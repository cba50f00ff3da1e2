package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/luffy-edu/luffy/storage/pgtest"
)

// Every table with updated_at keeps it current: its touch trigger sets it on an UPDATE
// that leaves it alone, and stays out of the way of one that sets it.
func TestEveryTableTouchesUpdatedAt(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	rows, err := db.Pool.Query(ctx, `
		SELECT c.table_name FROM information_schema.columns c
		WHERE c.table_schema = 'public' AND c.column_name = 'updated_at' AND c.table_name NOT LIKE 'river%'
			AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = ('public.' || quote_ident(c.table_name))::regclass
				AND g.tgfoid = 'touch_updated_at'::regproc AND NOT g.tgisinternal
				AND pg_get_triggerdef(g.oid) ~ 'WHEN \(+(NOT \(old\.updated_at IS DISTINCT FROM new\.updated_at\)|old\.updated_at IS NOT DISTINCT FROM new\.updated_at)')
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Fatalf("tables with updated_at but no touch trigger (WHEN updated_at unchanged): %v", missing)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'updated_at' AND table_name NOT LIKE 'river%'`).Scan(&n); err != nil || n < 20 {
		t.Fatalf("%d tables with updated_at: %v", n, err)
	}

	var before, after time.Time
	if err := db.Pool.QueryRow(ctx, `SELECT updated_at FROM feature_switches WHERE name = 'judge'`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if err := db.Pool.QueryRow(ctx, `UPDATE feature_switches SET reason = 'touched' WHERE name = 'judge' RETURNING updated_at`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if !after.After(before) {
		t.Fatalf("an update that left updated_at alone: %s before, %s after", before, after)
	}
	set := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := db.Pool.QueryRow(ctx, `UPDATE feature_switches SET reason = 'set', updated_at = $1 WHERE name = 'judge' RETURNING updated_at`, set).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if !after.Equal(set) {
		t.Fatalf("an update that set updated_at to %s left %s", set, after)
	}
}
