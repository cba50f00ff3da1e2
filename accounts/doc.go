// Package accounts holds users, their roles (student, tutor, admin) and bearer-token
// sessions. Passwords are stored as argon2id hashes; tokens are random 256-bit values of
// which only a SHA-256 is stored. The origin's auth middleware resolves a bearer token to a
// User through Service.Authenticate; the rest of the account features (invites, profile,
// revocation on password change) grow here with the transactional core.
package accounts
