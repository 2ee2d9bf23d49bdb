package license

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestParseJWKS(t *testing.T) {
	ed := newEd25519Key(t, "k-b")
	ec := newP256Key(t, "k-a")
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := func(keys ...jose.JSONWebKey) []byte {
		data, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}

	tests := []struct {
		name    string
		data    []byte
		wantIDs []string
		wantErr string // "" means success
	}{
		{name: "Ed25519 and P-256", data: jwksOf(t, ed, ec), wantIDs: []string{"k-a", "k-b"}},
		{name: "no alg or use", data: jwks(jose.JSONWebKey{Key: ed.public(), KeyID: "k-1"}), wantIDs: []string{"k-1"}},

		{name: "not JSON", data: []byte("nope"), wantErr: "expected a JSON object"},
		{name: "no keys", data: []byte(`{"keys":[]}`), wantErr: "no keys"},
		{name: "missing keys member", data: []byte(`{}`), wantErr: "no keys"},
		{name: "missing kid", data: jwks(jose.JSONWebKey{Key: ed.public()}), wantErr: `missing "kid"`},
		{name: "duplicate kid", data: jwks(jose.JSONWebKey{Key: ed.public(), KeyID: "k"}, jose.JSONWebKey{Key: ec.public(), KeyID: "k"}), wantErr: `duplicate kid "k"`},
		{name: "Ed25519 private key", data: jwks(jose.JSONWebKey{Key: ed.priv, KeyID: "k"}), wantErr: "private or secret key material"},
		{name: "ECDSA private key", data: jwks(jose.JSONWebKey{Key: ec.priv, KeyID: "k"}), wantErr: "private or secret key material"},
		{name: "RSA private key", data: jwks(jose.JSONWebKey{Key: rsaKey, KeyID: "k"}), wantErr: "private or secret key material"},
		{name: "symmetric key", data: jwks(jose.JSONWebKey{Key: make([]byte, 32), KeyID: "k"}), wantErr: "private or secret key material"},
		{name: "RSA public key", data: jwks(jose.JSONWebKey{Key: rsaKey.Public(), KeyID: "k-rsa"}), wantErr: `(kid "k-rsa"): RSA keys are not supported`},
		{name: "P-384", data: jwks(jose.JSONWebKey{Key: p384.Public(), KeyID: "k"}), wantErr: "curve P-384 is not supported"},
		{name: "unknown kty", data: []byte(`{"keys":[{"kty":"XYZ","kid":"k"}]}`), wantErr: "key #0: only Ed25519 (OKP) and ECDSA P-256 (EC)"},
		{name: "EC curve go-jose cannot parse", data: []byte(`{"keys":[{"kty":"EC","crv":"secp256k1","kid":"k","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`), wantErr: "key #0: only Ed25519 (OKP) and ECDSA P-256 (EC)"},
		{name: "X25519 is not a signing key", data: []byte(`{"keys":[{"kty":"OKP","crv":"X25519","kid":"k","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`), wantErr: "key #0: only Ed25519"},
		{name: "low-order Ed25519 key", data: []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`), wantErr: "low-order"},
		{name: "alg contradicts key", data: jwks(jose.JSONWebKey{Key: ed.public(), KeyID: "k", Algorithm: "ES256"}), wantErr: `"alg" is "ES256" but the key can only be used with EdDSA`},
		{name: "encryption key", data: jwks(jose.JSONWebKey{Key: ec.public(), KeyID: "k", Use: "enc"}), wantErr: `"use" is "enc"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := ParseJWKS(tt.data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseJWKS() error = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseJWKS() error = %v", err)
			}
			if got := ks.KeyIDs(); !slices.Equal(got, tt.wantIDs) {
				t.Errorf("KeyIDs() = %q, want %q", got, tt.wantIDs)
			}
		})
	}
}

func TestKeyIDsIsACopy(t *testing.T) {
	ks := keySetOf(t, newEd25519Key(t, "k-1"))
	ks.KeyIDs()[0] = "changed"
	if got := ks.KeyIDs()[0]; got != "k-1" {
		t.Errorf("KeyIDs()[0] = %q after caller modified its copy", got)
	}
	if got := (*KeySet)(nil).KeyIDs(); got != nil {
		t.Errorf("nil KeySet KeyIDs() = %q, want nil", got)
	}
}

func TestLoadJWKSFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(good, jwksOf(t, newEd25519Key(t, "k-1")), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}

	if ks, err := LoadJWKSFile(good); err != nil || !slices.Equal(ks.KeyIDs(), []string{"k-1"}) {
		t.Errorf("LoadJWKSFile(good) = %v, %v", ks, err)
	}
	if _, err := LoadJWKSFile(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("LoadJWKSFile(bad) error = %v, want it to name the file", err)
	}
	if _, err := LoadJWKSFile(filepath.Join(dir, "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadJWKSFile(missing) error = %v, want not-exist", err)
	}
}

