package keys

import (
	"crypto"
	"errors"
	"strings"
	"testing"

	"github.com/kubelicense/kubelicense/pkg/license"
)

func TestMarshalJWKSGolden(t *testing.T) {
	ed := PublicKeyOf(signingKeyFor(t, Ed25519))
	ec := PublicKeyOf(signingKeyFor(t, ECDSAP256))

	got, err := MarshalJWKS([]PublicKey{ed, ec})
	if err != nil {
		t.Fatalf("MarshalJWKS: %v", err)
	}
	// x and y are the RFC 8037 / RFC 7517 published values for these keys.
	want := `{"keys":[` +
		`{"use":"sig","kty":"OKP","kid":"` + ed.ID + `","crv":"Ed25519","alg":"EdDSA","x":"` + rfc8037X + `"},` +
		`{"use":"sig","kty":"EC","kid":"` + ec.ID + `","crv":"P-256","alg":"ES256","x":"` + rfc7517X + `","y":"` + rfc7517Y + `"}` +
		`]}`
	if string(got) != want {
		t.Errorf("MarshalJWKS =\n%s\nwant\n%s", got, want)
	}

	reversed, err := MarshalJWKS([]PublicKey{ec, ed})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Index(string(reversed), ec.ID) > strings.Index(string(reversed), ed.ID) {
		t.Errorf("MarshalJWKS does not keep the given order: %s", reversed)
	}
}

func TestJWKSRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		pubs []PublicKey
	}{
		{"empty", nil},
		{"one", []PublicKey{PublicKeyOf(signingKeyFor(t, Ed25519))}},
		{"both algorithms", []PublicKey{PublicKeyOf(signingKeyFor(t, ECDSAP256)), PublicKeyOf(signingKeyFor(t, Ed25519))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := MarshalJWKS(tt.pubs)
			if err != nil {
				t.Fatalf("MarshalJWKS: %v", err)
			}
			again, _ := MarshalJWKS(tt.pubs)
			if string(again) != string(data) {
				t.Errorf("MarshalJWKS is not deterministic:\n%s\n%s", data, again)
			}
			got, err := ParseJWKS(data)
			if err != nil {
				t.Fatalf("ParseJWKS(%s): %v", data, err)
			}
			if len(got) != len(tt.pubs) {
				t.Fatalf("ParseJWKS returned %d keys, want %d", len(got), len(tt.pubs))
			}
			for i := range got {
				assertSamePublicKey(t, got[i], tt.pubs[i])
			}
		})
	}
}

