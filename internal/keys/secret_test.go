package keys

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestKeySecretDataRoundTrip(t *testing.T) {
	for _, alg := range []Algorithm{Ed25519, ECDSAP256} {
		t.Run(string(alg), func(t *testing.T) {
			key, err := Generate(alg, testCreatedAt, nil)
			if err != nil {
				t.Fatal(err)
			}
			data, err := EncodeKeySecretData(key)
			if err != nil {
				t.Fatalf("EncodeKeySecretData: %v", err)
			}
			wantKeys := []string{"current", key.ID + ".created", key.ID + ".pem"}
			if got := slices.Sorted(maps.Keys(data)); !slices.Equal(got, wantKeys) {
				t.Errorf("data keys = %v, want %v", got, wantKeys)
			}
			if got := string(data["current"]); got != key.ID {
				t.Errorf("current = %q, want %q", got, key.ID)
			}
			if got := string(data[key.ID+".created"]); got != "2026-11-23T10:00:00Z" {
				t.Errorf("created = %q, want RFC 3339 UTC", got)
			}

			decoded, err := DecodeKeySecretData(data)
			if err != nil {
				t.Fatalf("DecodeKeySecretData: %v", err)
			}
			if decoded.ID != key.ID || decoded.Algorithm != key.Algorithm || !decoded.CreatedAt.Equal(key.CreatedAt) {
				t.Errorf("decoded %s, want %s", decoded, key)
			}
			assertSameKey(t, decoded.Signer, key.Signer)
		})
	}
}

func TestDecodeKeySecretDataTolerates(t *testing.T) {
	key := signingKeyFor(t, ECDSAP256)
	importedID := "k-20200101" + key.ID[len("k-20261123"):]
	tests := []struct {
		name   string
		mutate func(data map[string][]byte)
		wantID string
	}{
		{"trailing newline in current", func(d map[string][]byte) { d["current"] = []byte(key.ID + "\n") }, key.ID},
		{"unknown extra data keys", func(d map[string][]byte) { d["note"] = []byte("restored from backup") }, key.ID},
		{"id with another date", func(d map[string][]byte) { rename(d, key.ID, importedID) }, importedID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := mustEncode(t, key)
			tt.mutate(data)
			got, err := DecodeKeySecretData(data)
			if err != nil {
				t.Fatalf("DecodeKeySecretData: %v", err)
			}
			if got.ID != tt.wantID {
				t.Errorf("ID = %q, want %q", got.ID, tt.wantID)
			}
		})
	}
}

func TestDecodeKeySecretDataErrors(t *testing.T) {
	key := signingKeyFor(t, Ed25519)
	other := signingKeyFor(t, ECDSAP256)
	rsaKey, p384 := unsupportedKeys()

	tests := []struct {
		name     string
		mutate   func(data map[string][]byte)
		alsoErr  error
		wantText string
	}{
		{"empty Secret", func(d map[string][]byte) { clear(d) }, nil, `"current"`},
		{"no current", func(d map[string][]byte) { delete(d, "current") }, nil, `"current"`},
		{"blank current", func(d map[string][]byte) { d["current"] = []byte(" \n") }, nil, `"current"`},
		{"current names absent key", func(d map[string][]byte) { d["current"] = []byte(other.ID) }, nil, other.ID + ".pem"},
		{"PEM not PEM", func(d map[string][]byte) { d[key.ID+".pem"] = []byte("garbage") }, ErrNoPEM, key.ID + ".pem"},
		{"PEM corrupt", func(d map[string][]byte) { d[key.ID+".pem"] = pemBlock("PRIVATE KEY", []byte{0x30, 0x03, 1, 2, 3}) }, nil, key.ID + ".pem"},
		{"PEM is RSA", func(d map[string][]byte) { d[key.ID+".pem"] = mustPKCS8PEM(t, rsaKey) }, ErrUnsupportedKeyType, "RSA"},
		{"PEM is P-384", func(d map[string][]byte) { d[key.ID+".pem"] = mustPKCS8PEM(t, p384) }, ErrUnsupportedKeyType, "P-384"},
		{"PEM is another key", func(d map[string][]byte) { d[key.ID+".pem"] = mustPEM(t, other.Signer) }, nil, "does not match"},
		{"malformed id", func(d map[string][]byte) { rename(d, key.ID, "k-2026-11-23-7f3a") }, nil, "k-2026-11-23-7f3a"},
		{"no created", func(d map[string][]byte) { delete(d, key.ID+".created") }, nil, key.ID + ".created"},
		{"bad created", func(d map[string][]byte) { d[key.ID+".created"] = []byte("yesterday") }, nil, "RFC 3339"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := mustEncode(t, key)
			tt.mutate(data)
			got, err := DecodeKeySecretData(data)
			if err == nil {
				t.Fatalf("DecodeKeySecretData = %s, want an error", got)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("error %q is not ErrCorrupt", err)
			}
			if tt.alsoErr != nil && !errors.Is(err, tt.alsoErr) {
				t.Errorf("error %q is not %v", err, tt.alsoErr)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
			for name, value := range data {
				if strings.HasSuffix(name, ".pem") {
					assertNoKeyMaterial(t, err.Error(), value)
				}
			}
		})
	}
}

func TestEncodeKeySecretDataErrors(t *testing.T) {
	mislabelled := *signingKeyFor(t, Ed25519)
	mislabelled.Algorithm = ECDSAP256
	wrongID := *signingKeyFor(t, Ed25519)
	wrongID.ID = signingKeyFor(t, ECDSAP256).ID
	noTime := *signingKeyFor(t, Ed25519)
	noTime.CreatedAt = time.Time{}
	noSigner := *signingKeyFor(t, Ed25519)
	noSigner.Signer = nil

	tests := []struct {
		name string
		key  *SigningKey
	}{
		{"nil key", nil},
		{"no signer", &noSigner},
		{"algorithm mislabelled", &mislabelled},
		{"id of another key", &wrongID},
		{"no creation time", &noTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := EncodeKeySecretData(tt.key)
			if err == nil {
				t.Fatalf("EncodeKeySecretData wrote %d entries, want an error", len(data))
			}
			if tt.key != nil && tt.key.Signer != nil {
				assertNoKeyMaterial(t, err.Error(), mustPEM(t, tt.key.Signer))
			}
		})
	}
}

func mustEncode(t *testing.T, key *SigningKey) map[string][]byte {
	t.Helper()
	data, err := EncodeKeySecretData(key)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// rename moves a key's entries to another id, as a hand edit of the Secret would.
func rename(data map[string][]byte, from, to string) {
	data["current"] = []byte(to)
	for _, suffix := range []string{".pem", ".created"} {
		data[to+suffix] = data[from+suffix]
		delete(data, from+suffix)
	}
}
