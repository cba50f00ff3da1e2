package video

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Claims is what a playback token grants: one video, to one viewer, until Expires,
// optionally only from one network.
type Claims struct {
	VideoID string
	UserID  int64 // 0: an anonymous viewer of a free preview
	Expires time.Time
	// Network, when valid, is the only client network the token plays from.
	Network netip.Prefix
}

// Errors of token checks; HTTP answers all of them with 403.
var (
	ErrTokenInvalid = errors.New("playback token is malformed or forged")
	ErrTokenExpired = errors.New("playback token has expired")
	ErrTokenVideo   = errors.New("playback token is for another video")
	ErrTokenNetwork = errors.New("playback token is for another network")
)

const (
	tokenVersion   = 1
	flagNetwork    = 1
	maxTokenLength = 256 // base64 characters; a real token is about 115
	signatureSize  = ed25519.SignatureSize
)

// tokenContext separates these signatures from anything else the key might ever sign.
var tokenContext = []byte("luffy playback token v1\x00")

// Signer issues tokens; only origins hold it.
type Signer struct{ key ed25519.PrivateKey }

// NewSigner returns a Signer for the private key made from a 32-byte seed.
func NewSigner(seed []byte) (*Signer, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("token signing seed must be %d bytes, not %d", ed25519.SeedSize, len(seed))
	}
	return &Signer{key: ed25519.NewKeyFromSeed(seed)}, nil
}

// PublicKey is what edges need to check tokens.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign encodes and signs c: a URL-safe base64 string, about 115 characters.
func (s *Signer) Sign(c Claims) (string, error) {
	if !ValidVideoID(c.VideoID) || c.UserID < 0 || c.Expires.Unix() <= 0 || c.Expires.Unix() > 1<<32-1 {
		return "", fmt.Errorf("sign token: invalid claims %+v", c)
	}
	p := make([]byte, 0, 48+signatureSize)
	flags := byte(0)
	if c.Network.IsValid() {
		flags |= flagNetwork
	}
	p = append(p, tokenVersion, flags)
	p = binary.BigEndian.AppendUint32(p, uint32(c.Expires.Unix()))
	p = binary.AppendUvarint(p, uint64(c.UserID))
	p = append(p, byte(len(c.VideoID)))
	p = append(p, c.VideoID...)
	if c.Network.IsValid() {
		n := c.Network.Masked()
		p = append(p, byte(n.Bits()))
		p = append(p, n.Addr().AsSlice()...) // 4 or 16 bytes; the length says which
	}
	p = append(p, ed25519.Sign(s.key, append(append([]byte(nil), tokenContext...), p...))...)
	return base64.RawURLEncoding.EncodeToString(p), nil
}

// Verifier checks tokens with the public key alone, and remembers tokens it has verified
// until they expire: a viewer's player asks for a segment every few seconds with the same
// token, and a signature check costs tens of microseconds.
type Verifier struct {
	key ed25519.PublicKey
	// verified maps a token to its claims; nil disables remembering (for benchmarks).
	verified *ristretto.Cache[string, *verifiedToken]
}

type verifiedToken struct {
	token  string // the whole token, so a hash collision cannot pass for a verification
	claims Claims
}

// NewVerifier returns a Verifier for key that remembers up to about rememberN tokens
// (0: remember none).
func NewVerifier(key ed25519.PublicKey, rememberN int64) (*Verifier, error) {
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("token public key must be %d bytes", ed25519.PublicKeySize)
	}
	v := &Verifier{key: key}
	if rememberN > 0 {
		c, err := ristretto.NewCache(&ristretto.Config[string, *verifiedToken]{
			NumCounters: rememberN * 10, MaxCost: rememberN, BufferItems: 64,
		})
		if err != nil {
			return nil, err
		}
		v.verified = c
	}
	return v, nil
}

