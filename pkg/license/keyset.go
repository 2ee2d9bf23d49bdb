package license

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// KeySet is a trust anchor: the public keys a verifier accepts, by key ID.
// Each key is pinned to one algorithm (EdDSA for Ed25519, ES256 for ECDSA P-256),
// so a token cannot pick a weaker or different algorithm for a trusted key.
// A KeySet is immutable and safe for concurrent use.
type KeySet struct {
	keys map[string]trustedKey
	ids  []string // sorted
}

type trustedKey struct {
	alg jose.SignatureAlgorithm
	// pub is an ed25519.PublicKey or *ecdsa.PublicKey, parsed once so Verify
	// does no key decoding.
	pub any
}

// ParseJWKS parses a JSON Web Key Set (RFC 7517) into a KeySet.
//
// Every key must be an Ed25519 (kty OKP) or ECDSA P-256 (kty EC) public key with
// a unique "kid"; "alg", if present, must be EdDSA or ES256 to match the key, and
// "use", if present, must be "sig". A set holding private key material is
// rejected rather than trimmed to its public part: a trust anchor is copied into
// ConfigMaps, Secrets and bundles, so a private key in it means the signing key
// has leaked and must be rotated. Unsupported keys (RSA, symmetric, other curves)
// are rejected too, instead of being skipped, so a misconfigured anchor fails
// loudly rather than verifying fewer tokens than expected.
func ParseJWKS(data []byte) (*KeySet, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("parse JWKS: expected a JSON object {\"keys\": [...]}: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("parse JWKS: no keys; a trust anchor needs at least one public key (the product's jwks.json)")
	}
	ks := &KeySet{keys: make(map[string]trustedKey, len(set.Keys))}
	for i, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			if errors.Is(err, jose.ErrUnsupportedKeyType) {
				return nil, fmt.Errorf("parse JWKS key #%d: only Ed25519 (OKP) and ECDSA P-256 (EC) public keys are accepted: %w", i, err)
			}
			return nil, fmt.Errorf("parse JWKS key #%d: %w", i, err)
		}
		key, err := trustedKeyFromJWK(&jwk)
		if err != nil {
			return nil, fmt.Errorf("parse JWKS key #%d (kid %q): %w", i, jwk.KeyID, err)
		}
		if _, dup := ks.keys[jwk.KeyID]; dup {
			return nil, fmt.Errorf("parse JWKS key #%d: duplicate kid %q; every key needs its own ID", i, jwk.KeyID)
		}
		ks.keys[jwk.KeyID] = key
		ks.ids = append(ks.ids, jwk.KeyID)
	}
	slices.Sort(ks.ids)
	return ks, nil
}

// LoadJWKSFile reads a JWKS file (for example the mounted jwks.json of the
// product's <product>-license-keys ConfigMap) with ParseJWKS.
func LoadJWKSFile(path string) (*KeySet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read JWKS: %w", err)
	}
	ks, err := ParseJWKS(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ks, nil
}

// KeyIDs returns the IDs of the trusted keys, sorted.
func (ks *KeySet) KeyIDs() []string {
	if ks == nil {
		return nil
	}
	return slices.Clone(ks.ids)
}

func (ks *KeySet) lookup(kid string) (trustedKey, bool) {
	if ks == nil {
		return trustedKey{}, false
	}
	k, ok := ks.keys[kid]
	return k, ok
}

// trustedKeyFromJWK pins the algorithm of a parsed JWK, or says why it is not
// acceptable as a trust anchor.
func trustedKeyFromJWK(jwk *jose.JSONWebKey) (trustedKey, error) {
	if jwk.KeyID == "" {
		return trustedKey{}, errors.New(`missing "kid"; tokens name their signing key by kid, so every trusted key needs one`)
	}
	if jwk.Use != "" && jwk.Use != "sig" {
		return trustedKey{}, fmt.Errorf(`"use" is %q; a license verification key must have use "sig" or none`, jwk.Use)
	}
	var k trustedKey
	switch pub := jwk.Key.(type) {
	case ed25519.PublicKey:
		k = trustedKey{alg: jose.EdDSA, pub: pub}
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return trustedKey{}, fmt.Errorf("ECDSA curve %s is not supported; only P-256 (ES256) and Ed25519 (EdDSA) keys are accepted", pub.Curve.Params().Name)
		}
		k = trustedKey{alg: jose.ES256, pub: pub}
	case ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey, []byte:
		return trustedKey{}, errors.New("contains private or secret key material; a trust anchor must hold public keys only (publish the public JWKS, and rotate the signing key if this file was shared)")
	case *rsa.PublicKey:
		return trustedKey{}, errors.New("RSA keys are not supported; only Ed25519 (EdDSA) and ECDSA P-256 (ES256) keys are accepted")
	default:
		return trustedKey{}, fmt.Errorf("key type %T is not supported; only Ed25519 (EdDSA) and ECDSA P-256 (ES256) keys are accepted", pub)
	}
	if jwk.Algorithm != "" && jwk.Algorithm != string(k.alg) {
		return trustedKey{}, fmt.Errorf(`"alg" is %q but the key can only be used with %s`, jwk.Algorithm, k.alg)
	}
	return k, nil
}
