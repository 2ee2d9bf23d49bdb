package license_test

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// exampleLicense stands in for the operator: it returns the content of a
// license Secret's license.jwt and of the product's jwks.json.
func exampleLicense() (token string, jwks []byte) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)) // fixed key: reproducible output
	day := func(s string) int64 { t, _ := time.Parse(time.DateOnly, s); return t.Unix() }
	claims := license.Claims{
		Issuer: license.IssuerPrefix + "licensing/acme-db", Subject: "globex",
		Audience: []string{"acme-db"}, ID: "serial-0001", IssuedAt: day("2026-12-01"),
		Licensee: license.LicenseeInfo{Name: "globex"},
		Product:  license.ProductInfo{Name: "acme-db"},
		Licenses: []license.Grant{{
			Name: "main", Template: "enterprise-annual", Type: "Subscription",
			StartsAt: day("2026-12-01"), ValidUntil: day("2027-12-01"), GraceUntil: day("2027-12-08"),
			Features: []string{"replication", "backup"}, Quotas: map[string]int64{"nodes": 20},
		}},
	}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv},
		(&jose.SignerOptions{}).WithType(license.TokenType).WithHeader("kid", "k-2026-11-23-7f3a"))
	payload, _ := json.Marshal(claims)
	jws, _ := signer.Sign(payload)
	token, _ = jws.CompactSerialize()
	jwks, _ = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: priv.Public(), KeyID: "k-2026-11-23-7f3a", Algorithm: string(jose.EdDSA), Use: "sig",
	}}})
	return token, jwks
}

func ExampleVerify() {
	token, jwks := exampleLicense()

	// The trust anchor is pinned by the application (usually LoadJWKSFile).
	keys, err := license.ParseJWKS(jwks)
	if err != nil {
		panic(err)
	}
	now := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	claims, err := license.Verify(token, keys, now, license.WithAudience("acme-db"))
	if err != nil {
		fmt.Println("refused:", license.CodeOf(err))
		return
	}
	fmt.Println(claims.Subject, claims.State(now))
	fmt.Println("replication:", claims.Entitled("replication", now))
	nodes, _ := claims.Quota("nodes", now)
	fmt.Println("nodes:", nodes)
	// Output:
	// globex VALID
	// replication: true
	// nodes: 20
}

func ExampleCodeOf() {
	token, _ := exampleLicense()
	other, _ := license.ParseJWKS([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k-other",
		"x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))

	_, err := license.Verify(token, other, time.Now())
	switch license.CodeOf(err) {
	case license.CodeUnknownKey:
		fmt.Println("unknown key:", err)
	case "":
		fmt.Println("verified")
	default:
		fmt.Println("refused:", err)
	}
	// Output:
	// unknown key: UNKNOWN_KEY: token signed with key "k-2026-11-23-7f3a" which is not in the trusted key set ["k-other"]; update the JWKS trust anchor
}

func ExampleClaims_State() {
	token, jwks := exampleLicense()
	keys, _ := license.ParseJWKS(jwks)
	claims, _ := license.Verify(token, keys, time.Now())

	// Each license carries its window, so any moment can be decided offline.
	for _, day := range []string{"2026-11-30", "2027-06-01", "2027-12-01", "2027-12-08"} {
		at, _ := time.Parse(time.DateOnly, day)
		fmt.Println(day, claims.State(at), claims.FeaturesAt(at))
	}
	// Output:
	// 2026-11-30 NOT_YET_VALID []
	// 2027-06-01 VALID [backup replication]
	// 2027-12-01 IN_GRACE_PERIOD [backup replication]
	// 2027-12-08 EXPIRED []
}

func ExampleParseBundle() {
	token, jwks := exampleLicense()
	data, err := license.MarshalBundle(token, jwks) // what kubectl license export writes
	if err != nil {
		panic(err)
	}

	bundle, err := license.ParseBundle(data) // usually LoadBundleFile
	if err != nil {
		panic(err)
	}
	// Verify against the pinned anchor, not bundle.BundledKeys(): whoever can
	// edit the file can replace its keys too.
	anchor, _ := license.ParseJWKS(jwks)
	now := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	claims, err := license.Verify(bundle.Token, anchor, now)
	fmt.Println(bundle.Kind, claims.Subject, err)
	// Output:
	// LicenseBundle globex <nil>
}
