package license

import (
	"crypto/ecdsa"
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
