// Package token signs license tokens: compact JWS over license.Claims with the
// Product's signing key. Verification lives in pkg/license, not here.
package token

import (
	cryptorand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kubelicense/kubelicense/internal/keys"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// serialBytes of randomness in a serial: 128 bits, so serials never collide.
const serialBytes = 16

// Sign returns claims as a compact JWS signed by key, with the protected header
// alg (EdDSA or ES256), kid = key.ID and typ = license.TokenType: the only
// header license.Verify accepts. The payload is the encoding/json form of
// claims, so equal claims give equal payloads; with Ed25519 (deterministic
// signatures) they give byte-identical tokens. Claims with a date outside the
// range of license.UnixTime are refused.
func Sign(claims *license.Claims, key *keys.SigningKey) (string, error) {
	if claims == nil {
		return "", errors.New("sign token: no claims")
	}
	// Verifiers refuse such a token as MALFORMED; never issue one.
	if err := claims.CheckDates(); err != nil {
		return "", fmt.Errorf("sign token %s: %w", claims.ID, err)
	}
	signer, err := newSigner(key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("sign token %s: encode claims: %w", claims.ID, err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign token %s with key %s: %w", claims.ID, key.ID, err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("sign token %s: serialize: %w", claims.ID, err)
	}
	return compact, nil
}

// newSigner is a go-jose signer for key. Passing the key as a JWK makes go-jose
// put its id in the kid header (and not embed the key).
func newSigner(key *keys.SigningKey) (jose.Signer, error) {
	if key == nil || key.Signer == nil {
		return nil, errors.New("no signing key")
	}
	if key.ID == "" {
		return nil, errors.New("signing key has no id")
	}
	alg := key.Algorithm.JWSAlgorithm()
	if alg == "" {
		return nil, fmt.Errorf("signing key %s: unknown algorithm %q", key.ID, key.Algorithm)
	}
	options := (&jose.SignerOptions{}).WithType(jose.ContentType(license.TokenType))
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: alg,
		Key:       jose.JSONWebKey{Key: key.Signer, KeyID: key.ID},
	}, options)
	if err != nil {
		// go-jose names the algorithm or key type at fault, never key bytes.
		return nil, fmt.Errorf("signing key %s (%s): %w", key.ID, key.Algorithm, err)
	}
	return signer, nil
}

// NewSerial returns a fresh token serial (the jti claim): 128 random bits as 32
// lowercase hex characters, URL- and label-safe. rand may be nil for crypto/rand.
func NewSerial(rand io.Reader) (string, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	b := make([]byte, serialBytes)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("new token serial: %w", err)
	}
	return hex.EncodeToString(b), nil
}