func TestMarshalJWKSEmptyIsAnEmptyList(t *testing.T) {
	got, err := MarshalJWKS(nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"keys":[]}` {
		t.Errorf("MarshalJWKS(nil) = %s, want an empty key list, not null", got)
	}
}

func TestMarshalJWKSErrors(t *testing.T) {
	ed := PublicKeyOf(signingKeyFor(t, Ed25519))
	rsaKey, p384 := unsupportedKeys()
	with := func(change func(p *PublicKey)) PublicKey {
		p := ed
		change(&p)
		return p
	}

	tests := []struct {
		name    string
		pubs    []PublicKey
		wantErr error
	}{
		{"no kid", []PublicKey{with(func(p *PublicKey) { p.ID = "" })}, ErrCorrupt},
		{"duplicate kid", []PublicKey{ed, ed}, ErrCorrupt},
		{"algorithm mislabelled", []PublicKey{with(func(p *PublicKey) { p.Algorithm = ECDSAP256 })}, ErrCorrupt},
		{"unknown algorithm", []PublicKey{with(func(p *PublicKey) { p.Algorithm = "HS256" })}, ErrCorrupt},
		{"private key", []PublicKey{with(func(p *PublicKey) { p.Key = rfcEd25519Key(t) })}, ErrUnsupportedKeyType},
		{"RSA", []PublicKey{with(func(p *PublicKey) { p.Key = rsaKey.Public() })}, ErrUnsupportedKeyType},
		{"P-384", []PublicKey{with(func(p *PublicKey) { p.Key = p384.Public() })}, ErrUnsupportedKeyType},
		{"no key", []PublicKey{with(func(p *PublicKey) { p.Key = nil })}, ErrUnsupportedKeyType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := MarshalJWKS(tt.pubs)
			if err == nil {
				t.Fatalf("MarshalJWKS = %s, want an error", out)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q is not %v", err, tt.wantErr)
			}
		})
	}
}

func TestParseJWKS(t *testing.T) {
	const edX = `"kty":"OKP","crv":"Ed25519","x":"` + rfc8037X + `"`
	const ecXY = `"kty":"EC","crv":"P-256","x":"` + rfc7517X + `","y":"` + rfc7517Y + `"`
	tests := []struct {
		name    string
		input   string
		wantErr error // nil: must parse
	}{
		{"without alg and use", `{"keys":[{"kid":"a",` + edX + `}]}`, nil},
		{"extra members ignored", `{"keys":[{"kid":"a","key_ops":["verify"],` + ecXY + `}],"extra":1}`, nil},
		{"no keys member", `{}`, nil},
		{"not JSON", `jwks`, ErrCorrupt},
		{"empty", ``, ErrCorrupt},
		{"no kid", `{"keys":[{` + edX + `}]}`, ErrCorrupt},
		{"duplicate kid", `{"keys":[{"kid":"a",` + edX + `},{"kid":"a",` + ecXY + `}]}`, ErrCorrupt},
		{"alg contradicts key", `{"keys":[{"kid":"a","alg":"ES256",` + edX + `}]}`, ErrCorrupt},
		{"encryption key", `{"keys":[{"kid":"a","use":"enc",` + edX + `}]}`, ErrCorrupt},
		{"private key", `{"keys":[{"kid":"a",` + edX + `,"d":"` + rfc8037D + `"}]}`, ErrCorrupt},
		{"symmetric key", `{"keys":[{"kid":"a","kty":"oct","k":"c2VjcmV0"}]}`, ErrCorrupt},
		{"RSA key", `{"keys":[{"kid":"a","kty":"RSA","e":"AQAB","n":"` + strings.Repeat("A", 171) + `w"}]}`, ErrCorrupt},
		{"unknown kty", `{"keys":[{"kid":"a","kty":"XYZ"}]}`, ErrCorrupt},
		{"point not on curve", `{"keys":[{"kid":"a","kty":"EC","crv":"P-256","x":"` + rfc7517X + `","y":"` + rfc7517X + `"}]}`, ErrCorrupt},
		// The verifiers' rules (license.ParseJWKS), which this parse used to miss.
		{"private member spelled D", `{"keys":[{"kid":"a",` + edX + `,"D":"` + rfc8037D + `"}]}`, ErrCorrupt},
		{"key_ops without verify", `{"keys":[{"kid":"a","key_ops":["sign"],` + edX + `}]}`, ErrCorrupt},
		{"use spelled USE", `{"keys":[{"kid":"a","USE":"enc",` + edX + `}]}`, ErrCorrupt},
		{"keys spelled KEYS", `{"KEYS":[{"kid":"a",` + edX + `}],"keys":[{"kid":"a",` + ecXY + `}]}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJWKS([]byte(tt.input))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ParseJWKS: %v", err)
				}
				for _, pub := range got {
					if pub.ID != "a" || pub.Algorithm == "" {
						t.Errorf("ParseJWKS = %+v, want kid a with an algorithm", pub)
					}
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseJWKS = %+v, want an error", got)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q is not %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), rfc8037D) {
				t.Errorf("error quotes the private key: %s", err)
			}
		})
	}
}

// Whatever MarshalJWKS writes, every verifier accepts, key for key.
func TestMarshalJWKSPassesTheVerifier(t *testing.T) {
	pubs := []PublicKey{PublicKeyOf(signingKeyFor(t, ECDSAP256)), PublicKeyOf(signingKeyFor(t, Ed25519))}
	data, err := MarshalJWKS(pubs)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := license.ParseJWKS(data)
	if err != nil {
		t.Fatalf("license.ParseJWKS(MarshalJWKS()) = %v", err)
	}
	got := ks.Keys()
	if len(got) != len(pubs) {
		t.Fatalf("license.ParseJWKS kept %d keys, want %d", len(got), len(pubs))
	}
	for i, k := range got {
		assertSamePublicKey(t, PublicKey{ID: k.KeyID, Algorithm: pubs[i].Algorithm, Key: k.Key}, pubs[i])
		if k.Algorithm != string(pubs[i].Algorithm.JWSAlgorithm()) {
			t.Errorf("key %s pinned to %s, want %s", k.KeyID, k.Algorithm, pubs[i].Algorithm.JWSAlgorithm())
		}
	}
}

func assertSamePublicKey(t *testing.T, got, want PublicKey) {
	t.Helper()
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if got.ID != want.ID || got.Algorithm != want.Algorithm || !want.Key.(equaler).Equal(got.Key) {
		t.Errorf("public key %s (%s) differs from %s (%s)", got.ID, got.Algorithm, want.ID, want.Algorithm)
	}
}
