// Package joselibs measures the JOSE libraries and JSON decoders pkg/license
// could verify license tokens with, on the same token, against raw
// ed25519.Verify. It is its own module so that the candidates it compares never
// enter kubelicense's dependencies. See docs/performance.md.
//
//	cd test/bench/joselibs && GOMAXPROCS=1 go test -run '^$' -bench . -benchmem -count 10
package joselibs

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	json2 "github.com/go-json-experiment/json"
	gojson "github.com/goccy/go-json"
	"github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/kubelicense/kubelicense/pkg/license"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// fixture is an Ed25519 license token shaped like the operator's (typ, kid,
// one license), its public key as a trusted KeySet and its parts for the baseline.
type fixture struct {
	token string
	pub   ed25519.PublicKey
	keys  *license.KeySet
	input []byte // signing input: header.payload
	sig   []byte
}

func newFixture(b *testing.B) fixture {
	b.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	const kid = "k-20261123-7f3a9b2c1d4e"
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv},
		(&jose.SignerOptions{}).WithType(license.TokenType).WithHeader("kid", kid))
	if err != nil {
		b.Fatal(err)
	}
	payload, err := json.Marshal(sampleClaims())
	if err != nil {
		b.Fatal(err)
	}
	jwsObj, err := signer.Sign(payload)
	if err != nil {
		b.Fatal(err)
	}
	token, err := jwsObj.CompactSerialize()
	if err != nil {
		b.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: kid, Algorithm: string(jose.EdDSA), Use: "sig"}}})
	if err != nil {
		b.Fatal(err)
	}
	keys, err := license.ParseJWKS(jwks)
	if err != nil {
		b.Fatal(err)
	}
	dot := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	return fixture{token: token, pub: pub, keys: keys, input: []byte(token[:dot]), sig: sig}
}

func sampleClaims() license.Claims {
	iat := now.Add(-time.Hour).Unix()
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).Unix()
	until := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC).Unix()
	return license.Claims{
		Issuer: license.IssuerPrefix + "licensing/acme-db", Subject: "globex", Audience: []string{"acme-db"},
		ID: "serial-0001", IssuedAt: iat, NotBefore: iat, Expiry: now.Add(23 * time.Hour).Unix(),
		Licensee: license.LicenseeInfo{Name: "globex", DisplayName: "Globex Corp.", ExternalID: "crm-00042"},
		Product:  license.ProductInfo{Name: "acme-db", DisplayName: "Acme DB"},
		Licenses: []license.Grant{{
			Name: "main", Template: "enterprise-annual", Type: "Subscription",
			StartsAt: start, ValidUntil: until, GraceUntil: until + 7*24*3600,
			Features: []string{"backup", "replication"}, Quotas: map[string]int64{"nodes": 20},
		}},
		Features: []string{"backup", "replication"},
		Quotas:   map[string]int64{"nodes": 20},
	}
}

// BenchmarkEd25519Verify is the baseline: the signature check alone.
func BenchmarkEd25519Verify(b *testing.B) {
	f := newFixture(b)
	for b.Loop() {
		if !ed25519.Verify(f.pub, f.input, f.sig) {
			b.Fatal("signature does not verify")
		}
	}
}

// BenchmarkLicenseVerify is what pkg/license ships: go-jose, then the claims
// with encoding/json/v2, then the checks.
func BenchmarkLicenseVerify(b *testing.B) {
	f := newFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := license.Verify(f.token, f.keys, now); err != nil {
			b.Fatal(err)
		}
	}
}

// candidate is one way of doing the same work once.
type candidate struct {
	name string
	run  func() error
}

func runEach(b *testing.B, candidates []candidate) {
	for _, c := range candidates {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The claims decoders, each with the options pkg/license would need.
var (
	decodeStd    = func(p []byte, c *license.Claims) error { return json.Unmarshal(p, c) }
	decodeJSONv2 = func(p []byte, c *license.Claims) error {
		return json2.Unmarshal(p, c, json2.MatchCaseInsensitiveNames(true))
	}
	decodeGoccy = func(p []byte, c *license.Claims) error { return gojson.Unmarshal(p, c) }
)

// The libraries alone: parse, read the header, verify; claims left undecoded.
func BenchmarkLibrary(b *testing.B) {
	f := newFixture(b)
	parser, token := newJWTParser(), []byte(f.token)
	runEach(b, []candidate{
		{"go-jose-v4", func() error { _, err := goJoseVerify(f); return err }},
		{"golang-jwt-v5", func() error { return golangJWTVerify(f, parser, &rawClaims{}) }},
		// A lower bound for jwx: it verifies with the one key and does not read kid.
		{"jwx-v3", func() error {
			_, err := jws.Verify(token, jws.WithKey(jwa.EdDSA(), f.pub), jws.WithCompact())
			return err
		}},
	})
}

// The fastest pairs found: each library with the faster claims decoder.
func BenchmarkLibraryAndClaims(b *testing.B) {
	f := newFixture(b)
	parser := newJWTParser()
	runEach(b, []candidate{
		{"go-jose-v4+goccy", func() error {
			payload, err := goJoseVerify(f)
			if err != nil {
				return err
			}
			var c license.Claims
			return decodeGoccy(payload, &c)
		}},
		{"golang-jwt-v5+json-v2", func() error { return golangJWTVerify(f, parser, &decodedClaims{decode: decodeJSONv2}) }},
		{"golang-jwt-v5+goccy", func() error { return golangJWTVerify(f, parser, &decodedClaims{decode: decodeGoccy}) }},
	})
}

// BenchmarkClaims decodes the token's payload into license.Claims.
func BenchmarkClaims(b *testing.B) {
	payload, err := json.Marshal(sampleClaims())
	if err != nil {
		b.Fatal(err)
	}
	decoder := func(decode func([]byte, *license.Claims) error) func() error {
		return func() error { var c license.Claims; return decode(payload, &c) }
	}
	runEach(b, []candidate{
		{"encoding-json", decoder(decodeStd)},
		{"json-v2", decoder(decodeJSONv2)},
		{"goccy", decoder(decodeGoccy)},
	})
}

var algs = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256}

func goJoseVerify(f fixture) ([]byte, error) {
	obj, err := jose.ParseSignedCompact(f.token, algs)
	if err != nil {
		return nil, err
	}
	if obj.Signatures[0].Protected.KeyID == "" {
		return nil, jose.ErrCryptoFailure
	}
	return obj.Verify(f.pub)
}

func newJWTParser() *jwt.Parser {
	return jwt.NewParser(jwt.WithValidMethods([]string{"EdDSA", "ES256"}), jwt.WithoutClaimsValidation())
}

func golangJWTVerify(f fixture, parser *jwt.Parser, claims jwt.Claims) error {
	_, err := parser.ParseWithClaims(f.token, claims, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid == "" {
			return nil, jwt.ErrTokenUnverifiable
		}
		return f.pub, nil
	})
	return err
}

// rawClaims satisfies jwt.Claims and keeps the payload undecoded.
type rawClaims struct{ payload []byte }

func (c *rawClaims) UnmarshalJSON(p []byte) error                 { c.payload = p; return nil }
func (c *rawClaims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (c *rawClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (c *rawClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c *rawClaims) GetIssuer() (string, error)                   { return "", nil }
func (c *rawClaims) GetSubject() (string, error)                  { return "", nil }
func (c *rawClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// decodedClaims decodes the payload into license.Claims with its decoder.
type decodedClaims struct {
	rawClaims
	decode func([]byte, *license.Claims) error
	claims license.Claims
}

func (c *decodedClaims) UnmarshalJSON(p []byte) error { return c.decode(p, &c.claims) }
