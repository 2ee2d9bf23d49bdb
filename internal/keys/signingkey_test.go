package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func TestGenerate(t *testing.T) {
	createdAt := time.Date(2026, 11, 23, 23, 59, 59, 999_000_000, time.FixedZone("UTC-5", -5*3600))
	for _, alg := range []Algorithm{Ed25519, ECDSAP256} {
		t.Run(string(alg), func(t *testing.T) {
			key, err := Generate(alg, createdAt, nil)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if key.Algorithm != alg {
				t.Errorf("Algorithm = %s, want %s", key.Algorithm, alg)
			}
			wantCreated := time.Date(2026, 11, 24, 4, 59, 59, 0, time.UTC)
			if !key.CreatedAt.Equal(wantCreated) || key.CreatedAt.Location() != time.UTC {
				t.Errorf("CreatedAt = %s, want %s (UTC, whole seconds)", key.CreatedAt, wantCreated)
			}
			wantID, err := KeyID(key.Signer.Public(), createdAt)
			if err != nil {
				t.Fatal(err)
			}
			if key.ID != wantID || key.ID[:11] != "k-20261124-" {
				t.Errorf("ID = %q, want %q", key.ID, wantID)
			}
			gotAlg, err := algorithmOfPrivateKey(key.Signer)
			if err != nil || gotAlg != alg {
				t.Errorf("Signer is %s (%v), want %s", describeKeyType(key.Signer), err, alg)
			}
			if err := key.check(); err != nil {
				t.Errorf("generated key fails its own check: %v", err)
			}
		})
	}
}

func TestGenerateUsesRand(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	key, err := Generate(Ed25519, testCreatedAt, bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.NewKeyFromSeed(seed).Equal(key.Signer) {
		t.Error("Ed25519 key was not derived from the given rand")
	}
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		name      string
		alg       Algorithm
		createdAt time.Time
	}{
		{"unknown algorithm", "RSA", testCreatedAt},
		{"empty algorithm", "", testCreatedAt},
		{"no creation time", Ed25519, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if key, err := Generate(tt.alg, tt.createdAt, nil); err == nil {
				t.Errorf("Generate = %s, want an error", key)
			}
		})
	}
}

func TestJWSAlgorithm(t *testing.T) {
	tests := map[Algorithm]string{Ed25519: "EdDSA", ECDSAP256: "ES256", "RSA": "", "": ""}
	for alg, want := range tests {
		if got := string(alg.JWSAlgorithm()); got != want {
			t.Errorf("%q.JWSAlgorithm() = %q, want %q", alg, got, want)
		}
	}
}

// A signing key handed to fmt, a logger or a JSON encoder must not print its private part.
func TestSigningKeyDoesNotPrintPrivateKey(t *testing.T) {
	ed := signingKeyFor(t, Ed25519)
	ec := signingKeyFor(t, ECDSAP256)
	for _, key := range []*SigningKey{ed, ec} {
		asJSON, err := json.Marshal(key)
		if err != nil {
			t.Fatal(err)
		}
		keyPEM := mustPEM(t, key.Signer)
		printed := map[string]string{
			"%v":    fmt.Sprintf("%v", key),
			"%+v":   fmt.Sprintf("%+v", *key),
			"%#v":   fmt.Sprintf("%#v", key),
			"%s":    fmt.Sprintf("%s", key),
			"json":  string(asJSON),
			"slice": fmt.Sprintf("%v", []*SigningKey{key}),
		}
		for form, out := range printed {
			assertNoKeyMaterial(t, out, keyPEM)
			assertNoKeyMaterial(t, out, privateBytes(key))
			if !bytes.Contains([]byte(out), []byte(key.ID)) {
				t.Errorf("%s form %q does not name the key id", form, out)
			}
		}
	}
}

func privateBytes(key *SigningKey) []byte {
	switch k := key.Signer.(type) {
	case ed25519.PrivateKey:
		return k
	case *ecdsa.PrivateKey:
		raw, _ := k.Bytes()
		return raw
	}
	return nil
}
