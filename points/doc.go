// Package points is the double-entry points ledger. Every movement of points is an
// immutable transfer that debits one account and credits another by the same amount, so
// the balances of all accounts always sum to zero; users earn points from the issuance
// account (Award) and spend them into the spent account (Spend, or Hold then Post).
//
// A transfer is either posted at once or pending: a pending transfer (a hold, such as an
// order's points deduction) counts against the debit account immediately and moves the
// points only when posted; voiding it gives them back. Each account row carries four
// running totals (debits/credits, pending/posted), and a CHECK on the row forbids a user
// account from debiting more than it was credited, so no interleaving of transactions
// can overspend: the database is the authority and ErrInsufficient is its refusal.
//
// Transfers are idempotent by a client-chosen id: a retried job or a duplicate callback
// finds the transfer it made the first time instead of making a second.
//
// Every operation takes a Querier, so points move in the same transaction as the order,
// payment or grade that causes them. Given a pgx.Tx, the operations that write run inside
// a savepoint, so a refusal (ErrInsufficient, ErrNotPending, ...) leaves the caller's
// transaction usable; given a pool or a connection they run in a transaction of their
// own.
//
// Known limit: every award locks the issuance account row and every spend the spent
// account row until the surrounding transaction commits, so awards (and spends) across
// all users are serialized on those rows. Keep the transactions that move points short;
// BenchmarkSpend measures the ceiling.
package points
