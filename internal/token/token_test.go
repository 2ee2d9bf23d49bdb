package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kubelicense/kubelicense/internal/keys"
	"github.com/kubelicense/kubelicense/pkg/license"
)

var testNow = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// fullClaims sets every field, so a claim lost in signing shows up as a diff.
func fullClaims() *license.Claims {
	return &license.Claims{
		Issuer:    license.IssuerPrefix + "licensing/acme-db",
		Subject:   "globex",
		Audience:  []string{"acme-db"},
		ID:        "0123456789abcdef0123456789abcdef",
		IssuedAt:  testNow.Unix(),
		NotBefore: testNow.Unix(),
		Expiry:    testNow.Add(24 * time.Hour).Unix(),
		Licensee:  license.LicenseeInfo{Name: "globex", DisplayName: "Globex Corp.", ExternalID: "crm-00042", Suspended: true},
		Product:   license.ProductInfo{Name: "acme-db", DisplayName: "Acme DB"},
		Licenses: []license.Grant{{
			Name:           "main",
			Template:       "enterprise-annual",
			Type:           "Subscription",
			StartsAt:       testNow.Unix(),
			ValidUntil:     testNow.Add(8760 * time.Hour).Unix(),
			GraceUntil:     testNow.Add(8928 * time.Hour).Unix(),
			Features:       []string{"replication", "backup"},
			Quotas:         map[string]int64{"nodes": 20, "cores": 64},
			Seats:          5,
			MaxActivations: 3,
			Suspended:      true,
		}},
		Features: []string{"replication", "backup"},
		Quotas:   map[string]int64{"nodes": 20, "cores": 64},
	}
}

func generateKey(t testing.TB, alg keys.Algorithm) *keys.SigningKey {
	t.Helper()
	key, err := keys.Generate(alg, testNow, nil)
	if err != nil {
		t.Fatalf("generate %s key: %v", alg, err)
	}
	return key
}

func TestSignVerifiesWithGoJOSE(t *testing.T) {
	tests := []struct {
		alg     keys.Algorithm
		wantAlg jose.SignatureAlgorithm
		other   jose.SignatureAlgorithm
	}{
		{keys.Ed25519, jose.EdDSA, jose.ES256},
		{keys.ECDSAP256, jose.ES256, jose.EdDSA},
	}
	for _, tt := range tests {
		t.Run(string(tt.alg), func(t *testing.T) {
			key := generateKey(t, tt.alg)
			claims := fullClaims()
			token, err := Sign(claims, key)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if n := strings.Count(token, "."); n != 2 {
				t.Fatalf("token has %d dots, want compact serialization: %s", n, token)
			}

			jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{tt.wantAlg})
			if err != nil {
				t.Fatalf("ParseSigned: %v", err)
			}
			header := jws.Signatures[0].Protected
			if header.Algorithm != string(tt.wantAlg) || header.KeyID != key.ID || header.ExtraHeaders[jose.HeaderType] != license.TokenType {
				t.Errorf("header alg=%q kid=%q typ=%v; want %q, %q, %q",
					header.Algorithm, header.KeyID, header.ExtraHeaders[jose.HeaderType], tt.wantAlg, key.ID, license.TokenType)
			}
			payload, err := jws.Verify(key.Signer.Public())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got := decodeClaims(t, payload); !reflect.DeepEqual(got, claims) {
				t.Errorf("claims after round trip\n%+v\nwant\n%+v", got, claims)
			}

			if _, err := jws.Verify(generateKey(t, tt.alg).Signer.Public()); err == nil {
				t.Error("Verify with another key succeeded")
			}
			if _, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{tt.other}); err == nil {
				t.Errorf("ParseSigned allowing only %s accepted the token", tt.other)
			}
		})
	}
}

// The protected header carries alg, kid and typ only: no embedded jwk, which a
// careless verifier might trust instead of its pinned keys.
func TestSignHeaderMembers(t *testing.T) {
	token, err := Sign(fullClaims(), generateKey(t, keys.Ed25519))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var header map[string]any
	if err := json.Unmarshal(raw, &header); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(header)); !slices.Equal(got, []string{"alg", "kid", "typ"}) {
		t.Errorf("header members = %v, want [alg kid typ]", got)
	}
}

