package points

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The Queue functions put ledger changes on a caller's pgx.Batch, so that a payment can
// settle its points in the round trip that marks the order paid. They are for changes
// no CHECK can refuse (an award, posting a hold), which therefore need no savepoint, and
// they resolve accounts in SQL rather than in a read of their own. A batch sent in a
// transaction runs each statement with a fresh snapshot, so a statement sees what the
// ones before it in the batch did.

// userCode is the code of the user's own account.
func userCode(userID int64) string { return "user:" + strconv.FormatInt(userID, 10) }

// ensureUserSQL creates a user's account if it is missing; a concurrent creation makes
// it wait for that one's commit and do nothing.
const ensureUserSQL = `INSERT INTO points_accounts (user_id, code, kind) VALUES ($1, $2, 'user') ON CONFLICT DO NOTHING`

// awardSQL issues a posted transfer from a system shard to a user, as create does: the
// transfer first (a replay inserts nothing and moves nothing), then both accounts locked
// in id order and moved.
const awardSQL = `
	WITH acct AS (
		SELECT (SELECT id FROM points_accounts WHERE code = $2::text AND kind = 'system') AS debit,
		       coalesce($7::bigint, (SELECT id FROM points_accounts WHERE user_id = $1::bigint)) AS credit
	), t AS (
		INSERT INTO points_transfers (client_id, debit_account_id, credit_account_id, amount, status, kind, ref)
		SELECT $3::text, acct.debit, acct.credit, $4::bigint, 'posted', $5::text, $6::text FROM acct
		ON CONFLICT (client_id) DO NOTHING
		RETURNING debit_account_id, credit_account_id
	), locked AS MATERIALIZED (
		SELECT a.id FROM points_accounts a, t WHERE a.id IN (t.debit_account_id, t.credit_account_id) ORDER BY a.id FOR NO KEY UPDATE
	)
	UPDATE points_accounts a SET
		debits_posted  = a.debits_posted  + CASE WHEN a.id = t.debit_account_id  THEN $4::bigint ELSE 0 END,
		credits_posted = a.credits_posted + CASE WHEN a.id = t.credit_account_id THEN $4::bigint ELSE 0 END,
		updated_at = now()
	FROM locked, t WHERE a.id = locked.id`

// QueueAward queues on b what Award does: the points rule r is worth, issued to the user
// from the issuance shard of via, posted, once per rule and ref. account is the user's
// account id when the caller read it (a statement fewer), nil when it may be missing: the
// account is then created first. It returns the points the award is worth (0, with
// nothing queued, when the rule awards nothing). The batch fails if the award would move
// other than both accounts or none (none: an earlier award with the same ref).
func QueueAward(b *pgx.Batch, userID int64, account *int64, via int64, r Rule, ref string, amountFen int64) (int64, error) {
	amount, err := awardAmount(r, ref, amountFen)
	if amount == 0 || err != nil {
		return 0, err
	}
	if account == nil {
		b.Queue(ensureUserSQL, userID, userCode(userID))
	}
	clientID := awardClientID(r, ref)
	b.Queue(awardSQL, userID, shardCode(IssuanceAccount, via), clientID, amount, string(r), ref, account).Exec(func(tag pgconn.CommandTag) error {
		if n := tag.RowsAffected(); n != 0 && n != 2 {
			return fmt.Errorf("award %q to user %d: moved %d of 2 accounts", clientID, userID, n)
		}
		return nil
	})
	return amount, nil
}

// lockAllSQL locks, in id order, every account a user's points may move in one
// transaction: the user's own, and the user's issuance and spent shards.
const lockAllSQL = `SELECT id FROM points_accounts WHERE user_id = $1 OR code = ANY($2::text[]) ORDER BY id FOR NO KEY UPDATE`

func lockAllArgs(userID int64) []any {
	return []any{userID, []string{shardCode(IssuanceAccount, userID), shardCode(SpentAccount, userID)}}
}

// QueueLockForAward queues the lock LockAccounts takes. A transaction that both posts a
// hold (user and spent shard) and awards points (issuance shard and user) in two
// statements would otherwise take the three rows in an order that depends on the
// statements, and deadlock with one that takes them in another.
func QueueLockForAward(b *pgx.Batch, userID int64) {
	b.Queue(lockAllSQL, lockAllArgs(userID)...)
}

// LockAccounts locks, in id order, the user's account and the user's issuance and spent
// shards, for a transaction that will move points between more than two of them in
// separate statements (a refund gives back spent points and takes back earned ones). Every
// such transaction takes this lock first, so they all take the rows in one order.
func LockAccounts(ctx context.Context, q Querier, userID int64) error {
	if _, err := q.Exec(ctx, lockAllSQL, lockAllArgs(userID)...); err != nil {
		return fmt.Errorf("lock the points accounts of user %d: %w", userID, err)
	}
	return nil
}

// postSQL posts a pending transfer: its held points leave the debit account, which
// leaves every balance the CHECKs look at as it was.
const postSQL = `
	WITH t AS (
		UPDATE points_transfers SET status = 'posted', updated_at = now() WHERE id = $1 AND status = 'pending'
		RETURNING debit_account_id, credit_account_id, amount
	), locked AS MATERIALIZED (
		SELECT a.id FROM points_accounts a, t WHERE a.id IN (t.debit_account_id, t.credit_account_id) ORDER BY a.id FOR NO KEY UPDATE
	)
	UPDATE points_accounts a SET
		debits_pending  = a.debits_pending  - CASE WHEN a.id = t.debit_account_id  THEN t.amount ELSE 0 END,
		debits_posted   = a.debits_posted   + CASE WHEN a.id = t.debit_account_id  THEN t.amount ELSE 0 END,
		credits_pending = a.credits_pending - CASE WHEN a.id = t.credit_account_id THEN t.amount ELSE 0 END,
		credits_posted  = a.credits_posted  + CASE WHEN a.id = t.credit_account_id THEN t.amount ELSE 0 END,
		updated_at = now()
	FROM locked, t WHERE a.id = locked.id`

// QueuePost queues on b the posting of a pending transfer (a hold). Unlike Post, the
// transfer must be pending: the batch fails with ErrNotPending otherwise, since a caller
// that holds the order a hold belongs to knows it is.
func QueuePost(b *pgx.Batch, transferID int64) {
	b.Queue(postSQL, transferID).Exec(func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() != 2 {
			return fmt.Errorf("post transfer %d: %w", transferID, ErrNotPending)
		}
		return nil
	})
}
