package points

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// beginner is what atomically needs: a pool or connection begins a transaction, a
// pgx.Tx begins a savepoint.
type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// atomically runs fn in a transaction of its own, or in a savepoint when q is already a
// transaction. The savepoint matters: a statement that fails inside the caller's
// transaction (the balance CHECK refusing a debit) would otherwise abort that whole
// transaction, and the caller could not, say, fall back to paying without points.
func atomically(ctx context.Context, q Querier, fn func(tx pgx.Tx) error) error {
	b, ok := q.(beginner)
	if !ok {
		return fmt.Errorf("points: %T cannot begin a transaction or savepoint", q)
	}
	tx, err := b.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit this is a no-op; after a failure the error that matters is fn's
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// UserAccount returns the user's account id, creating it (code "user:<id>") if missing.
// Concurrent first calls for one user create one account.
func UserAccount(ctx context.Context, q Querier, userID int64) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `SELECT id FROM points_accounts WHERE user_id = $1`, userID).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("find account of user %d: %w", userID, err)
	}
	return createUserAccount(ctx, q, userID)
}

func createUserAccount(ctx context.Context, q Querier, userID int64) (int64, error) {
	var id int64
	// In a savepoint like every write, so that a missing user (a foreign key violation)
	// does not abort the caller's transaction.
	err := atomically(ctx, q, func(tx pgx.Tx) error {
		// ON CONFLICT DO NOTHING waits for a concurrent insert of the same account to
		// commit and then yields no row; the second SELECT, a new statement, sees it.
		err := tx.QueryRow(ctx, ensureUserSQL+` RETURNING id`, userID, userCode(userID)).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			err = tx.QueryRow(ctx, `SELECT id FROM points_accounts WHERE user_id = $1`, userID).Scan(&id)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("create account of user %d: %w", userID, err)
	}
	return id, nil
}

// SystemAccount returns the id of a system account by code.
func SystemAccount(ctx context.Context, q Querier, code string) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `SELECT id FROM points_accounts WHERE code = $1 AND kind = 'system'`, code).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("find system account %q: %w", code, err)
	}
	return id, nil
}

// SystemShards is how many rows each system account is spread over (migration 00007):
// one row would make every transfer of every user wait for the one before it to commit.
const SystemShards = 32

// shardCode names the row of system account code that the user's transfers use.
func shardCode(code string, userID int64) string {
	k := userID % SystemShards
	if k < 0 {
		k = -k
	}
	if k == 0 {
		return code
	}
	return code + "#" + strconv.FormatInt(k, 10)
}

// userAndSystem resolves a user's account (creating it) and the user's shard of a system
// account in one round trip when the user already has one, which is the common case.
func userAndSystem(ctx context.Context, q Querier, userID int64, code string) (user, system int64, err error) {
	return userAndShard(ctx, q, userID, userID, code)
}

// userAndShard is userAndSystem with the shard of user via.
func userAndShard(ctx context.Context, q Querier, userID, via int64, code string) (user, system int64, err error) {
	code = shardCode(code, via)
	var u, s *int64
	err = q.QueryRow(ctx, `
		SELECT (SELECT id FROM points_accounts WHERE user_id = $1),
		       (SELECT id FROM points_accounts WHERE code = $2 AND kind = 'system')`,
		userID, code).Scan(&u, &s)
	if err != nil {
		return 0, 0, fmt.Errorf("find accounts of user %d and %q: %w", userID, code, err)
	}
	if s == nil {
		return 0, 0, fmt.Errorf("find system account %q: %w", code, pgx.ErrNoRows)
	}
	if u != nil {
		return *u, *s, nil
	}
	user, err = createUserAccount(ctx, q, userID)
	return user, *s, err
}

func validate(t Transfer) error {
	switch {
	case t.Amount <= 0:
		return fmt.Errorf("%w: amount %d is not positive", ErrInvalid, t.Amount)
	case t.DebitAccountID == t.CreditAccountID:
		return fmt.Errorf("%w: account %d cannot pay itself", ErrInvalid, t.DebitAccountID)
	case t.ClientID == "" || len(t.ClientID) > 128:
		return fmt.Errorf("%w: client id must be 1 to 128 bytes", ErrInvalid)
	case t.Kind == "":
		return fmt.Errorf("%w: missing kind", ErrInvalid)
	}
	return nil
}

