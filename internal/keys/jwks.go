package keys

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// jwkUseSignature is the JWK "use" of every published key.
const jwkUseSignature = "sig"

// PublicKey is one verification key as published in the JWKS.
type PublicKey struct {
	ID        string
	Algorithm Algorithm
	// Key is an ed25519.PublicKey or a P-256 *ecdsa.PublicKey.
	Key crypto.PublicKey
}

// PublicKeyOf is the public half of key.
func PublicKeyOf(key *SigningKey) PublicKey {
	return PublicKey{ID: key.ID, Algorithm: key.Algorithm, Key: key.Signer.Public()}
}

// MarshalJWKS is the JSON Web Key Set of pubs, in the given order, each key with
// kid, alg and use "sig". The output depends only on the input, so an unchanged
// key list never rewrites the ConfigMap.
func MarshalJWKS(pubs []PublicKey) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(pubs))}
	seen := make(map[string]bool, len(pubs))
	for _, pub := range pubs {
		if err := checkPublicKey(pub, seen); err != nil {
			return nil, fmt.Errorf("marshal JWKS: %w", err)
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key:       pub.Key,
			KeyID:     pub.ID,
			Algorithm: string(pub.Algorithm.JWSAlgorithm()),
			Use:       jwkUseSignature,
		})
	}
	out, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("marshal JWKS: %w", err)
	}
	return out, nil
}

// ParseJWKS reads a JWKS written by MarshalJWKS, keeping its order. It applies
// the verifiers' rules (license.ParseJWKS), so the operator reads back only
// what every verifier accepts; errors are ErrCorrupt. A set without keys is
// empty here rather than an error: it is what MarshalJWKS writes for none.
func ParseJWKS(data []byte) ([]PublicKey, error) {
	ks, err := license.ParseJWKS(data)
	if errors.Is(err, license.ErrNoKeys) {
		return []PublicKey{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	trusted := ks.Keys()
	pubs := make([]PublicKey, 0, len(trusted))
	for _, k := range trusted {
		alg, err := algorithmOfPublicKey(k.Key)
		if err != nil {
			return nil, fmt.Errorf("parse JWKS: %q: %w", k.KeyID, err)
		}
		pubs = append(pubs, PublicKey{ID: k.KeyID, Algorithm: alg, Key: k.Key})
	}
	return pubs, nil
}

// checkPublicKey rejects a key without id, a key whose Algorithm is not its
// type, and an id already in seen (which it then records).
func checkPublicKey(pub PublicKey, seen map[string]bool) error {
	if pub.ID == "" {
		return fmt.Errorf("%w: public key without kid", ErrCorrupt)
	}
	if seen[pub.ID] {
		return fmt.Errorf("%w: kid %q appears twice", ErrCorrupt, pub.ID)
	}
	seen[pub.ID] = true
	alg, err := algorithmOfPublicKey(pub.Key)
	if err != nil {
		return fmt.Errorf("%q: %w", pub.ID, err)
	}
	if alg != pub.Algorithm {
		return fmt.Errorf("%w: %q is an %s key but is labelled %s", ErrCorrupt, pub.ID, alg, pub.Algorithm)
	}
	return nil
}
