package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/luffy-edu/luffy/notify"
	"github.com/luffy-edu/luffy/points"
	"github.com/luffy-edu/luffy/storage"
)

// Role is what a user may do: students learn, tutors grade, admins run the catalog.
type Role string

const (
	RoleStudent Role = "student"
	RoleTutor   Role = "tutor"
	RoleAdmin   Role = "admin"
)

// User is the signed-in identity that handlers act for.
type User struct {
	ID         int64  `json:"id"`
	Username   string `json:"username"`
	Role       Role   `json:"role"`
	InviteCode string `json:"invite_code"`
	// InvitedBy is the user whose invite code this one registered with.
	InvitedBy *int64 `json:"invited_by,omitempty"`
}

// Errors a client can cause; the HTTP layer maps them to statuses.
var (
	ErrInvalidCredentials = errors.New("wrong username or password")
	ErrUnauthenticated    = errors.New("missing, expired or revoked token")
	ErrUsernameTaken      = errors.New("username is taken")
	// ErrBusy is a login or registration refused because password hashing is at capacity:
	// each hash takes 19 MiB and tens of milliseconds of a core, so a flood of them must
	// queue briefly or be turned away rather than take the process's memory.
	ErrBusy = errors.New("too many sign-ins at once; retry shortly")
)

// ValidationError says which field of a registration is wrong and why.
type ValidationError struct{ Field, Reason string }

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Service owns users and sessions.
type Service struct {
	pool *pgxpool.Pool
	// TokenTTL is how long a login stays valid.
	TokenTTL time.Duration
	// dummyHash is checked against when a username is unknown, so a login takes as long
	// for a missing user as for a wrong password and does not reveal who exists.
	dummyHash string
	// hashing bounds concurrent argon2 work (see ErrBusy).
	hashing chan struct{}
}

// hashSlot waits up to a second for a hashing slot; release it with the returned func.
func (s *Service) hashSlot(ctx context.Context) (func(), error) {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case s.hashing <- struct{}{}:
		return func() { <-s.hashing }, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// NewService returns a Service over pool; tokens live ttl (default 7 days).
func NewService(pool *pgxpool.Pool, ttl time.Duration) *Service {
	if ttl <= 0 {
		ttl = 7 * 24 * time.Hour
	}
	dummy, _ := HashPassword("no such user")
	return &Service{pool: pool, TokenTTL: ttl, dummyHash: dummy, hashing: make(chan struct{}, 2*runtime.NumCPU())}
}

func validUsername(s string) bool {
	if len(s) < 3 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.'
		if !ok {
			return false
		}
	}
	return true
}

// ValidateCredentials checks the shape of a username and password before any work.
func ValidateCredentials(username, password string) error {
	if !validUsername(username) {
		return &ValidationError{"username", "3 to 32 letters, digits, '_', '-' or '.'"}
	}
	if !utf8.ValidString(password) || len(password) < 8 || len(password) > 128 {
		return &ValidationError{"password", "8 to 128 bytes of UTF-8"}
	}
	return nil
}

func newInviteCode() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Register creates a student.
func (s *Service) Register(ctx context.Context, username, password string) (User, error) {
	return s.RegisterInvited(ctx, username, password, "")
}