func TestParseJWKSDoesNotEchoLongInput(t *testing.T) {
	ed := newEd25519Key(t, "k-ed")
	huge := strings.Repeat("A", 100<<10)
	jwksTests := []struct {
		name string
		jwks string
	}{
		{"100 KiB kid in a bad key", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"` + huge + `","use":"enc","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`},
		{"100 KiB use", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","use":"` + huge + `","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`},
		{"100 KiB alg", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","alg":"` + huge + `","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`},
		{"100 KiB curve", `{"keys":[{"kty":"EC","crv":"` + huge + `","kid":"k","x":"AA","y":"AA"}]}`},
		{"duplicate 100 KiB kid", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"` + huge + `","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},{"kty":"OKP","crv":"Ed25519","kid":"` + huge + `","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`},
	}
	for _, tt := range jwksTests {
		t.Run("JWKS "+tt.name, func(t *testing.T) {
			_, err := ParseJWKS([]byte(tt.jwks))
			if err == nil {
				t.Fatal("ParseJWKS() accepted the set")
			}
			if n := len(err.Error()); n > maxMessage {
				t.Errorf("ParseJWKS() error is %d bytes, want at most %d: %.300s...", n, maxMessage, err)
			}
			// A bundle carrying the set reports it as MALFORMED, as briefly.
			_, err = MarshalBundle(sign(t, ed, sampleClaims(), signOptions{}), []byte(tt.jwks))
			if n := len(err.Error()); CodeOf(err) != CodeMalformed || n > maxMessage {
				t.Errorf("MarshalBundle() error is %s and %d bytes", CodeOf(err), n)
			}
		})
	}

}

func TestParseJWKSRefusesDisguisedKeys(t *testing.T) {
	const (
		edX = `"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"`
		edD = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A" // RFC 8037 A.1, the private half of edX
	)
	tests := []struct {
		name    string
		jwks    string
		wantErr string // "" means accepted
	}{
		{"control: public key", `{"keys":[{"kid":"k",` + edX + `}]}`, ""},
		{"key_ops verify", `{"keys":[{"kid":"k","key_ops":["verify"],` + edX + `}]}`, ""},

		{"private member spelled D", `{"keys":[{"kid":"k",` + edX + `,"D":"` + edD + `"}]}`, "private"},
		{"private member spelled Dp", `{"keys":[{"kid":"k",` + edX + `,"Dp":"` + edD + `"}]}`, "private"},
		{"secret member spelled K", `{"keys":[{"kid":"k",` + edX + `,"K":"c2VjcmV0"}]}`, "private"},
		{"AKP private seed spelled PRIV", `{"keys":[{"kid":"k",` + edX + `,"PRIV":"` + edD + `"}]}`, "private"},
		{"key_ops without verify", `{"keys":[{"kid":"k","key_ops":["encrypt"],` + edX + `}]}`, `"key_ops"`},
		{"key_ops empty", `{"keys":[{"kid":"k","key_ops":[],` + edX + `}]}`, `"key_ops"`},
		{"key_ops repeated", `{"keys":[{"kid":"k","key_ops":["verify","verify"],` + edX + `}]}`, `"key_ops"`},
		{"key_ops not an array", `{"keys":[{"kid":"k","key_ops":"verify",` + edX + `}]}`, `"key_ops"`},
		{"use spelled USE hides enc", `{"keys":[{"kid":"k","USE":"enc",` + edX + `}]}`, `"USE"`},
		{"alg spelled Alg hides a contradiction", `{"keys":[{"kid":"k","Alg":"ES256",` + edX + `}]}`, `"Alg"`},
		{"kid repeated", `{"keys":[{"kid":"k","kid":"other",` + edX + `}]}`, "duplicate"},
		{"keys spelled KEYS", `{"KEYS":[{"kid":"k",` + edX + `}]}`, "no keys"},
		{"keys repeated", `{"keys":[],"keys":[{"kid":"k",` + edX + `}]}`, "duplicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJWKS([]byte(tt.jwks))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseJWKS() error = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseJWKS() error = %v, want it to mention %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), edD) {
				t.Errorf("ParseJWKS() error quotes the private key: %v", err)
			}
		})
	}
}

func TestKeysInJWKSOrder(t *testing.T) {
	b, a := newEd25519Key(t, "k-b"), newP256Key(t, "k-a")
	ks := keySetOf(t, b, a)
	got := ks.Keys()
	if len(got) != 2 || got[0].KeyID != "k-b" || got[0].Algorithm != "EdDSA" || got[1].KeyID != "k-a" || got[1].Algorithm != "ES256" {
		t.Fatalf("Keys() = %+v, want k-b (EdDSA) then k-a (ES256)", got)
	}
	if !b.public().(ed25519.PublicKey).Equal(got[0].Key) || !a.public().(*ecdsa.PublicKey).Equal(got[1].Key) {
		t.Error("Keys() returned other key material than the JWKS holds")
	}
	got[0].KeyID = "changed"
	if ks.Keys()[0].KeyID != "k-b" {
		t.Error("Keys() is not a copy")
	}
	if (*KeySet)(nil).Keys() != nil {
		t.Error("nil KeySet Keys() is not nil")
	}
	for _, empty := range []string{`{}`, `{"keys":[]}`, `{"keys":null}`} {
		if _, err := ParseJWKS([]byte(empty)); !errors.Is(err, ErrNoKeys) {
			t.Errorf("ParseJWKS(%s) error = %v, want ErrNoKeys", empty, err)
		}
	}
}
