package points

import (
	"errors"
	"time"

	"github.com/luffy-edu/luffy/storage"
)

// Querier is what ledger operations run on: a pgx.Tx or the pool. Callers pass their tx
// so that points move in the same transaction as the order, payment or grade that causes
// it. Operations that write also need to begin a transaction or savepoint on it, which
// pgx.Tx, *pgx.Conn, *pgxpool.Conn and *pgxpool.Pool all can.
type Querier = storage.Querier

// Errors a caller can cause; the HTTP layer maps them to statuses.
var (
	// ErrInsufficient is the database refusing a debit beyond a user's available balance.
	ErrInsufficient   = errors.New("not enough points")
	ErrClientIDReused = errors.New("client id reused for a different transfer")
	ErrNotPending     = errors.New("transfer is not pending")
	ErrNotFound       = errors.New("no such transfer")
	// ErrInvalid is a transfer that could never be made: a non-positive amount, an
	// account paying itself, a missing client id or kind, an unknown rule.
	ErrInvalid = errors.New("invalid transfer")
)

// Codes of the system's own accounts, created by the migration.
const (
	IssuanceAccount = "system:issuance"
	SpentAccount    = "system:spent"
)

// KindHold is the kind of the pending transfers Hold makes.
const KindHold = "hold"

// Transfer statuses.
const (
	StatusPending = "pending"
	StatusPosted  = "posted"
	StatusVoided  = "voided"
)

// Rule is a reason to award points.
type Rule string

const (
	RuleSignup   Rule = "signup"
	RulePurchase Rule = "purchase"
	RuleHomework Rule = "homework_passed"
	RuleInvite   Rule = "invite"
)

// RuleAmount is the points rule r awards: signup 100, homework 20, invite 200, and for a
// purchase 1 point per whole yuan paid (amountFen/100, so 1.99 yuan earns 1). Unknown
// rules award 0.
func RuleAmount(r Rule, amountFen int64) int64 {
	switch r {
	case RuleSignup:
		return 100
	case RuleHomework:
		return 20
	case RuleInvite:
		return 200
	case RulePurchase:
		if amountFen <= 0 {
			return 0
		}
		return amountFen / 100
	}
	return 0
}

func knownRule(r Rule) bool {
	switch r {
	case RuleSignup, RulePurchase, RuleHomework, RuleInvite:
		return true
	}
	return false
}

// Transfer is one immutable movement of points from DebitAccountID to CreditAccountID.
// Only Status changes after creation, and only from pending.
type Transfer struct {
	ID              int64
	ClientID        string
	DebitAccountID  int64
	CreditAccountID int64
	Amount          int64
	Status          string // pending, posted, voided
	Kind, Ref       string
	CreatedAt       time.Time
}

// Balance is a user's points. Pending points are held (an unpaid order) and not
// available to spend, but have not left the account yet.
type Balance struct {
	Available int64 `json:"available"` // Posted - Pending
	Pending   int64 `json:"pending"`   // debits_pending
	Posted    int64 `json:"posted"`    // credits_posted - debits_posted
}

// Entry is a transfer as its user sees it in their history.
type Entry struct {
	ID        int64     `json:"id"`
	Amount    int64     `json:"amount"` // positive when credited to the user, negative when debited
	Status    string    `json:"status"`
	Kind      string    `json:"kind"`
	Ref       string    `json:"ref"`
	CreatedAt time.Time `json:"created_at"`
}
