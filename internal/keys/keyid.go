package keys

import (
	"crypto"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	keyIDDateLayout = "20060102"
	// thumbprintHexLen hex chars (48 bits) of the thumbprint: unique enough among
	// the handful of keys one Product ever has, short enough to read in status.
	thumbprintHexLen = 12
)

// keyIDPattern is what KeyID produces; it is also a valid Secret data key prefix.
var keyIDPattern = regexp.MustCompile(`^k-[0-9]{8}-[0-9a-f]{12}$`)

// KeyID is the id of a public key created at createdAt:
// "k-YYYYMMDD-" (UTC date) + the first 12 hex chars of the key's RFC 7638
// JWK thumbprint (SHA-256). The thumbprint ties the id to the key; the date
// lets people order keys at a glance.
func KeyID(pub crypto.PublicKey, createdAt time.Time) (string, error) {
	if createdAt.IsZero() {
		return "", fmt.Errorf("key id: creation time is not set")
	}
	suffix, err := thumbprintSuffix(pub)
	if err != nil {
		return "", fmt.Errorf("key id: %w", err)
	}
	return "k-" + createdAt.UTC().Format(keyIDDateLayout) + "-" + suffix, nil
}

// thumbprintSuffix is the thumbprint part of a key id.
func thumbprintSuffix(pub crypto.PublicKey) (string, error) {
	if _, err := algorithmOfPublicKey(pub); err != nil {
		return "", err
	}
	jwk := jose.JSONWebKey{Key: pub}
	thumbprint, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("%w: JWK thumbprint: %w", ErrCorrupt, err)
	}
	return hex.EncodeToString(thumbprint)[:thumbprintHexLen], nil
}

// checkKeyIDMatches reports whether id is well formed and names pub. Only the
// thumbprint is compared: the date records when the key was made, which the key
// itself cannot confirm.
func checkKeyIDMatches(id string, pub crypto.PublicKey) error {
	if !keyIDPattern.MatchString(id) {
		return fmt.Errorf("%w: key id %q is not of the form k-YYYYMMDD-<12 hex>", ErrCorrupt, id)
	}
	suffix, err := thumbprintSuffix(pub)
	if err != nil {
		return fmt.Errorf("key %s: %w", id, err)
	}
	if id[len(id)-thumbprintHexLen:] != suffix {
		return fmt.Errorf("%w: key id %s does not match its key (thumbprint %s)", ErrCorrupt, id, suffix)
	}
	return nil
}
