package token

import (
	"fmt"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kubelicense/kubelicense/internal/keys"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// ResponseSigner signs license API answers: a detached compact JWS (RFC 7515
// appendix F, "<protected>..<signature>") over the exact body bytes, with
// alg and kid as for license tokens and typ license.ResponseTokenType.
// It is safe for concurrent use.
type ResponseSigner struct {
	keyID  string
	signer jose.Signer
}

// NewResponseSigner prepares the signer of key once, so each answer costs one
// signature and no key handling.
func NewResponseSigner(key *keys.SigningKey) (*ResponseSigner, error) {
	if key == nil || key.Signer == nil || key.ID == "" {
		return nil, fmt.Errorf("response signer: no signing key")
	}
	alg := key.Algorithm.JWSAlgorithm()
	if alg == "" {
		return nil, fmt.Errorf("response signer: signing key %s: unknown algorithm %q", key.ID, key.Algorithm)
	}
	options := (&jose.SignerOptions{}).WithType(jose.ContentType(license.ResponseTokenType))
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: alg,
		Key:       jose.JSONWebKey{Key: key.Signer, KeyID: key.ID},
	}, options)
	if err != nil {
		return nil, fmt.Errorf("response signer: signing key %s (%s): %w", key.ID, key.Algorithm, err)
	}
	return &ResponseSigner{keyID: key.ID, signer: signer}, nil
}

// KeyID is the id of the key that signs.
func (s *ResponseSigner) KeyID() string { return s.keyID }

// SignDetached returns the detached compact JWS over body.
func (s *ResponseSigner) SignDetached(body []byte) (string, error) {
	jws, err := s.signer.Sign(body)
	if err != nil {
		return "", fmt.Errorf("sign answer with key %s: %w", s.keyID, err)
	}
	sig, err := jws.DetachedCompactSerialize()
	if err != nil {
		return "", fmt.Errorf("serialize answer signature: %w", err)
	}
	return sig, nil
}