// Create makes a transfer, posted at once or, when pending, as a hold to Post or Void
// later. It is idempotent by ClientID: the same client id with the same debit, credit
// and amount returns the existing transfer as it is now (possibly posted or voided since)
// with created=false; with different fields it returns ErrClientIDReused. A user debit
// beyond the available balance returns ErrInsufficient; when q is a pgx.Tx the caller's
// transaction stays usable after any error Create returns.
func Create(ctx context.Context, q Querier, t Transfer, pending bool) (Transfer, bool, error) {
	if err := validate(t); err != nil {
		return Transfer{}, false, err
	}
	var created bool
	err := atomically(ctx, q, func(tx pgx.Tx) error {
		var err error
		t, created, err = create(ctx, tx, t, pending)
		return err
	})
	if err != nil {
		return Transfer{}, false, err
	}
	return t, created, nil
}

// create is Create without the savepoint, for transfers no CHECK can refuse (a credit
// to a user from a system account): one statement, so atomic on its own, and one round
// trip where Create takes three. A failure of it aborts the caller's transaction.
func create(ctx context.Context, q Querier, t Transfer, pending bool) (Transfer, bool, error) {
	if err := validate(t); err != nil {
		return Transfer{}, false, err
	}
	t.Status = StatusPosted
	pend, post := int64(0), t.Amount
	if pending {
		t.Status = StatusPending
		pend, post = t.Amount, 0
	}
	// The transfer goes in first: a replay (no row from the insert) then leaves the
	// (hot) account rows alone, and a concurrent first attempt with the same client id
	// makes the insert wait for its outcome. The accounts are then locked in id order,
	// so two transfers between the same accounts never deadlock; NO KEY UPDATE rather
	// than UPDATE because the new transfer's foreign keys hold KEY SHARE locks on these
	// rows, which FOR UPDATE would conflict with.
	var moved int64
	err := q.QueryRow(ctx, `
		WITH t AS (
			INSERT INTO points_transfers (client_id, debit_account_id, credit_account_id, amount, status, kind, ref)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (client_id) DO NOTHING
			RETURNING id, created_at
		), locked AS MATERIALIZED (
			SELECT id FROM points_accounts WHERE id IN ($2, $3) AND EXISTS (SELECT 1 FROM t) ORDER BY id FOR NO KEY UPDATE
		), moved AS (
			UPDATE points_accounts a SET
				debits_pending  = a.debits_pending  + CASE WHEN a.id = $2 THEN $8::bigint ELSE 0 END,
				debits_posted   = a.debits_posted   + CASE WHEN a.id = $2 THEN $9::bigint ELSE 0 END,
				credits_pending = a.credits_pending + CASE WHEN a.id = $3 THEN $8::bigint ELSE 0 END,
				credits_posted  = a.credits_posted  + CASE WHEN a.id = $3 THEN $9::bigint ELSE 0 END,
				updated_at = now()
			FROM locked WHERE a.id = locked.id
			RETURNING a.id
		)
		SELECT t.id, t.created_at, (SELECT count(*) FROM moved) FROM t`,
		t.ClientID, t.DebitAccountID, t.CreditAccountID, t.Amount, t.Status, t.Kind, t.Ref, pend, post,
	).Scan(&t.ID, &t.CreatedAt, &moved)
	if errors.Is(err, pgx.ErrNoRows) {
		prev, err := byClientID(ctx, q, t.ClientID)
		if err != nil {
			return Transfer{}, false, err
		}
		if prev.DebitAccountID != t.DebitAccountID || prev.CreditAccountID != t.CreditAccountID || prev.Amount != t.Amount {
			return Transfer{}, false, fmt.Errorf("transfer %q: %w", t.ClientID, ErrClientIDReused)
		}
		return prev, false, nil
	}
	if err := balanceError(err, t.DebitAccountID, t.CreditAccountID); err != nil {
		return Transfer{}, false, fmt.Errorf("transfer %q: %w", t.ClientID, err)
	}
	if moved != 2 {
		// a missing account fails the foreign key first; this is a guard for the statement itself
		return Transfer{}, false, fmt.Errorf("transfer %q: moved %d of 2 accounts", t.ClientID, moved)
	}
	return t, true, nil
}

