package notify

import (
	"context"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/accounts"
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
		if err := Send(ctx, db.Pool, u.ID, KindPayment, "Paid", "order 1", map[string]int{"order": 1}, "payment:1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := Send(ctx, db.Pool, u.ID, KindGrade, "Graded", "", nil, ""); err != nil {
		t.Fatal(err)
	}
	list, err := List(ctx, db.Pool, u.ID, 0, 10)
	if err != nil || len(list) != 2 || list[0].Kind != KindGrade || list[1].Kind != KindPayment || string(list[1].Data) != `{"order": 1}` {
		t.Fatalf("inbox: %+v %v", list, err)
	}
	if n, _ := Unread(ctx, db.Pool, u.ID); n != 2 {
		t.Fatalf("unread %d, want 2", n)
	}
	if err := MarkRead(ctx, db.Pool, u.ID, list[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := MarkRead(ctx, db.Pool, u.ID+1000, list[1].ID); err != ErrNotFound {
		t.Fatalf("marking another user's notice: %v", err)
	}
	if n, _ := Unread(ctx, db.Pool, u.ID); n != 1 {
		t.Fatalf("unread %d, want 1", n)
	}
	if page, _ := List(ctx, db.Pool, u.ID, list[0].ID, 10); len(page) != 1 || page[0].ID != list[1].ID {
		t.Fatalf("second page: %+v", page)
	}
}