func TestSignIsDeterministic(t *testing.T) {
	seed := bytes.Repeat([]byte{42}, 32)
	edKey, err := keys.Generate(keys.Ed25519, testNow, bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	ecKey := generateKey(t, keys.ECDSAP256)

	first, _ := Sign(fullClaims(), edKey)
	second, _ := Sign(fullClaims(), edKey)
	if first == "" || first != second {
		t.Errorf("Ed25519 tokens for equal claims differ:\n%s\n%s", first, second)
	}
	// ECDSA signatures are randomised; header and payload must still be equal.
	first, _ = Sign(fullClaims(), ecKey)
	second, _ = Sign(fullClaims(), ecKey)
	if first == "" || signingInput(first) != signingInput(second) {
		t.Errorf("ES256 signing inputs for equal claims differ:\n%s\n%s", first, second)
	}
}

func TestSignErrors(t *testing.T) {
	good := generateKey(t, keys.Ed25519)
	with := func(change func(k *keys.SigningKey)) *keys.SigningKey {
		k := *good
		change(&k)
		return &k
	}
	tests := []struct {
		name   string
		claims *license.Claims
		key    *keys.SigningKey
	}{
		{"no claims", nil, good},
		{"no key", fullClaims(), nil},
		{"no signer", fullClaims(), with(func(k *keys.SigningKey) { k.Signer = nil })},
		{"no key id", fullClaims(), with(func(k *keys.SigningKey) { k.ID = "" })},
		{"unknown algorithm", fullClaims(), with(func(k *keys.SigningKey) { k.Algorithm = "RS256" })},
		{"algorithm mislabelled", fullClaims(), with(func(k *keys.SigningKey) { k.Algorithm = keys.ECDSAP256 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if token, err := Sign(tt.claims, tt.key); err == nil {
				t.Errorf("Sign = %q, want an error", token)
			}
		})
	}
}

func TestNewSerial(t *testing.T) {
	fixed := bytes.Repeat([]byte{0xab}, 16)
	got, err := NewSerial(bytes.NewReader(fixed))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("ab", 16); got != want {
		t.Errorf("NewSerial = %q, want %q", got, want)
	}

	if s, err := NewSerial(bytes.NewReader(fixed[:15])); err == nil {
		t.Errorf("NewSerial from 15 bytes = %q, want an error", s)
	}
	readErr := errors.New("entropy exhausted")
	if _, err := NewSerial(iotest.ErrReader(readErr)); !errors.Is(err, readErr) {
		t.Errorf("NewSerial error = %v, want it to wrap %v", err, readErr)
	}

	serialPattern := regexp.MustCompile(`^[0-9a-f]{32}$`)
	a, errA := NewSerial(nil)
	b, errB := NewSerial(nil)
	if errA != nil || errB != nil {
		t.Fatalf("NewSerial(nil): %v, %v", errA, errB)
	}
	if !serialPattern.MatchString(a) || !serialPattern.MatchString(b) || a == b {
		t.Errorf("NewSerial(nil) = %q, %q; want two different 32-char lowercase hex serials", a, b)
	}
}

func BenchmarkSign(b *testing.B) {
	key := generateKey(b, keys.Ed25519)
	claims := fullClaims()
	for b.Loop() {
		if _, err := Sign(claims, key); err != nil {
			b.Fatal(err)
		}
	}
}

func decodeClaims(t *testing.T, payload []byte) *license.Claims {
	t.Helper()
	decoder := json.NewDecoder(bytes.NewReader(payload))
	decoder.DisallowUnknownFields()
	var claims license.Claims
	if err := decoder.Decode(&claims); err != nil {
		t.Fatalf("decode claims %s: %v", payload, err)
	}
	return &claims
}

func signingInput(token string) string {
	return token[:strings.LastIndex(token, ".")]
}

// The operator never signs a token every verifier would refuse as MALFORMED.
func TestSignRefusesDatesVerifiersRefuse(t *testing.T) {
	key := generateKey(t, keys.Ed25519)
	tests := []struct {
		name string
		edit func(c *license.Claims)
	}{
		{"exp after 9999", func(c *license.Claims) { c.Expiry = license.MaxUnixTime + 1 }},
		{"nbf before 1970", func(c *license.Claims) { c.NotBefore = -1 }},
		{"startsAt before 1970", func(c *license.Claims) { c.Licenses[0].StartsAt = -86400 }},
		{"graceUntil in milliseconds", func(c *license.Claims) { c.Licenses[0].GraceUntil = testNow.UnixMilli() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fullClaims()
			tt.edit(c)
			if token, err := Sign(c, key); err == nil || !strings.Contains(err.Error(), "1970 to 9999") {
				t.Errorf("Sign() = %.20q, %v; want an error naming the date range", token, err)
			}
		})
	}
}

// Sign writes exactly the byte form license.Verify accepts, for both algorithms.
func TestSignedTokensVerify(t *testing.T) {
	for _, alg := range []keys.Algorithm{keys.Ed25519, keys.ECDSAP256} {
		key := generateKey(t, alg)
		jwks, err := keys.MarshalJWKS([]keys.PublicKey{keys.PublicKeyOf(key)})
		if err != nil {
			t.Fatal(err)
		}
		trusted, err := license.ParseJWKS(jwks)
		if err != nil {
			t.Fatal(err)
		}
		c := fullClaims()
		signed, err := Sign(c, key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := license.Verify(signed, trusted, testNow)
		if err != nil {
			t.Fatalf("%s: license.Verify(Sign()) = %v", alg, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%s: verified claims\n%+v\nwant\n%+v", alg, got, c)
		}
	}
}