// balanceError is err of a statement moving points from debit to credit, with a
// refused debit (the balance CHECK) as ErrInsufficient.
func balanceError(err error, debit, credit int64) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23514" && pe.TableName == "points_accounts" {
		return fmt.Errorf("debit account %d: %w", debit, ErrInsufficient)
	}
	if err != nil {
		return fmt.Errorf("update accounts %d and %d: %w", debit, credit, err)
	}
	return nil
}

func byClientID(ctx context.Context, q Querier, clientID string) (Transfer, error) {
	var t Transfer
	err := q.QueryRow(ctx, `
		SELECT id, client_id, debit_account_id, credit_account_id, amount, status, kind, ref, created_at
		FROM points_transfers WHERE client_id = $1`, clientID,
	).Scan(&t.ID, &t.ClientID, &t.DebitAccountID, &t.CreditAccountID, &t.Amount, &t.Status, &t.Kind, &t.Ref, &t.CreatedAt)
	if err != nil {
		return Transfer{}, fmt.Errorf("find transfer %q: %w", clientID, err)
	}
	return t, nil
}

// move adds pend to the pending and post to the posted totals of both accounts, debits
// on one and credits on the other, locking both rows in id order first as create does.
func move(ctx context.Context, tx pgx.Tx, debit, credit, pend, post int64) error {
	tag, err := tx.Exec(ctx, `
		WITH locked AS MATERIALIZED (
			SELECT id FROM points_accounts WHERE id IN ($1, $2) ORDER BY id FOR NO KEY UPDATE
		)
		UPDATE points_accounts a SET
			debits_pending  = a.debits_pending  + CASE WHEN a.id = $1 THEN $3::bigint ELSE 0 END,
			debits_posted   = a.debits_posted   + CASE WHEN a.id = $1 THEN $4::bigint ELSE 0 END,
			credits_pending = a.credits_pending + CASE WHEN a.id = $2 THEN $3::bigint ELSE 0 END,
			credits_posted  = a.credits_posted  + CASE WHEN a.id = $2 THEN $4::bigint ELSE 0 END,
			updated_at = now()
		FROM locked WHERE a.id = locked.id`, debit, credit, pend, post)
	if err := balanceError(err, debit, credit); err != nil {
		return err
	}
	if tag.RowsAffected() != 2 {
		return fmt.Errorf("update accounts %d and %d: %d of 2 exist", debit, credit, tag.RowsAffected())
	}
	return nil
}

// Post turns a pending transfer into a posted one: the held points leave the debit
// account. Posting a posted transfer returns nil; posting a voided one, ErrNotPending.
func Post(ctx context.Context, q Querier, transferID int64) error {
	return settle(ctx, q, transferID, StatusPosted)
}

// Void releases a pending transfer: the held points become available again. Voiding a
// voided transfer returns nil; voiding a posted one, ErrNotPending.
func Void(ctx context.Context, q Querier, transferID int64) error {
	return settle(ctx, q, transferID, StatusVoided)
}

func settle(ctx context.Context, q Querier, transferID int64, to string) error {
	return atomically(ctx, q, func(tx pgx.Tx) error {
		var debit, credit, amount int64
		var status string
		// The row lock serializes racing Post and Void calls: the loser sees the
		// winner's status. NO KEY UPDATE, as in move, so an order referencing this
		// transfer does not block it.
		err := tx.QueryRow(ctx, `
			SELECT debit_account_id, credit_account_id, amount, status
			FROM points_transfers WHERE id = $1 FOR NO KEY UPDATE`, transferID,
		).Scan(&debit, &credit, &amount, &status)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("transfer %d: %w", transferID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("lock transfer %d: %w", transferID, err)
		}
		switch status {
		case to:
			return nil
		case StatusPending:
		default:
			return fmt.Errorf("make transfer %d %s: it is %s: %w", transferID, to, status, ErrNotPending)
		}
		if _, err := tx.Exec(ctx, `UPDATE points_transfers SET status = $2, updated_at = now() WHERE id = $1`, transferID, to); err != nil {
			return fmt.Errorf("mark transfer %d %s: %w", transferID, to, err)
		}
		post := int64(0)
		if to == StatusPosted {
			post = amount
		}
		return move(ctx, tx, debit, credit, -amount, post)
	})
}
