package license

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// KeySet is a trust anchor: the public keys a verifier accepts, by key ID.
// Each key is pinned to one algorithm (EdDSA for Ed25519, ES256 for ECDSA P-256),
// so a token cannot pick a weaker or different algorithm for a trusted key.
// A KeySet is immutable and safe for concurrent use.
type KeySet struct {
	keys map[string]trustedKey
	ids  []string    // sorted
	list []PublicKey // in JWKS order
}

type trustedKey struct {
	alg jose.SignatureAlgorithm
	// pub is an ed25519.PublicKey or *ecdsa.PublicKey, parsed once so Verify
	// does no key decoding.
	pub any
}

// PublicKey is one key of a KeySet.
type PublicKey struct {
	KeyID string
	// Algorithm is the one JWS algorithm the key verifies: "EdDSA" or "ES256".
	Algorithm string
	// Key is an ed25519.PublicKey or a P-256 *ecdsa.PublicKey, shared with the
	// KeySet: do not modify it.
	Key crypto.PublicKey
}

// ErrNoKeys is the ParseJWKS error for a set without keys (no "keys" member,
// or an empty one), for errors.Is.
var ErrNoKeys = errors.New("no keys")

// ParseJWKS parses a JSON Web Key Set (RFC 7517) into a KeySet.
//
// Every key must be an Ed25519 (kty OKP) or ECDSA P-256 (kty EC) public key with
// a unique "kid"; "alg", if present, must be EdDSA or ES256 to match the key,
// "use", if present, must be "sig", and "key_ops", if present, must allow
// "verify". A set holding private key material is rejected rather than trimmed
// to its public part: a trust anchor is copied into ConfigMaps, Secrets and
// bundles, so a private key in it means the signing key has leaked and must be
// rotated. Unsupported keys (RSA, symmetric, other curves) are rejected too,
// instead of being skipped, so a misconfigured anchor fails loudly rather than
// verifying fewer tokens than expected.
//
// Member names are case-sensitive, as in JOSE, and may not repeat; a member
// that differs from a JWK member only in case ("KID", "Use") is refused, and
// one spelled like a private member in any case ("D") counts as private: other
// JOSE libraries must not read the set differently.
func ParseJWKS(data []byte) (*KeySet, error) {
	var set struct {
		Keys []jsontext.Value `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("parse JWKS: expected a JSON object {\"keys\": [...]}: %w", cappedError{err})
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf(`parse JWKS: %w; a trust anchor needs at least one public key under "keys" (the product's jwks.json)`, ErrNoKeys)
	}
	ks := &KeySet{keys: make(map[string]trustedKey, len(set.Keys)), list: make([]PublicKey, 0, len(set.Keys))}
	for i, raw := range set.Keys {
		if err := checkJWKMembers(raw); err != nil {
			return nil, fmt.Errorf("parse JWKS key #%d: %w", i, err)
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			if errors.Is(err, jose.ErrUnsupportedKeyType) {
				return nil, fmt.Errorf("parse JWKS key #%d: only Ed25519 (OKP) and ECDSA P-256 (EC) public keys are accepted: %w", i, cappedError{err})
			}
			return nil, fmt.Errorf("parse JWKS key #%d: %w", i, cappedError{err})
		}
		key, err := trustedKeyFromJWK(&jwk)
		if err != nil {
			return nil, fmt.Errorf("parse JWKS key #%d (kid %s): %w", i, QuoteUntrusted(jwk.KeyID), err)
		}
		if _, dup := ks.keys[jwk.KeyID]; dup {
			return nil, fmt.Errorf("parse JWKS key #%d: duplicate kid %s; every key needs its own ID", i, QuoteUntrusted(jwk.KeyID))
		}
		ks.keys[jwk.KeyID] = key
		ks.ids = append(ks.ids, jwk.KeyID)
		ks.list = append(ks.list, PublicKey{KeyID: jwk.KeyID, Algorithm: string(key.alg), Key: key.pub})
	}
	slices.Sort(ks.ids)
	return ks, nil
}

// JWK member names (RFC 7517, RFC 7518 section 6, RFC 8037, RFC 9964).
var (
	publicJWKMembers  = []string{"kty", "use", "key_ops", "alg", "kid", "x5u", "x5c", "x5t", "x5t#S256", "crv", "x", "y", "n", "e", "pub"}
	privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"}
)

const privateKeyMaterial = "contains private or secret key material; a trust anchor must hold public keys only (publish the public JWKS, and rotate the signing key if this file was shared)"

// checkJWKMembers applies the rules on member names and key_ops that go-jose,
// which reads names case-sensitively and ignores what it does not know, leaves
// open. It names members, never their values.
func checkJWKMembers(raw jsontext.Value) error {
	var members map[string]jsontext.Value
	if err := json.Unmarshal(raw, &members); err != nil {
		return fmt.Errorf("not a JSON object with distinct member names: %w", cappedError{err})
	}
	for _, name := range slices.Sorted(maps.Keys(members)) {
		if slices.Contains(privateJWKMembers, strings.ToLower(name)) {
			return fmt.Errorf("member %s %s", QuoteUntrusted(name), privateKeyMaterial)
		}
		for _, known := range publicJWKMembers {
			if name != known && strings.EqualFold(name, known) {
				return fmt.Errorf("member %s differs from %q only in case; JWK member names are case-sensitive, so verifiers would read this key differently: spell it %q", QuoteUntrusted(name), known, known)
			}
		}
	}
	if ops, ok := members["key_ops"]; ok {
		var list []string
		if err := json.Unmarshal(ops, &list); err != nil || list == nil {
			return errors.New(`"key_ops" is not an array of strings; list "verify" in it, or leave it out`)
		}
		if !slices.Contains(list, "verify") {
			return fmt.Errorf(`"key_ops" is %s, which does not allow "verify"; a license verification key needs "verify" in key_ops, or no key_ops`, quoteList(list))
		}
		if sorted := slices.Sorted(slices.Values(list)); len(slices.Compact(sorted)) != len(list) {
			return fmt.Errorf(`"key_ops" is %s, which lists an operation twice; list each once`, quoteList(list))
		}
	}
	return nil
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

// Keys returns the trusted keys in the order of the JWKS.
func (ks *KeySet) Keys() []PublicKey {
	if ks == nil {
		return nil
	}
	return slices.Clone(ks.list)
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
		return trustedKey{}, fmt.Errorf(`"use" is %s; a license verification key must have use "sig" or none`, QuoteUntrusted(jwk.Use))
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
		return trustedKey{}, errors.New(privateKeyMaterial)
	case *rsa.PublicKey:
		return trustedKey{}, errors.New("RSA keys are not supported; only Ed25519 (EdDSA) and ECDSA P-256 (ES256) keys are accepted")
	default:
		return trustedKey{}, fmt.Errorf("key type %T is not supported; only Ed25519 (EdDSA) and ECDSA P-256 (ES256) keys are accepted", pub)
	}
	if jwk.Algorithm != "" && jwk.Algorithm != string(k.alg) {
		return trustedKey{}, fmt.Errorf(`"alg" is %s but the key can only be used with %s`, QuoteUntrusted(jwk.Algorithm), k.alg)
	}
	return k, nil
}
