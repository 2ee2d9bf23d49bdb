package keys

import (
	"crypto"
	"encoding/json"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
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

// ParseJWKS reads a JWKS written by MarshalJWKS, keeping its order. It rejects
// sets a verifier could not use unambiguously: private key material, unsupported
// key types, missing or duplicate kids, or an alg or use that contradicts the key.
func ParseJWKS(data []byte) ([]PublicKey, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("parse JWKS: %w: %w", ErrCorrupt, err)
	}
	pubs := make([]PublicKey, 0, len(set.Keys))
	seen := make(map[string]bool, len(set.Keys))
	for i, jwk := range set.Keys {
		pub, err := publicKeyFromJWK(jwk)
		if err != nil {
			return nil, fmt.Errorf("parse JWKS: key %d: %w", i, err)
		}
		if err := checkPublicKey(pub, seen); err != nil {
			return nil, fmt.Errorf("parse JWKS: key %d: %w", i, err)
		}
		pubs = append(pubs, pub)
	}
	return pubs, nil
}

func publicKeyFromJWK(jwk jose.JSONWebKey) (PublicKey, error) {
	if !jwk.IsPublic() {
		// Name the kid only: the key itself is exactly what must not be echoed.
		return PublicKey{}, fmt.Errorf("%w: %q is not a public key; a JWKS must hold public keys only", ErrCorrupt, jwk.KeyID)
	}
	alg, err := algorithmOfPublicKey(jwk.Key)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%q: %w", jwk.KeyID, err)
	}
	if jwk.Algorithm != "" && jwk.Algorithm != string(alg.JWSAlgorithm()) {
		return PublicKey{}, fmt.Errorf("%w: %q is an %s key but says alg %q", ErrCorrupt, jwk.KeyID, alg, jwk.Algorithm)
	}
	if jwk.Use != "" && jwk.Use != jwkUseSignature {
		return PublicKey{}, fmt.Errorf("%w: %q has use %q, want %q", ErrCorrupt, jwk.KeyID, jwk.Use, jwkUseSignature)
	}
	return PublicKey{ID: jwk.KeyID, Algorithm: alg, Key: jwk.Key}, nil
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
