package points

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
)

// Award issues the points rule r is worth (see RuleAmount) from the issuance account to
// the user, posted. Its client id is "award:<rule>:<ref>", so ref must name the event
// (a submission, an order, an invitee), not merely the user, and a repeated award — a
// retried job, a duplicate callback — awards once. It returns the points the award is
// worth whether this call or an earlier one made it; 0, with no transfer, when the rule
// awards nothing (a purchase under 1 yuan).
func Award(ctx context.Context, q Querier, userID int64, r Rule, ref string, amountFen int64) (int64, error) {
	return AwardVia(ctx, q, userID, userID, r, ref, amountFen)
}

// AwardVia is Award drawing on the issuance shard of another user (via). A transaction
// that awards two users (a buyer, then the buyer's inviter) draws both on the buyer's
// shard: two payments drawing on two shards in opposite orders would deadlock.
func AwardVia(ctx context.Context, q Querier, userID, via int64, r Rule, ref string, amountFen int64) (int64, error) {
	amount, err := awardAmount(r, ref, amountFen)
	if amount == 0 || err != nil {
		return 0, err
	}
	user, issuance, err := userAndShard(ctx, q, userID, via, IssuanceAccount)
	if err != nil {
		return 0, err
	}
	// No savepoint: an award debits the issuance account, which no CHECK limits.
	_, _, err = create(ctx, q, Transfer{
		ClientID:        awardClientID(r, ref),
		DebitAccountID:  issuance,
		CreditAccountID: user,
		Amount:          amount,
		Kind:            string(r),
		Ref:             ref,
	}, false)
	if err != nil {
		return 0, fmt.Errorf("award %s %s to user %d: %w", r, ref, userID, err)
	}
	return amount, nil
}

// awardAmount is the points rule r is worth for an award of ref, or why it cannot be
// awarded.
func awardAmount(r Rule, ref string, amountFen int64) (int64, error) {
	if !knownRule(r) {
		return 0, fmt.Errorf("%w: unknown rule %q", ErrInvalid, r)
	}
	if ref == "" {
		return 0, fmt.Errorf("%w: award %s without a ref", ErrInvalid, r)
	}
	return RuleAmount(r, amountFen), nil
}

// awardClientID is the client id of the award of rule r for ref: one award per pair.
func awardClientID(r Rule, ref string) string { return "award:" + string(r) + ":" + ref }

// Spend debits the user's points into the spent account, posted: a redemption.
func Spend(ctx context.Context, q Querier, userID, amount int64, clientID, kind, ref string) (Transfer, error) {
	return spend(ctx, q, userID, amount, clientID, kind, ref, false)
}

// Hold makes a pending spend of kind KindHold, such as an order's points deduction: Post
// it when the order is paid, Void it when the order is cancelled or expires. A repeated
// Hold with the same client id returns the first one as it is now, which may be posted or
// voided since.
func Hold(ctx context.Context, q Querier, userID, amount int64, clientID, ref string) (Transfer, error) {
	return spend(ctx, q, userID, amount, clientID, KindHold, ref, true)
}

func spend(ctx context.Context, q Querier, userID, amount int64, clientID, kind, ref string, pending bool) (Transfer, error) {
	user, spent, err := userAndSystem(ctx, q, userID, SpentAccount)
	if err != nil {
		return Transfer{}, err
	}
	t, _, err := Create(ctx, q, Transfer{
		ClientID:        clientID,
		DebitAccountID:  user,
		CreditAccountID: spent,
		Amount:          amount,
		Kind:            kind,
		Ref:             ref,
	}, pending)
	if err != nil {
		return Transfer{}, fmt.Errorf("spend %d points of user %d: %w", amount, userID, err)
	}
	return t, nil
}

// BalanceOf returns the user's balance; zeros when the user has no account yet.
func BalanceOf(ctx context.Context, q Querier, userID int64) (Balance, error) {
	var b Balance
	err := q.QueryRow(ctx, `
		SELECT credits_posted - debits_posted, debits_pending
		FROM points_accounts WHERE user_id = $1`, userID).Scan(&b.Posted, &b.Pending)
	if errors.Is(err, pgx.ErrNoRows) {
		return Balance{}, nil
	}
	if err != nil {
		return Balance{}, fmt.Errorf("balance of user %d: %w", userID, err)
	}
	b.Available = b.Posted - b.Pending
	return b, nil
}

