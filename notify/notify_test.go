package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/accounts"
	"github.com/luffy-edu/luffy/notify"
	"github.com/luffy-edu/luffy/storage/pgtest"
)

func TestInbox(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	u, err := accounts.NewService(db.Pool, time.Hour).EnsureUser(ctx, "student1", "luffy-demo", accounts.RoleStudent)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ { // the same payment reported three times
		if err := notify.Send(ctx, db.Pool, u.ID, notify.KindPayment, "Paid", "order 1", map[string]int{"order": 1}, "payment:1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := notify.Send(ctx, db.Pool, u.ID, notify.KindGrade, "Graded", "", nil, ""); err != nil {
		t.Fatal(err)
	}
	list, err := notify.List(ctx, db.Pool, u.ID, 0, 10)
	if err != nil || len(list) != 2 || list[0].Kind != notify.KindGrade || list[1].Kind != notify.KindPayment || string(list[1].Data) != `{"order": 1}` {
		t.Fatalf("inbox: %+v %v", list, err)
	}
	if n, _ := notify.Unread(ctx, db.Pool, u.ID); n != 2 {
		t.Fatalf("unread %d, want 2", n)
	}
	if err := notify.MarkRead(ctx, db.Pool, u.ID, list[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := notify.MarkRead(ctx, db.Pool, u.ID+1000, list[1].ID); err != notify.ErrNotFound {
		t.Fatalf("marking another user's notice: %v", err)
	}
	if n, _ := notify.Unread(ctx, db.Pool, u.ID); n != 1 {
		t.Fatalf("unread %d, want 1", n)
	}
	if page, _ := notify.List(ctx, db.Pool, u.ID, list[0].ID, 10); len(page) != 1 || page[0].ID != list[1].ID {
		t.Fatalf("second page: %+v", page)
	}
}
