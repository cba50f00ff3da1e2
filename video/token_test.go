package video

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func testSigner(t testing.TB) *Signer {
	s, err := NewSigner(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenRoundTripAndRefusals(t *testing.T) {
	s := testSigner(t)
	now := time.Unix(1_800_000_000, 0)
	claims := Claims{VideoID: "abc123def456", UserID: 42, Expires: now.Add(time.Hour), Network: netip.MustParsePrefix("10.1.2.0/24")}
	tok, err := s.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) > 130 || strings.ContainsAny(tok, "+/=") {
		t.Errorf("token %q is not short and URL-safe", tok)
	}
	v, _ := NewVerifier(s.PublicKey(), 1000)
	got, err := v.Verify(tok, now)
	if err != nil || got != claims {
		t.Fatalf("Verify = %+v, %v; want %+v", got, err, claims)
	}
	if err := got.Authorize("abc123def456", netip.MustParseAddr("10.1.2.99")); err != nil {
		t.Errorf("same network refused: %v", err)
	}

	f := func(name string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	_, err = v.Verify(tok, now.Add(2*time.Hour))
	f("expired (remembered)", err, ErrTokenExpired)
	v2, _ := NewVerifier(s.PublicKey(), 0)
	_, err = v2.Verify(tok, now.Add(2*time.Hour))
	f("expired", err, ErrTokenExpired)
	f("other video", got.Authorize("zzz999zzz999", netip.MustParseAddr("10.1.2.99")), ErrTokenVideo)
	f("other network", got.Authorize("abc123def456", netip.MustParseAddr("10.1.3.1")), ErrTokenNetwork)

	// flip every character: no single change survives the signature check
	for i := range tok {
		b := []byte(tok)
		b[i] ^= 1
		if _, err := v2.Verify(string(b), now); err == nil {
			t.Fatalf("token tampered at %d verified", i)
		}
	}
	other, _ := NewSigner(append(make([]byte, 31), 1))
	forged, _ := other.Sign(claims)
	_, err = v2.Verify(forged, now)
	f("signed by another key", err, ErrTokenInvalid)
}

func TestParsePath(t *testing.T) {
	f := func(path string, want Request, wantErr bool) {
		t.Helper()
		got, err := ParsePath(path)
		if (err != nil) != wantErr || (!wantErr && got != want) {
			t.Errorf("ParsePath(%q) = %+v, %v; want %+v, err %v", path, got, err, want, wantErr)
		}
	}
	f("/v/TOK/abc123/master.m3u8", Request{Kind: KindMaster, Token: "TOK", VideoID: "abc123"}, false)
	f("/v/TOK/abc123/v2-720p/index.m3u8", Request{Kind: KindMedia, Token: "TOK", VideoID: "abc123", Version: 2, Rendition: "720p"}, false)
	f("/v/TOK/abc123/v2-720p/seg-00017.ts", Request{Kind: KindSegment, Token: "TOK", VideoID: "abc123", Version: 2, Rendition: "720p", Segment: 17}, false)
	f("/v/TOK/abc123/v2-720p/key", Request{Kind: KindKey, Token: "TOK", VideoID: "abc123", Version: 2, Rendition: "720p"}, false)
	for _, bad := range []string{
		"/v/TOK/abc123/../master.m3u8", "/v/TOK/ABC123/master.m3u8", "/v//abc123/master.m3u8",
		"/v/TOK/abc123/v0-720p/index.m3u8", "/v/TOK/abc123/v2-720p/seg-1.ts", "/v/TOK/abc123/v2-720p/seg-0001a.ts",
		"/v/TOK/abc123/v2-720p/index.m3u8/x", "/v/TOK/abc123/v2-72%2fp/index.m3u8", "/v/TOK/abc123/v2-720p/..",
		"/v/TOK/abc123", "/x/TOK/abc123/master.m3u8", "/v/TOK/abc123/v02-720p/key", "/v/TOK/abc123/v+1-720p/index.m3u8", "/v/TOK/abc123/v-1-720p/index.m3u8",
	} {
		f(bad, Request{}, true)
	}
}

func TestRefererPolicy(t *testing.T) {
	p := RefererPolicy{Hosts: []string{"luffycity.com", "127.0.0.1"}}
	for ref, want := range map[string]bool{
		"":                                 true,
		"https://www.luffycity.com/course": true,
		"https://luffycity.com/":           true,
		"http://127.0.0.1:8080/player":     true,
		"https://evil-luffycity.com/":      false,
		"https://luffycity.com.evil.net/":  false,
		"https://pirate.example/embed":     false,
		"not a url":                        false,
	} {
		if got := p.Allows(ref); got != want {
			t.Errorf("Allows(%q) = %v, want %v", ref, got, want)
		}
	}
	p.RequireReferer = true
	if p.Allows("") {
		t.Error("an empty Referer passed with RequireReferer")
	}
}

func FuzzParseToken(f *testing.F) {
	s := testSigner(f)
	tok, _ := s.Sign(Claims{VideoID: "abc123def456", UserID: 7, Expires: time.Unix(2_000_000_000, 0), Network: netip.MustParsePrefix("::1/128")})
	f.Add(tok)
	f.Add("")
	f.Add(strings.Repeat("A", 120))
	pub := s.PublicKey()
	f.Fuzz(func(t *testing.T, token string) {
		c, err := ParseToken(pub, token)
		if err != nil {
			if !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("error %v is not ErrTokenInvalid", err)
			}
			return
		}
		if !ValidVideoID(c.VideoID) {
			t.Fatalf("a verified token names video %q", c.VideoID)
		}
	})
}

// FuzzDecodeClaims feeds the payload decoder directly, past the signature check that
// keeps the token fuzzer from reaching it.
func FuzzDecodeClaims(f *testing.F) {
	f.Add([]byte{1, 1, 0, 0, 0, 1, 7, 6, 'a', 'b', 'c', '1', '2', '3', 24, 10, 0, 0, 0})
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, p []byte) {
		c, err := decodeClaims(p)
		if err == nil && (!ValidVideoID(c.VideoID) || c.UserID < 0) {
			t.Fatalf("decodeClaims accepted %+v", c)
		}
	})
}

func FuzzParsePath(f *testing.F) {
	for _, p := range []string{"/v/T/abc123/master.m3u8", "/v/T/abc123/v1-360p/seg-00001.ts", "/v/T/abc123/v9-720p/key", "/v/../../etc/passwd"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		r, err := ParsePath(path)
		if err != nil {
			if !errors.Is(err, ErrNoSuchPath) {
				t.Fatalf("error %v is not ErrNoSuchPath", err)
			}
			return
		}
		if strings.Contains(path, "..") || !ValidVideoID(r.VideoID) || r.Kind < KindMaster || r.Kind > KindKey {
			t.Fatalf("ParsePath(%q) accepted %+v", path, r)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	s := testSigner(b)
	now := time.Now()
	tok, _ := s.Sign(Claims{VideoID: "abc123def456", UserID: 42, Expires: now.Add(time.Hour)})
	for _, tc := range []struct {
		name     string
		remember int64
	}{{"signature", 0}, {"remembered", 10000}} {
		b.Run(tc.name, func(b *testing.B) {
			v, _ := NewVerifier(s.PublicKey(), tc.remember)
			v.Verify(tok, now)
			if v.verified != nil {
				v.verified.Wait()
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
