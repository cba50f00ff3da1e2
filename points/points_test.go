package points

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/storage/pgtest"
)

var ctx = context.Background()

// newUsers creates n students in db and returns their ids. (Straight into the table:
// accounts awards sign-up points through this package, so its tests cannot use it.)
func newUsers(t testing.TB, db *pgtest.DB, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range ids {
		err := db.Pool.QueryRow(ctx, `INSERT INTO users (username, password_hash, invite_code) VALUES ($1, 'x', $2) RETURNING id`,
			fmt.Sprintf("student%d", i+1), fmt.Sprintf("INVITE%04d", i+1)).Scan(&ids[i])
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// grant credits amount points to the user from the issuance account, outside any rule.
func grant(t testing.TB, q Querier, userID, amount int64) {
	t.Helper()
	acct, issuance := mustUserAccount(t, q, userID), mustSystemAccount(t, q, IssuanceAccount)
	_, _, err := Create(ctx, q, Transfer{
		ClientID: fmt.Sprintf("grant:%d:%d", userID, time.Now().UnixNano()), Kind: "grant",
		DebitAccountID: issuance, CreditAccountID: acct, Amount: amount,
	}, false)
	if err != nil {
		t.Fatal(err)
	}
}

func mustUserAccount(t testing.TB, q Querier, userID int64) int64 {
	t.Helper()
	id, err := UserAccount(ctx, q, userID)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustSystemAccount(t testing.TB, q Querier, code string) int64 {
	t.Helper()
	id, err := SystemAccount(ctx, q, code)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func wantBalance(t testing.TB, q Querier, userID int64, want Balance) {
	t.Helper()
	got, err := BalanceOf(ctx, q, userID)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("balance of user %d = %+v, want %+v", userID, got, want)
	}
}

func wantBalanced(t testing.TB, q Querier) Report {
	t.Helper()
	r, err := Verify(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) > 0 {
		t.Fatalf("ledger out of balance:\n%v", r.Problems)
	}
	return r
}

func TestRuleAmount(t *testing.T) {
	f := func(r Rule, fen, want int64) {
		t.Helper()
		if got := RuleAmount(r, fen); got != want {
			t.Errorf("RuleAmount(%s, %d) = %d, want %d", r, fen, got, want)
		}
	}
	f(RuleSignup, 0, 100)
	f(RuleHomework, 0, 20)
	f(RuleInvite, 0, 200)
	f(RulePurchase, 19900, 199)
	f(RulePurchase, 199, 1)
	f(RulePurchase, 99, 0)
	f(RulePurchase, -500, 0)
	f(Rule("birthday"), 10000, 0)
}

func TestAwardSpendHoldFlow(t *testing.T) {
	db := pgtest.New(t)
	u := newUsers(t, db, 1)[0]
	q := db.Pool

	wantBalance(t, q, u, Balance{})
	f := func(r Rule, ref string, fen, want int64) {
		t.Helper()
		got, err := Award(ctx, q, u, r, ref, fen)
		if err != nil || got != want {
			t.Fatalf("Award(%s, %s, %d) = %d, %v; want %d", r, ref, fen, got, err, want)
		}
	}
	f(RuleSignup, "user:1", 0, 100)
	f(RuleSignup, "user:1", 0, 100) // a replay: reports the award, awards nothing more
	f(RulePurchase, "order:7", 12345, 123)
	f(RulePurchase, "order:8", 50, 0) // under a yuan: no transfer at all
	wantBalance(t, q, u, Balance{Available: 223, Posted: 223})

	if _, err := Spend(ctx, q, u, 23, "coupon:1", "coupon", "coupon:1"); err != nil {
		t.Fatal(err)
	}
	wantBalance(t, q, u, Balance{Available: 200, Posted: 200})

	hold, err := Hold(ctx, q, u, 150, "order:9:points", "order:9")
	if err != nil {
		t.Fatal(err)
	}
	if hold.Status != StatusPending || hold.Kind != KindHold {
		t.Fatalf("hold = %+v, want a pending %s", hold, KindHold)
	}
	wantBalance(t, q, u, Balance{Available: 50, Pending: 150, Posted: 200})

	if _, err := Spend(ctx, q, u, 51, "coupon:2", "coupon", "coupon:2"); !errors.Is(err, ErrInsufficient) {
		t.Fatalf("spending 51 of 50 available: err = %v, want ErrInsufficient", err)
	}
	if err := Post(ctx, q, hold.ID); err != nil {
		t.Fatal(err)
	}
	wantBalance(t, q, u, Balance{Available: 50, Posted: 50})

	hold2, err := Hold(ctx, q, u, 50, "order:10:points", "order:10")
	if err != nil {
		t.Fatal(err)
	}
	wantBalance(t, q, u, Balance{Available: 0, Pending: 50, Posted: 50})
	if err := Void(ctx, q, hold2.ID); err != nil {
		t.Fatal(err)
	}
	wantBalance(t, q, u, Balance{Available: 50, Posted: 50})

	h, err := History(ctx, q, u, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range h {
		got = append(got, fmt.Sprintf("%s %d %s %s", e.Kind, e.Amount, e.Status, e.Ref))
	}
	want := []string{
		"hold -50 voided order:10",
		"hold -150 posted order:9",
		"coupon -23 posted coupon:1",
		"purchase 123 posted order:7",
		"signup 100 posted user:1",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("history:\n got %q\nwant %q", got, want)
	}
	r := wantBalanced(t, q)
	if r.Accounts != 2*SystemShards+1 || r.Transfers != 5 {
		t.Fatalf("report counts %d accounts, %d transfers; want %d, 5", r.Accounts, r.Transfers, 2*SystemShards+1)
	}
}

func TestHistoryPages(t *testing.T) {
	db := pgtest.New(t)
	u := newUsers(t, db, 1)[0]
	for i := range 7 {
		if _, err := Award(ctx, db.Pool, u, RuleHomework, fmt.Sprint("submission:", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	var pages [][]int
	before := int64(0)
	for {
		page, err := History(ctx, db.Pool, u, before, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		var refs []int
		for _, e := range page {
			var n int
			fmt.Sscanf(e.Ref, "submission:%d", &n)
			refs = append(refs, n)
		}
		pages = append(pages, refs)
		before = page[len(page)-1].ID
	}
	if got, want := fmt.Sprint(pages), "[[6 5 4] [3 2 1] [0]]"; got != want {
		t.Fatalf("pages = %s, want %s", got, want)
	}

	none, err := History(ctx, db.Pool, u+1000, 0, 10)
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("history of a user without an account = %#v, %v; want an empty list", none, err)
	}
}

func TestCreateIsIdempotentByClientID(t *testing.T) {
	db := pgtest.New(t)
	users := newUsers(t, db, 2)
	q := db.Pool
	a, b := mustUserAccount(t, q, users[0]), mustUserAccount(t, q, users[1])
	issuance := mustSystemAccount(t, q, IssuanceAccount)
	base := Transfer{ClientID: "c1", DebitAccountID: issuance, CreditAccountID: a, Amount: 10, Kind: "grant"}

	first, created, err := Create(ctx, q, base, false)
	if err != nil || !created {
		t.Fatalf("first Create = %v, %v; want created", created, err)
	}
	again, created, err := Create(ctx, q, base, false)
	if err != nil || created || again != first {
		t.Fatalf("replayed Create = %+v, %v, %v; want %+v, not created", again, created, err, first)
	}

	f := func(change func(*Transfer)) {
		t.Helper()
		tr := base
		change(&tr)
		if _, _, err := Create(ctx, q, tr, false); !errors.Is(err, ErrClientIDReused) {
			t.Errorf("Create %+v: err = %v, want ErrClientIDReused", tr, err)
		}
	}
	f(func(tr *Transfer) { tr.Amount = 11 })
	f(func(tr *Transfer) { tr.CreditAccountID = b })
	f(func(tr *Transfer) { tr.DebitAccountID, tr.CreditAccountID = a, issuance })

	wantBalance(t, q, users[0], Balance{Available: 10, Posted: 10})
	wantBalanced(t, q)
}

func TestCreateRejectsImpossibleTransfers(t *testing.T) {
	db := pgtest.New(t)
	u := newUsers(t, db, 1)[0]
	a := mustUserAccount(t, db.Pool, u)
	issuance := mustSystemAccount(t, db.Pool, IssuanceAccount)
	f := func(tr Transfer) {
		t.Helper()
		if _, _, err := Create(ctx, db.Pool, tr, false); !errors.Is(err, ErrInvalid) {
			t.Errorf("Create %+v: err = %v, want ErrInvalid", tr, err)
		}
	}
	ok := Transfer{ClientID: "x", DebitAccountID: issuance, CreditAccountID: a, Amount: 1, Kind: "grant"}
	f(Transfer{ClientID: "x", DebitAccountID: issuance, CreditAccountID: a, Amount: 0, Kind: "grant"})
	f(Transfer{ClientID: "x", DebitAccountID: issuance, CreditAccountID: a, Amount: -5, Kind: "grant"})
	f(Transfer{ClientID: "x", DebitAccountID: a, CreditAccountID: a, Amount: 1, Kind: "grant"})
	f(Transfer{ClientID: "", DebitAccountID: issuance, CreditAccountID: a, Amount: 1, Kind: "grant"})
	f(Transfer{ClientID: "x", DebitAccountID: issuance, CreditAccountID: a, Amount: 1})
	if _, err := Award(ctx, db.Pool, u, Rule("birthday"), "x", 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Award of an unknown rule: err = %v, want ErrInvalid", err)
	}
	if _, _, err := Create(ctx, db.Pool, ok, false); err != nil {
		t.Errorf("Create %+v: %v", ok, err)
	}
	wantBalanced(t, db.Pool)
}

func TestPostAndVoidStateMachine(t *testing.T) {
	db := pgtest.New(t)
	u := newUsers(t, db, 1)[0]
	grant(t, db.Pool, u, 1000)
	n := 0
	f := func(first, second func(context.Context, Querier, int64) error, want error, wantStatus string) {
		t.Helper()
		n++
		h, err := Hold(ctx, db.Pool, u, 10, fmt.Sprint("hold:", n), "")
		if err != nil {
			t.Fatal(err)
		}
		if err := first(ctx, db.Pool, h.ID); err != nil {
			t.Fatal(err)
		}
		if err := second(ctx, db.Pool, h.ID); !errors.Is(err, want) {
			t.Errorf("case %d: second call err = %v, want %v", n, err, want)
		}
		var status string
		if err := db.Pool.QueryRow(ctx, `SELECT status FROM points_transfers WHERE id = $1`, h.ID).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status != wantStatus {
			t.Errorf("case %d: status %s, want %s", n, status, wantStatus)
		}
	}
	f(Post, Post, nil, StatusPosted)
	f(Void, Void, nil, StatusVoided)
	f(Post, Void, ErrNotPending, StatusPosted)
	f(Void, Post, ErrNotPending, StatusVoided)

	if err := Post(ctx, db.Pool, 1<<40); !errors.Is(err, ErrNotFound) {
		t.Errorf("Post of a missing transfer: err = %v, want ErrNotFound", err)
	}
	if err := Void(ctx, db.Pool, 1<<40); !errors.Is(err, ErrNotFound) {
		t.Errorf("Void of a missing transfer: err = %v, want ErrNotFound", err)
	}
	// Two holds posted, two voided, 10 points each.
	wantBalance(t, db.Pool, u, Balance{Available: 980, Posted: 980})
	wantBalanced(t, db.Pool)
}

// A refusal inside the caller's transaction is confined to a savepoint: the caller can
// carry on (pay without points, say) and commit.
func TestRefusalLeavesCallerTxUsable(t *testing.T) {
	db := pgtest.New(t)
	u := newUsers(t, db, 1)[0]
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := Award(ctx, tx, u, RuleSignup, "u1", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := Spend(ctx, tx, u, 101, "s1", "coupon", ""); !errors.Is(err, ErrInsufficient) {
		t.Fatalf("overspend in tx: err = %v, want ErrInsufficient", err)
	}
	if err := Post(ctx, tx, 1<<40); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Post of a missing transfer in tx: err = %v, want ErrNotFound", err)
	}
	if _, err := Spend(ctx, tx, u, 40, "s1", "coupon", ""); err != nil {
		t.Fatalf("spend after a refusal in the same tx: %v", err)
	}
	wantBalance(t, db.Pool, u, Balance{}) // not committed yet
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wantBalance(t, db.Pool, u, Balance{Available: 60, Posted: 60})
	wantBalanced(t, db.Pool)
}

func TestBalanceWithoutAccount(t *testing.T) {
	db := pgtest.New(t)
	wantBalance(t, db.Pool, 12345, Balance{})
}

func TestVerifyDetectsCorruption(t *testing.T) {
	db := pgtest.New(t)
	u := newUsers(t, db, 1)[0]
	if _, err := Award(ctx, db.Pool, u, RuleInvite, "invitee:2", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := Hold(ctx, db.Pool, u, 50, "order:1", "order:1"); err != nil {
		t.Fatal(err)
	}
	wantBalanced(t, db.Pool)

	// Points from nowhere, written past the API.
	if _, err := db.Pool.Exec(ctx, `UPDATE points_accounts SET credits_posted = credits_posted + 1 WHERE user_id = $1`, u); err != nil {
		t.Fatal(err)
	}
	r, err := Verify(ctx, db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 2 {
		t.Fatalf("Verify found %d problems, want 2 (ledger total, account vs transfers): %q", len(r.Problems), r.Problems)
	}
	t.Logf("problems: %q", r.Problems)

	// A pending total drifting from its transfers is caught too, even when it balances
	// against nothing else.
	if _, err := db.Pool.Exec(ctx, `UPDATE points_accounts SET credits_posted = credits_posted - 1, debits_pending = debits_pending - 1 WHERE user_id = $1`, u); err != nil {
		t.Fatal(err)
	}
	r, err = Verify(ctx, db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 2 {
		t.Fatalf("Verify found %d problems, want 2 (pending totals, account vs transfers): %q", len(r.Problems), r.Problems)
	}
}

func TestUserAccountForMissingUserLeavesCallerTxUsable(t *testing.T) {
	db := pgtest.New(t)
	u := newUsers(t, db, 1)[0]
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := UserAccount(ctx, tx, u+1000); err == nil {
		t.Fatal("UserAccount of a missing user succeeded")
	}
	a, err := UserAccount(ctx, tx, u)
	if err != nil {
		t.Fatal(err)
	}
	if b := mustUserAccount(t, tx, u); b != a {
		t.Fatalf("second UserAccount = %d, want %d", b, a)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}
