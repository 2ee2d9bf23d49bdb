package license

import (
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary tokens to Verify. It must never panic, and must
// either succeed with claims or fail with a code.
func FuzzVerify(f *testing.F) {
	ed := newEd25519Key(f, "k-ed")
	ec := newP256Key(f, "k-ec")
	keys := keySetOf(f, ed, ec)
	claims := sampleClaims()
	good := sign(f, ed, claims, signOptions{})
	for _, seed := range []string{
		good,
		sign(f, ec, claims, signOptions{}),
		sign(f, ed, []byte(`{"aud":"acme-db","licenses":[{"startsAt":1}]}`), signOptions{}),
		sign(f, ed, claims, signOptions{kid: strPtr("k-ec")}),
		good[:len(good)/2],
		unsignedToken(`{"alg":"none","typ":"license+jwt","kid":"k-ed"}`, `{}`),
		unsignedToken(`{"alg":"EdDSA","typ":"license+jwt","kid":"k-ed","crit":["b64"],"b64":false}`, `{}`) + "AAAA",
		"", ".", "..", "a.b.c", "{}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := Verify(token, keys, testNow, WithAudience("acme-db"))
		if err == nil && c == nil {
			t.Fatal("Verify() returned neither claims nor error")
		}
		if err != nil && CodeOf(err) == "" {
			t.Fatalf("Verify() error without code: %v", err)
		}
		if c != nil { // exercise the helpers on whatever was accepted
			c.State(testNow)
			c.FeaturesAt(testNow)
			c.QuotasAt(testNow)
			c.ExpiresAt()
		}
	})
}

// FuzzParseBundle feeds arbitrary files to ParseBundle, whose JWKS a caller may
// choose to trust; it must never panic.
func FuzzParseBundle(f *testing.F) {
	key := newEd25519Key(f, "k-1")
	good, err := MarshalBundle(sign(f, key, sampleClaims(), signOptions{}), jwksOf(f, key))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"apiVersion":"licensing.kubelicense.io/v1alpha1","kind":"LicenseBundle","token":"a.b.c","jwks":{"keys":[{"kty":"EC"}]}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBundle(data)
		if err != nil {
			return
		}
		if _, err := b.BundledKeys(); err != nil {
			t.Fatalf("ParseBundle accepted a bundle whose keys do not parse: %v", err)
		}
		_, _ = Verify(b.Token, keySetOfOrNil(b), time.Unix(0, 0))
	})
}

func keySetOfOrNil(b *Bundle) *KeySet {
	ks, _ := b.BundledKeys()
	return ks
}
