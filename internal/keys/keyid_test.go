package keys

import (
	"crypto"
	"errors"
	"testing"
	"time"
)

func TestKeyID(t *testing.T) {
	edSuffix := thumbprintHex(t, rfc8037Thumbprint)[:12]
	ecSuffix := rfcP256ThumbprintHex()[:12]
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		pub       crypto.PublicKey
		createdAt time.Time
		want      string
	}{
		{"Ed25519 (RFC 8037 vector)", rfcEd25519Key(t).Public(), testCreatedAt, "k-20261123-" + edSuffix},
		{"ECDSA P-256 (RFC 7517 vector)", rfcP256Key(t).Public(), testCreatedAt, "k-20261123-" + ecSuffix},
		{"date is the UTC date", rfcEd25519Key(t).Public(), time.Date(2026, 11, 23, 20, 30, 0, 0, newYork), "k-20261124-" + edSuffix},
		{"time of day does not matter", rfcEd25519Key(t).Public(), testCreatedAt.Add(13 * time.Hour), "k-20261123-" + edSuffix},
		{"literal, to catch a change of format", rfcEd25519Key(t).Public(), time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC), "k-20300102-90facafea9b1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := KeyID(tt.pub, tt.createdAt)
			if err != nil {
				t.Fatalf("KeyID: %v", err)
			}
			if got != tt.want {
				t.Errorf("KeyID = %q, want %q", got, tt.want)
			}
			if !keyIDPattern.MatchString(got) {
				t.Errorf("KeyID %q does not match %s", got, keyIDPattern)
			}
			again, _ := KeyID(tt.pub, tt.createdAt)
			if again != got {
				t.Errorf("KeyID is not deterministic: %q then %q", got, again)
			}
		})
	}
}

func TestKeyIDErrors(t *testing.T) {
	rsaKey, p384 := unsupportedKeys()

	tests := []struct {
		name      string
		pub       crypto.PublicKey
		createdAt time.Time
		wantErr   error
	}{
		{"zero creation time", rfcEd25519Key(t).Public(), time.Time{}, nil},
		{"P-384", p384.Public(), testCreatedAt, ErrUnsupportedKeyType},
		{"RSA", rsaKey.Public(), testCreatedAt, ErrUnsupportedKeyType},
		{"private key instead of public", rfcP256Key(t), testCreatedAt, ErrUnsupportedKeyType},
		{"nil", nil, testCreatedAt, ErrUnsupportedKeyType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := KeyID(tt.pub, tt.createdAt)
			if err == nil {
				t.Fatalf("KeyID = %q, want an error", id)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("KeyID error %q is not %v", err, tt.wantErr)
			}
		})
	}
}

func TestCheckKeyIDMatches(t *testing.T) {
	pub := rfcEd25519Key(t).Public()
	id, err := KeyID(pub, testCreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	other := rfcP256Key(t).Public()

	tests := []struct {
		name    string
		id      string
		pub     crypto.PublicKey
		wantErr bool
	}{
		{"own id", id, pub, false},
		{"other date, same thumbprint", "k-19991231" + id[len("k-20261123"):], pub, false},
		{"another key's id", id, other, true},
		{"malformed id", "k-2026-11-23-7f3a", pub, true},
		{"upper-case hex", "k-20261123-" + "ABCDEFABCDEF", pub, true},
		{"empty", "", pub, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkKeyIDMatches(tt.id, tt.pub)
			if (err != nil) != tt.wantErr {
				t.Fatalf("checkKeyIDMatches(%q) = %v, want error %v", tt.id, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Errorf("error %q is not ErrCorrupt", err)
			}
		})
	}
}
