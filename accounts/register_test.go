package accounts

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/points"
	"github.com/luffy-edu/luffy/storage/pgtest"
)

func TestRegisterWithInviteCode(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	svc := NewService(db.Pool, time.Hour)
	inviter, err := svc.Register(ctx, "alice", "luffy-demo")
	if err != nil || inviter.InvitedBy != nil {
		t.Fatalf("register alice: %+v %v", inviter, err)
	}
	bob, err := svc.RegisterInvited(ctx, "bob", "luffy-demo", inviter.InviteCode)
	if err != nil || bob.InvitedBy == nil || *bob.InvitedBy != inviter.ID {
		t.Fatalf("register bob with alice's code: %+v %v", bob, err)
	}
	var invitedBy int64
	db.Pool.QueryRow(ctx, `SELECT invited_by FROM users WHERE id = $1`, bob.ID).Scan(&invitedBy)
	if invitedBy != inviter.ID {
		t.Fatalf("users.invited_by = %d, want %d", invitedBy, inviter.ID)
	}
	for _, u := range []User{inviter, bob} {
		b, err := points.BalanceOf(ctx, db.Pool, u.ID)
		if err != nil || b.Available != points.RuleAmount(points.RuleSignup, 0) {
			t.Errorf("%s's sign-up points: %+v %v", u.Username, b, err)
		}
		var notices int
		db.Pool.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'points' AND data->>'points' = $2`,
			u.ID, fmt.Sprint(points.RuleAmount(points.RuleSignup, 0))).Scan(&notices)
		if notices != 1 {
			t.Errorf("%s has %d notices of the sign-up points, want 1", u.Username, notices)
		}
	}
	var ve *ValidationError
	if _, err := svc.RegisterInvited(ctx, "carol", "luffy-demo", "NOPE"); !errors.As(err, &ve) || ve.Field != "invite_code" {
		t.Errorf("unknown invite code: %v", err)
	}
	if _, err := svc.Register(ctx, "BOB", "luffy-demo"); !errors.Is(err, ErrUsernameTaken) {
		t.Errorf("taken username: %v", err)
	}
	if r, err := points.Verify(ctx, db.Pool); err != nil || len(r.Problems) > 0 {
		t.Errorf("ledger: %+v %v", r, err)
	}
}

// A bearer token works until it expires or its session is revoked, and not after.
func TestTokenExpiryAndRevocation(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	svc := NewService(db.Pool, time.Hour)
	if _, err := svc.Register(ctx, "dora", "luffy-demo"); err != nil {
		t.Fatal(err)
	}
	token, expires, err := svc.Login(ctx, "dora", "luffy-demo")
	if err != nil || time.Until(expires) < 59*time.Minute || time.Until(expires) > time.Hour {
		t.Fatalf("login: expires %v (want in an hour), %v", expires, err)
	}
	if u, err := svc.Authenticate(ctx, token); err != nil || u.Username != "dora" {
		t.Fatalf("a fresh token: %+v %v", u, err)
	}
	if _, err := svc.Authenticate(ctx, token+"x"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("another token: %v", err)
	}
	// an hour later, by the database's clock
	if _, err := db.Pool.Exec(ctx, `UPDATE sessions SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, token); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("an expired token: %v, want ErrUnauthenticated", err)
	}

	token, _, err = svc.Login(ctx, "dora", "luffy-demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Logout(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, token); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("a revoked token: %v, want ErrUnauthenticated", err)
	}
}
