package license

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testNow is the verification moment of most tests.
var testNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// signingKey is an issuer-side key pair, as the operator holds it.
type signingKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

func (k signingKey) public() crypto.PublicKey { return k.priv.Public() }

func newEd25519Key(t testing.TB, kid string) signingKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: jose.EdDSA, priv: priv}
}

func newP256Key(t testing.TB, kid string) signingKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: jose.ES256, priv: priv}
}

// jwksOf is the public JWKS the operator publishes for keys.
func jwksOf(t testing.TB, keys ...signingKey) []byte {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func keySetOf(t testing.TB, keys ...signingKey) *KeySet {
	t.Helper()
	ks, err := ParseJWKS(jwksOf(t, keys...))
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// signOptions shape the protected header of a test token.
type signOptions struct {
	alg   jose.SignatureAlgorithm // default: the key's
	kid   *string                 // default: the key's; "" omits it
	typ   *string                 // default: TokenType; "" omits it
	key   any                     // default: the key's private key
	extra map[jose.HeaderKey]any
}

func strPtr(s string) *string { return &s }

// sign signs payload (Claims or raw []byte) with go-jose, as the operator does.
func sign(t testing.TB, k signingKey, payload any, o signOptions) string {
	t.Helper()
	alg, key, kid, typ := k.alg, any(k.priv), k.kid, TokenType
	if o.alg != "" {
		alg = o.alg
	}
	if o.key != nil {
		key = o.key
	}
	if o.kid != nil {
		kid = *o.kid
	}
	if o.typ != nil {
		typ = *o.typ
	}
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	for h, v := range o.extra {
		opts = opts.WithHeader(h, v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	body, ok := payload.([]byte)
	if !ok {
		if body, err = json.Marshal(payload); err != nil {
			t.Fatal(err)
		}
	}
	jws, err := signer.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// unsignedToken builds an "alg":"none"-style token by hand: go-jose refuses to
// produce one, which is the point.
func unsignedToken(header, payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(payload)) + "."
}

// replacePayload swaps the payload segment of token, keeping its signature.
func replacePayload(t testing.TB, token string, payload any) string {
	t.Helper()
	body, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(token, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString(body)
	return strings.Join(parts, ".")
}

// sampleClaims is a one-year subscription for globex, issued an hour before testNow.
func sampleClaims() Claims {
	iat := testNow.Add(-time.Hour).Unix()
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).Unix()
	until := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC).Unix()
	return Claims{
		Issuer:    IssuerPrefix + "licensing/acme-db",
		Subject:   "globex",
		Audience:  []string{"acme-db"},
		ID:        "serial-0001",
		IssuedAt:  iat,
		NotBefore: iat,
		Expiry:    testNow.Add(23 * time.Hour).Unix(),
		Licensee:  LicenseeInfo{Name: "globex", DisplayName: "Globex Corp.", ExternalID: "crm-00042"},
		Product:   ProductInfo{Name: "acme-db", DisplayName: "Acme DB"},
		Licenses: []Grant{{
			Name: "main", Template: "enterprise-annual", Type: "Subscription",
			StartsAt: start, ValidUntil: until, GraceUntil: until + 7*24*3600,
			Features: []string{"backup", "replication"}, Quotas: map[string]int64{"nodes": 20},
		}},
		Features: []string{"backup", "replication"},
		Quotas:   map[string]int64{"nodes": 20},
	}
}

// signRaw signs the exact header and payload bytes with an Ed25519 key, for
// headers go-jose would not write (duplicate or case-variant members).
func signRaw(k signingKey, header, payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	input := enc([]byte(header)) + "." + enc([]byte(payload))
	return input + "." + enc(ed25519.Sign(k.priv.(ed25519.PrivateKey), []byte(input)))
}

// withTrailingBits sets the unused low bits of seg's last character, which
// Go's lenient decoder ignores: same bytes, another spelling. ok is false when
// seg has no unused bits (its length is a multiple of 4).
func withTrailingBits(seg string) (string, bool) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(seg)%4 == 0 {
		return seg, false
	}
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[last|1]), true
}

// editSegment applies edit to segment i (0 header, 1 payload, 2 signature).
func editSegment(t *testing.T, token string, i int, edit func(string) string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	parts[i] = edit(parts[i])
	return strings.Join(parts, ".")
}