// Verify checks a token's signature and expiry and returns its claims.
func (v *Verifier) Verify(token string, now time.Time) (Claims, error) {
	if v.verified != nil {
		if t, ok := v.verified.Get(token); ok && t.token == token {
			if !now.Before(t.claims.Expires) {
				return Claims{}, ErrTokenExpired
			}
			return t.claims, nil
		}
	}
	c, err := ParseToken(v.key, token)
	if err != nil {
		return Claims{}, err
	}
	if !now.Before(c.Expires) {
		return Claims{}, ErrTokenExpired
	}
	if v.verified != nil {
		v.verified.SetWithTTL(token, &verifiedToken{token: token, claims: c}, 1, c.Expires.Sub(now))
	}
	return c, nil
}

// Authorize checks that a verified token lets client play videoID.
func (c Claims) Authorize(videoID string, client netip.Addr) error {
	if c.VideoID != videoID {
		return ErrTokenVideo
	}
	if c.Network.IsValid() && !c.Network.Contains(client.Unmap()) {
		return ErrTokenNetwork
	}
	return nil
}

// ParseToken decodes a token and checks its signature; it does not check expiry.
func ParseToken(key ed25519.PublicKey, token string) (Claims, error) {
	if len(token) > maxTokenLength {
		return Claims{}, ErrTokenInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 2+4+1+1+signatureSize {
		return Claims{}, ErrTokenInvalid
	}
	p, sig := raw[:len(raw)-signatureSize], raw[len(raw)-signatureSize:]
	msg := make([]byte, 0, len(tokenContext)+len(p))
	msg = append(append(msg, tokenContext...), p...)
	if !ed25519.Verify(key, msg, sig) {
		return Claims{}, ErrTokenInvalid
	}
	c, err := decodeClaims(p)
	if err != nil {
		return Claims{}, ErrTokenInvalid
	}
	return c, nil
}

// decodeClaims parses a signed payload strictly: every byte accounted for.
func decodeClaims(p []byte) (Claims, error) {
	bad := errors.New("malformed claims")
	if len(p) < 7 || p[0] != tokenVersion || p[1]&^flagNetwork != 0 {
		return Claims{}, bad
	}
	flags := p[1]
	var c Claims
	c.Expires = time.Unix(int64(binary.BigEndian.Uint32(p[2:6])), 0)
	p = p[6:]
	uid, n := binary.Uvarint(p)
	if n <= 0 || uid > 1<<62 {
		return Claims{}, bad
	}
	c.UserID = int64(uid)
	p = p[n:]
	if len(p) < 1 || len(p) < 1+int(p[0]) {
		return Claims{}, bad
	}
	c.VideoID, p = string(p[1:1+int(p[0])]), p[1+int(p[0]):]
	if !ValidVideoID(c.VideoID) {
		return Claims{}, bad
	}
	if flags&flagNetwork != 0 {
		if len(p) != 5 && len(p) != 17 {
			return Claims{}, bad
		}
		addr, _ := netip.AddrFromSlice(p[1:])
		pfx, err := addr.Prefix(int(p[0]))
		if err != nil || int(p[0]) != pfx.Bits() {
			return Claims{}, bad
		}
		c.Network, p = pfx, nil
	}
	if len(p) != 0 {
		return Claims{}, bad
	}
	return c, nil
}

// LoadSigningSeed returns the configured token signing seed (base64), or the site's
// generated one from Postgres, creating it on first use so every origin signs alike.
func LoadSigningSeed(ctx context.Context, pool *pgxpool.Pool, configured string) ([]byte, error) {
	if configured != "" {
		seed, err := base64.StdEncoding.DecodeString(configured)
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("token key must be %d bytes in base64", ed25519.SeedSize)
		}
		return seed, nil
	}
	var seed []byte
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7261002)`); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT seed FROM token_signing_keys WHERE deleted_at IS NULL ORDER BY id LIMIT 1`).Scan(&seed)
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		seed = make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO token_signing_keys (seed, created_by_name) VALUES ($1, 'origin')`, seed)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load token signing key: %w", err)
	}
	return seed, nil
}