// History lists the user's transfers newest first: those with id < beforeID (0 means
// from the newest), at most limit (1 to 500; 20 when limit <= 0). Pass the last entry's
// id as beforeID for the next page.
func History(ctx context.Context, q Querier, userID, beforeID int64, limit int) ([]Entry, error) {
	if limit <= 0 {
		limit = 20
	}
	limit = min(limit, 500)
	if beforeID <= 0 {
		beforeID = math.MaxInt64
	}
	// One index range per side of the ledger, merged: an OR over both columns could not
	// walk either index in id order.
	rows, err := q.Query(ctx, `
		WITH acct AS (SELECT id FROM points_accounts WHERE user_id = $1)
		SELECT id, amount, status, kind, ref, created_at FROM (
			(SELECT t.id, t.amount, t.status, t.kind, t.ref, t.created_at
			 FROM points_transfers t, acct WHERE t.credit_account_id = acct.id AND t.id < $2
			 ORDER BY t.id DESC LIMIT $3)
			UNION ALL
			(SELECT t.id, -t.amount, t.status, t.kind, t.ref, t.created_at
			 FROM points_transfers t, acct WHERE t.debit_account_id = acct.id AND t.id < $2
			 ORDER BY t.id DESC LIMIT $3)
		) e ORDER BY id DESC LIMIT $3`, userID, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("history of user %d: %w", userID, err)
	}
	entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := r.Scan(&e.ID, &e.Amount, &e.Status, &e.Kind, &e.Ref, &e.CreatedAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("history of user %d: %w", userID, err)
	}
	if entries == nil {
		entries = []Entry{} // an empty history is [] in JSON, not null
	}
	return entries, nil
}

// Return gives a user back points they spent (an order's points, when the order is
// refunded): a posted transfer from the spent account, idempotent by clientID.
func Return(ctx context.Context, q Querier, userID, amount int64, clientID, kind, ref string) (Transfer, error) {
	user, spent, err := userAndSystem(ctx, q, userID, SpentAccount)
	if err != nil {
		return Transfer{}, err
	}
	// A credit to the user: no CHECK can refuse it, so no savepoint (see create).
	t, _, err := create(ctx, q, Transfer{ClientID: clientID, DebitAccountID: spent, CreditAccountID: user, Amount: amount, Kind: kind, Ref: ref}, false)
	if err != nil {
		return Transfer{}, fmt.Errorf("return %d points to user %d: %w", amount, userID, err)
	}
	return t, nil
}

// Reclaim takes back up to upTo points awarded to a user (an order's purchase points,
// when the order is refunded) into the issuance account: as many as the user still has
// available, since points already spent cannot be unspent and a balance never goes
// negative. It returns the points taken; after a call that took some, a repeated call
// with the same clientID takes nothing more and returns that amount. q must be a
// transaction: the
// account row stays locked from the balance read to the transfer.
func Reclaim(ctx context.Context, q Querier, userID, upTo int64, clientID, kind, ref string) (int64, error) {
	if prev, err := byClientID(ctx, q, clientID); err == nil {
		return prev.Amount, nil
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return 0, err
	}
	user, issuance, err := userAndSystem(ctx, q, userID, IssuanceAccount)
	if err != nil {
		return 0, err
	}
	var available int64
	if err := q.QueryRow(ctx, `SELECT credits_posted - debits_posted - debits_pending FROM points_accounts WHERE id = $1 FOR NO KEY UPDATE`,
		user).Scan(&available); err != nil {
		return 0, fmt.Errorf("lock account of user %d: %w", userID, err)
	}
	take := min(upTo, available)
	if take <= 0 {
		return 0, nil
	}
	if _, _, err := Create(ctx, q, Transfer{ClientID: clientID, DebitAccountID: user, CreditAccountID: issuance, Amount: take, Kind: kind, Ref: ref}, false); err != nil {
		return 0, fmt.Errorf("reclaim %d points of user %d: %w", take, userID, err)
	}
	return take, nil
}
