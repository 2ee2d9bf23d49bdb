package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// SigningKey is a Product's private signing key with its id.
type SigningKey struct {
	// ID is the JWS "kid", see KeyID.
	ID        string
	Algorithm Algorithm
	// CreatedAt is in UTC, whole seconds (it round-trips through RFC 3339).
	CreatedAt time.Time
	Signer    crypto.Signer
}

// Generate creates a new key for alg. rand may be nil for crypto/rand; note that
// since Go 1.26 ECDSA key generation ignores rand and always uses a secure source.
func Generate(alg Algorithm, createdAt time.Time, rand io.Reader) (*SigningKey, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	signer, err := generateSigner(alg, rand)
	if err != nil {
		return nil, fmt.Errorf("generate %s signing key: %w", alg, err)
	}
	return NewSigningKey(signer, alg, createdAt)
}

func generateSigner(alg Algorithm, rand io.Reader) (crypto.Signer, error) {
	switch alg {
	case Ed25519:
		_, priv, err := ed25519.GenerateKey(rand)
		return priv, err
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand)
	default:
		return nil, fmt.Errorf("unknown algorithm %q: use %q or %q", alg, Ed25519, ECDSAP256)
	}
}

// NewSigningKey derives the id of signer and normalises createdAt.
func NewSigningKey(signer crypto.Signer, alg Algorithm, createdAt time.Time) (*SigningKey, error) {
	createdAt = createdAt.UTC().Truncate(time.Second)
	id, err := KeyID(signer.Public(), createdAt)
	if err != nil {
		return nil, err
	}
	return &SigningKey{ID: id, Algorithm: alg, CreatedAt: createdAt, Signer: signer}, nil
}

// check reports whether k is complete and its id and algorithm belong to its Signer.
func (k *SigningKey) check() error {
	if k == nil || k.Signer == nil {
		return fmt.Errorf("%w: no signing key", ErrCorrupt)
	}
	if k.CreatedAt.IsZero() {
		return fmt.Errorf("%w: signing key %s has no creation time", ErrCorrupt, k.ID)
	}
	alg, err := algorithmOfPrivateKey(k.Signer)
	if err != nil {
		return fmt.Errorf("signing key %s: %w", k.ID, err)
	}
	if alg != k.Algorithm {
		return fmt.Errorf("%w: signing key %s is %s, but is labelled %s", ErrCorrupt, k.ID, alg, k.Algorithm)
	}
	return checkKeyIDMatches(k.ID, k.Signer.Public())
}

// String, GoString and MarshalJSON describe the key without its private part, so
// a key passed to a logger or fmt by mistake does not leak.

func (k SigningKey) String() string {
	return fmt.Sprintf("SigningKey{ID: %s, Algorithm: %s, CreatedAt: %s}", k.ID, k.Algorithm, k.CreatedAt.Format(time.RFC3339))
}

func (k SigningKey) GoString() string { return k.String() }

func (k SigningKey) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID        string    `json:"id"`
		Algorithm Algorithm `json:"algorithm"`
		CreatedAt time.Time `json:"createdAt"`
	}{k.ID, k.Algorithm, k.CreatedAt})
}
