package points

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Report is what Verify found.
type Report struct {
	Accounts, Transfers int
	// Problems describes each way the ledger is out of balance; empty when it is not.
	Problems []string
}

// Verify checks the whole ledger: that all accounts together balance (posted credits
// equal posted debits, pending credits equal pending debits); that each account's four
// totals equal what its transfers add up to (posted transfers in the posted columns,
// pending ones in the pending columns, voided ones nowhere); and that no user account has
// spent or held more than it was credited. It reports every problem found and returns an
// error only when the check itself could not run.
//
// Given a pool or a connection, Verify reads one snapshot (a repeatable-read
// transaction), so transfers committing meanwhile cannot make it see a half-applied
// ledger; given a pgx.Tx it reads what that transaction sees.
func Verify(ctx context.Context, q Querier) (Report, error) {
	type txBeginner interface {
		BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
	}
	if b, ok := q.(txBeginner); ok {
		tx, err := b.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return Report{}, fmt.Errorf("verify ledger: begin: %w", err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // read only: nothing to keep or lose
		q = tx
	}
	var r Report
	if err := verifyTotals(ctx, q, &r); err != nil {
		return Report{}, fmt.Errorf("verify ledger totals: %w", err)
	}
	if err := verifyAccounts(ctx, q, &r); err != nil {
		return Report{}, fmt.Errorf("verify accounts against transfers: %w", err)
	}
	if err := verifyOverspent(ctx, q, &r); err != nil {
		return Report{}, fmt.Errorf("verify user balances: %w", err)
	}
	return r, nil
}

func verifyTotals(ctx context.Context, q Querier, r *Report) error {
	var posted, creditsPending, debitsPending int64
	err := q.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM points_accounts),
		       (SELECT count(*) FROM points_transfers),
		       coalesce(sum(credits_posted - debits_posted), 0)::bigint,
		       coalesce(sum(credits_pending), 0)::bigint,
		       coalesce(sum(debits_pending), 0)::bigint
		FROM points_accounts`).Scan(&r.Accounts, &r.Transfers, &posted, &creditsPending, &debitsPending)
	if err != nil {
		return err
	}
	if posted != 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("posted balances of all accounts sum to %d, not 0", posted))
	}
	if creditsPending != debitsPending {
		r.Problems = append(r.Problems, fmt.Sprintf("pending credits total %d but pending debits total %d", creditsPending, debitsPending))
	}
	return nil
}

func verifyAccounts(ctx context.Context, q Querier, r *Report) error {
	rows, err := q.Query(ctx, `
		WITH legs AS (
			SELECT debit_account_id AS id, amount AS debit, 0::bigint AS credit, status FROM points_transfers
			UNION ALL
			SELECT credit_account_id, 0, amount, status FROM points_transfers
		), sums AS (
			SELECT id,
				coalesce(sum(debit)  FILTER (WHERE status = 'pending'), 0)::bigint AS debits_pending,
				coalesce(sum(debit)  FILTER (WHERE status = 'posted'), 0)::bigint  AS debits_posted,
				coalesce(sum(credit) FILTER (WHERE status = 'pending'), 0)::bigint AS credits_pending,
				coalesce(sum(credit) FILTER (WHERE status = 'posted'), 0)::bigint  AS credits_posted
			FROM legs GROUP BY id
		)
		SELECT a.id, a.code,
			a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted,
			coalesce(s.debits_pending, 0), coalesce(s.debits_posted, 0),
			coalesce(s.credits_pending, 0), coalesce(s.credits_posted, 0)
		FROM points_accounts a LEFT JOIN sums s ON s.id = a.id
		WHERE (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
			IS DISTINCT FROM (coalesce(s.debits_pending, 0), coalesce(s.debits_posted, 0),
			                  coalesce(s.credits_pending, 0), coalesce(s.credits_posted, 0))
		ORDER BY a.id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	names := [4]string{"debits_pending", "debits_posted", "credits_pending", "credits_posted"}
	for rows.Next() {
		var id int64
		var code string
		var have, want [4]int64
		if err := rows.Scan(&id, &code, &have[0], &have[1], &have[2], &have[3], &want[0], &want[1], &want[2], &want[3]); err != nil {
			return err
		}
		for i := range names {
			if have[i] != want[i] {
				r.Problems = append(r.Problems, fmt.Sprintf("account %d (%s): %s is %d but its transfers add up to %d", id, code, names[i], have[i], want[i]))
			}
		}
	}
	return rows.Err()
}

func verifyOverspent(ctx context.Context, q Querier, r *Report) error {
	// The table's CHECK forbids this; looking anyway catches a dropped or disabled CHECK.
	rows, err := q.Query(ctx, `
		SELECT id, code, debits_posted, debits_pending, credits_posted FROM points_accounts
		WHERE kind = 'user' AND debits_posted + debits_pending > credits_posted ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, debitsPosted, debitsPending, creditsPosted int64
		var code string
		if err := rows.Scan(&id, &code, &debitsPosted, &debitsPending, &creditsPosted); err != nil {
			return err
		}
		r.Problems = append(r.Problems, fmt.Sprintf("account %d (%s) is overspent: %d posted and %d pending debits exceed %d credits", id, code, debitsPosted, debitsPending, creditsPosted))
	}
	return rows.Err()
}
