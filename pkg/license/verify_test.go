package license

import (
	"crypto/ed25519"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func TestVerify(t *testing.T) {
	ed := newEd25519Key(t, "k-ed")
	ec := newP256Key(t, "k-ec")
	other := newEd25519Key(t, "k-ed") // same kid, different key
	stranger := newEd25519Key(t, "k-unknown")
	keys := keySetOf(t, ed, ec)

	claims := sampleClaims()
	good := sign(t, ed, claims, signOptions{})
	edPub := []byte(ed.public().(ed25519.PublicKey))

	tampered := claims
	tampered.Licenses = []Grant{{Name: "main", StartsAt: 0, Features: []string{"everything"}}}

	noExp := claims
	noExp.Expiry, noExp.NotBefore = 0, 0

	exp := time.Unix(claims.Expiry, 0)
	nbf := time.Unix(claims.NotBefore, 0)

	tests := []struct {
		name     string
		token    string
		noKeys   bool
		now      time.Time
		opts     []Option
		wantCode Code // "" means success
		wantMsg  string
	}{
		{name: "valid EdDSA", token: good},
		{name: "valid ES256", token: sign(t, ec, claims, signOptions{})},
		{name: "surrounding whitespace (file content)", token: "\n" + good + "\n"},
		{name: "typ with application/ prefix", token: sign(t, ed, claims, signOptions{typ: strPtr("application/license+JWT")})},
		{name: "no exp or nbf never lapses", token: sign(t, ed, noExp, signOptions{}), now: testNow.AddDate(50, 0, 0)},
		{name: "aud as a single string", token: sign(t, ed, []byte(`{"iss":"x","aud":"acme-db"}`), signOptions{}), opts: []Option{WithAudience("acme-db")}},

		{name: "signed by another key with the trusted kid", token: sign(t, other, claims, signOptions{}), wantCode: CodeSignatureInvalid, wantMsg: `trusted key "k-ed"`},
		{name: "unknown kid", token: sign(t, stranger, claims, signOptions{}), wantCode: CodeUnknownKey, wantMsg: `key "k-unknown" which is not in the trusted key set`},
		{name: "nil key set", token: good, noKeys: true, wantCode: CodeUnknownKey, wantMsg: "no trusted keys configured"},
		{name: "missing kid", token: sign(t, ed, claims, signOptions{kid: strPtr("")}), wantCode: CodeMalformed, wantMsg: `no "kid"`},
		{name: "missing typ", token: sign(t, ed, claims, signOptions{typ: strPtr("")}), wantCode: CodeMalformed, wantMsg: "typ"},
		{name: "wrong typ", token: sign(t, ed, claims, signOptions{typ: strPtr("JWT")}), wantCode: CodeMalformed, wantMsg: `typ is "JWT"`},
		{name: "alg none", token: unsignedToken(`{"alg":"none","typ":"license+jwt","kid":"k-ed"}`, `{"sub":"globex"}`), wantCode: CodeSignatureInvalid, wantMsg: `algorithm "none"`},
		{name: "alg none with a signature", token: unsignedToken(`{"alg":"none","typ":"license+jwt","kid":"k-ed"}`, `{"sub":"globex"}`) + "AAAA", wantCode: CodeSignatureInvalid},
		{name: "HS256 keyed with the public key", token: sign(t, ed, claims, signOptions{alg: jose.HS256, key: edPub}), wantCode: CodeSignatureInvalid, wantMsg: `"HS256"`},
		{name: "RS256 header", token: unsignedToken(`{"alg":"RS256","typ":"license+jwt","kid":"k-ed"}`, `{}`) + "AAAA", wantCode: CodeSignatureInvalid},
		{name: "EdDSA header on an ECDSA key", token: sign(t, ed, claims, signOptions{kid: strPtr("k-ec")}), wantCode: CodeSignatureInvalid, wantMsg: `"k-ec" is an ES256 key`},
		{name: "ES256 header on an Ed25519 key", token: sign(t, ec, claims, signOptions{kid: strPtr("k-ed")}), wantCode: CodeSignatureInvalid},
		{name: "tampered payload", token: replacePayload(t, good, tampered), wantCode: CodeSignatureInvalid},
		{name: "truncated signature", token: good[:len(good)-10], wantCode: CodeSignatureInvalid},
		{name: "signature removed", token: good[:strings.LastIndex(good, ".")+1], wantCode: CodeSignatureInvalid},
		{name: "truncated to two parts", token: good[:strings.LastIndex(good, ".")], wantCode: CodeMalformed},
		{name: "truncated inside the header", token: good[:10], wantCode: CodeMalformed},
		{name: "empty", token: "", wantCode: CodeMalformed},
		{name: "garbage", token: "not a token", wantCode: CodeMalformed},
		{name: "JWS JSON serialization", token: `{"payload":"e30","protected":"e30","signature":""}`, wantCode: CodeMalformed},
		{name: "header is not JSON", token: "bm90IGpzb24.e30.AAAA", wantCode: CodeMalformed},
		{name: "too large", token: strings.Repeat("a", maxTokenSize+1), wantCode: CodeMalformed},
		{name: "signed payload is not JSON", token: sign(t, ed, []byte("hello"), signOptions{}), wantCode: CodeMalformed, wantMsg: "not a JSON object"},
		{name: "signed payload is null", token: sign(t, ed, []byte("null"), signOptions{}), wantCode: CodeMalformed},
		{name: "signed payload has wrong types", token: sign(t, ed, []byte(`{"exp":"tomorrow"}`), signOptions{}), wantCode: CodeMalformed},
		{name: "signed payload repeats a claim", token: sign(t, ed, []byte(`{"exp":1,"exp":4102444800}`), signOptions{}), wantCode: CodeMalformed, wantMsg: "duplicate"},
		{name: "signed payload repeats a claim in another case", token: sign(t, ed, []byte(`{"exp":1,"EXP":4102444800}`), signOptions{}), wantCode: CodeMalformed, wantMsg: "duplicate"},
		{name: "signed payload has invalid UTF-8", token: sign(t, ed, []byte("{\"sub\":\"\xff\"}"), signOptions{}), wantCode: CodeMalformed, wantMsg: "UTF-8"},
		{name: "claim names match case-insensitively", token: sign(t, ed, []byte(`{"EXP":1}`), signOptions{}), wantCode: CodeExpired},

		{name: "expired", token: good, now: exp.Add(DefaultLeeway + time.Second), wantCode: CodeExpired, wantMsg: "token expired at"},
		{name: "expired but within default leeway", token: good, now: exp.Add(DefaultLeeway)},
		{name: "expired beyond a smaller leeway", token: good, now: exp.Add(2 * time.Second), opts: []Option{WithLeeway(time.Second)}, wantCode: CodeExpired},
		{name: "expired within a larger leeway", token: good, now: exp.Add(time.Hour), opts: []Option{WithLeeway(2 * time.Hour)}},
		{name: "negative leeway is zero", token: good, now: exp.Add(time.Second), opts: []Option{WithLeeway(-time.Hour)}, wantCode: CodeExpired},
		{name: "not yet valid", token: good, now: nbf.Add(-DefaultLeeway - time.Second), wantCode: CodeNotYetValid, wantMsg: "not valid before"},
		{name: "before nbf but within leeway", token: good, now: nbf.Add(-DefaultLeeway)},

		{name: "issuer matches", token: good, opts: []Option{WithIssuer(IssuerPrefix + "licensing/acme-db")}},
		{name: "issuer differs", token: good, opts: []Option{WithIssuer(IssuerPrefix + "licensing/other")}, wantCode: CodeMalformed, wantMsg: "issuer"},
		{name: "audience matches", token: good, opts: []Option{WithAudience("acme-db")}},
		{name: "audience differs", token: good, opts: []Option{WithAudience("other-product")}, wantCode: CodeMalformed, wantMsg: `"other-product"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks := keys
			if tt.noKeys {
				ks = nil
			}
			now := tt.now
			if now.IsZero() {
				now = testNow
			}
			got, err := Verify(tt.token, ks, now, tt.opts...)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Verify() error = %v, want success", err)
				}
				if got == nil {
					t.Fatal("Verify() returned nil claims without error")
				}
				return
			}
			if CodeOf(err) != tt.wantCode {
				t.Fatalf("Verify() error = %v, want code %s", err, tt.wantCode)
			}
			if _, ok := errors.AsType[*Error](err); !ok {
				t.Errorf("Verify() error %T is not an *Error", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Verify() error = %q, want it to mention %q", err, tt.wantMsg)
			}
			// Only lifetime failures come with (verified) claims.
			if lifetime := tt.wantCode == CodeExpired || tt.wantCode == CodeNotYetValid; lifetime != (got != nil) {
				t.Errorf("Verify() claims = %v with code %s", got, tt.wantCode)
			}
		})
	}
}

func TestVerifyReturnsClaims(t *testing.T) {
	ed := newEd25519Key(t, "k-ed")
	want := sampleClaims()
	got, err := Verify(sign(t, ed, want, signOptions{}), keySetOf(t, ed), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("Verify() claims = %+v, want %+v", *got, want)
	}
}

func TestVerifyKeyRotation(t *testing.T) {
	old, current := newEd25519Key(t, "k-old"), newP256Key(t, "k-new")
	keys := keySetOf(t, current, old)
	for _, k := range []signingKey{old, current} {
		if _, err := Verify(sign(t, k, sampleClaims(), signOptions{}), keys, testNow); err != nil {
			t.Errorf("token signed with %s: %v", k.kid, err)
		}
	}
}

func TestErrorFormatAndUnwrap(t *testing.T) {
	cause := errors.New("boom")
	err := error(&Error{Code: CodeMalformed, Message: "token is bad; fix it", Err: cause})
	if got, want := err.Error(), "MALFORMED: token is bad; fix it: boom"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, cause) {
		t.Error("errors.Is(err, cause) = false, want true")
	}
	if got := (&Error{Code: CodeExpired, Message: "m"}).Error(); got != "EXPIRED: m" {
		t.Errorf("Error() without cause = %q", got)
	}

	tests := []struct {
		err  error
		want Code
	}{
		{nil, ""},
		{errors.New("plain"), ""},
		{err, CodeMalformed},
		{errors.Join(errors.New("ctx"), &Error{Code: CodeExpired}), CodeExpired},
	}
	for _, tt := range tests {
		if got := CodeOf(tt.err); got != tt.want {
			t.Errorf("CodeOf(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
