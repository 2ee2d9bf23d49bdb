package license

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
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
		signRaw(ed, `{"alg":"EdDSA","kid":"k-ed","typ":"license+jwt","KID":"k-ec"}`, `{"aud":"acme-db"}`),
		signRaw(ed, `{"alg":"EdDSA","kid":"k-ed","typ":"license+jwt"}`, `{"aud":"acme-db","nbf":9223372036854775807}`),
		good[:40] + "\r\n" + good[40:],
		good[:len(good)-1] + "B",
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

// FuzzDecodeClaims checks decodeClaims against encoding/json, which Verify used
// before: whatever decodeClaims accepts, encoding/json accepts and decodes to the
// same Claims. decodeClaims may reject more (duplicate names, invalid UTF-8).
func FuzzDecodeClaims(f *testing.F) {
	good, err := json.Marshal(sampleClaims())
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(good),
		`{"aud":"acme-db","Exp":5,"LICENSES":[{"quotas":{"a":1,"A":2}}]}`,
		`{"aud":null,"quotas":null,"licenses":null,"licensee":null,"iat":null}`,
		`{"iat":1.0,"exp":1e3,"nbf":-0,"licenses":[{"seats":2147483648}]}`,
		`{"e_xp":1,"licensee":{"display-name":"x"},"iſs":"k","unknown":{"x":[1,"2"]}}`,
		`{"sub":"\ud800","aud":["a",1]}`,
		"{\"sub\":\"\xff\"}",
		` {"aud":"x","AUD":["y"]} `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		got, err := decodeClaims(payload)
		if err != nil {
			if CodeOf(err) != CodeMalformed {
				t.Fatalf("decodeClaims(%q) error without MALFORMED: %v", payload, err)
			}
			return
		}
		want, err := decodeClaimsStdlib(payload)
		if err != nil {
			t.Fatalf("decodeClaims(%q) accepted what encoding/json rejects: %v", payload, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeClaims(%q) = %+v, encoding/json decodes %+v", payload, got, want)
		}
	})
}

// decodeClaimsStdlib is decodeClaims as it was written with encoding/json.
func decodeClaimsStdlib(payload []byte) (*Claims, error) {
	if p := bytes.TrimLeft(payload, " \t\r\n"); len(p) == 0 || p[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	type plainClaims Claims
	var c Claims
	wire := struct {
		*plainClaims
		Audience stdlibAudience `json:"aud"`
	}{plainClaims: (*plainClaims)(&c)}
	if err := json.Unmarshal(payload, &wire); err != nil {
		return nil, err
	}
	c.Audience = wire.Audience
	return &c, nil
}

type stdlibAudience []string

func (a *stdlibAudience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = stdlibAudience{s}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
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