// RegisterInvited creates a student who registered with someone's invite code (empty:
// none), records who invited them, and awards the sign-up points, all in one
// transaction. The inviter's own reward comes with the invitee's first paid order.
func (s *Service) RegisterInvited(ctx context.Context, username, password, inviteCode string) (User, error) {
	if err := ValidateCredentials(username, password); err != nil {
		return User{}, err
	}
	if len(inviteCode) > 32 {
		return User{}, &ValidationError{"invite_code", "no such invite code"}
	}
	release, err := s.hashSlot(ctx)
	if err != nil {
		return User{}, err
	}
	hash, err := HashPassword(password)
	release()
	if err != nil {
		return User{}, err
	}
	u := User{Username: username, Role: RoleStudent, InviteCode: newInviteCode()}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if inviteCode != "" {
			var inviter int64
			err := tx.QueryRow(ctx, `SELECT id FROM users WHERE invite_code = $1 AND deleted_at IS NULL`, inviteCode).Scan(&inviter)
			if errors.Is(err, pgx.ErrNoRows) {
				return &ValidationError{"invite_code", "no such invite code"}
			}
			if err != nil {
				return err
			}
			u.InvitedBy = &inviter
		}
		err := tx.QueryRow(ctx, `INSERT INTO users (username, password_hash, role, invite_code, invited_by, created_by_name)
			VALUES ($1, $2, $3, $4, $5, 'register') RETURNING id`, username, hash, RoleStudent, u.InviteCode, u.InvitedBy).Scan(&u.ID)
		if storage.IsUniqueViolation(err) {
			return ErrUsernameTaken
		}
		if err != nil {
			return fmt.Errorf("insert user %q: %w", username, err)
		}
		ref := "signup:" + strconv.FormatInt(u.ID, 10)
		earned, err := points.Award(ctx, tx, u.ID, points.RuleSignup, ref, 0)
		if err != nil {
			return err
		}
		return notify.Send(ctx, tx, u.ID, notify.KindPoints, "Welcome to Luffy",
			fmt.Sprintf("%d points are yours for signing up: use them to pay for courses.", earned),
			map[string]any{"points": earned}, "points:"+ref)
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// EnsureUser creates username with role, or resets its password and role when it exists.
// The demo seed uses it so that a second seed leaves the demo accounts usable.
func (s *Service) EnsureUser(ctx context.Context, username, password string, role Role) (User, error) {
	if err := ValidateCredentials(username, password); err != nil {
		return User{}, err
	}
	return s.upsert(ctx, username, password, role, true)
}

func (s *Service) upsert(ctx context.Context, username, password string, role Role, reset bool) (User, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return User{}, err
	}
	hash, err := HashPassword(password)
	release()
	if err != nil {
		return User{}, err
	}
	u := User{Username: username, Role: role, InviteCode: newInviteCode()}
	if reset {
		err = s.pool.QueryRow(ctx, `
			UPDATE users SET password_hash = $2, role = $3
			WHERE lower(username) = lower($1) AND deleted_at IS NULL
			RETURNING id, invite_code`, username, hash, role).Scan(&u.ID, &u.InviteCode)
		if err == nil {
			return u, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return User{}, fmt.Errorf("reset user %q: %w", username, err)
		}
	}
	err = s.pool.QueryRow(ctx, `
		INSERT INTO users (username, password_hash, role, invite_code, created_by_name)
		VALUES ($1, $2, $3, $4, 'register') RETURNING id`, username, hash, role, u.InviteCode).Scan(&u.ID)
	if storage.IsUniqueViolation(err) {
		return User{}, ErrUsernameTaken
	}
	if err != nil {
		return User{}, fmt.Errorf("insert user %q: %w", username, err)
	}
	return u, nil
}

// Login checks a password and opens a session; it answers the bearer token.
func (s *Service) Login(ctx context.Context, username, password string) (token string, expires time.Time, err error) {
	if !validUsername(username) || len(password) > 128 {
		return "", time.Time{}, ErrInvalidCredentials
	}
	release, err := s.hashSlot(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	defer release()
	var (
		id   int64
		hash string
	)
	err = s.pool.QueryRow(ctx, `
		SELECT id, password_hash FROM users
		WHERE lower(username) = lower($1) AND deleted_at IS NULL AND status = 'active'`, username).Scan(&id, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		_, _ = CheckPassword(s.dummyHash, password)
		return "", time.Time{}, ErrInvalidCredentials
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("look up user: %w", err)
	}
	ok, err := CheckPassword(hash, password)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("check password of user %d: %w", id, err)
	}
	if !ok {
		return "", time.Time{}, ErrInvalidCredentials
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", time.Time{}, err
	}
	token = base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(token))
	expires = time.Now().Add(s.TokenTTL).UTC().Truncate(time.Second)
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO sessions (user_id, token_hash, expires_at, created_by, created_by_name)
		VALUES ($1, $2, $3, $1, $4)`, id, sum[:], expires, username); err != nil {
		return "", time.Time{}, fmt.Errorf("open session: %w", err)
	}
	return token, expires, nil
}

// Authenticate resolves a bearer token to its user.
func (s *Service) Authenticate(ctx context.Context, token string) (User, error) {
	if token == "" || len(token) > 128 {
		return User{}, ErrUnauthenticated
	}
	sum := sha256.Sum256([]byte(token))
	var u User
	err := s.pool.QueryRow(ctx, `
		SELECT u.id, u.username, u.role, u.invite_code
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
		  AND u.deleted_at IS NULL AND u.status = 'active'`, sum[:]).Scan(&u.ID, &u.Username, &u.Role, &u.InviteCode)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrUnauthenticated
	}
	if err != nil {
		return User{}, fmt.Errorf("authenticate: %w", err)
	}
	return u, nil
}

// Logout revokes a token; revoking an unknown or already revoked token is not an error.
func (s *Service) Logout(ctx context.Context, token string) error {
	sum := sha256.Sum256([]byte(token))
	_, err := s.pool.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL`, sum[:])
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}
