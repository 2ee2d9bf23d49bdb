// Package keys holds the signing keys of a Product: generation, key ids, PEM
// encoding, the layout of the signing-key Secret and the public JWKS. It is pure
// code: no Kubernetes client, no Kubernetes types.
package keys

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// Algorithm is a signing algorithm as spelled in the Product CRD (spec.signing.algorithm).
type Algorithm string

const (
	Ed25519   Algorithm = "Ed25519"
	ECDSAP256 Algorithm = "ECDSA-P256"
)

// Sentinel errors, for errors.Is. Messages built on them never contain key material.
var (
	// ErrNoPEM: the input holds no PEM block with a private key.
	ErrNoPEM = errors.New("no PEM private key found")
	// ErrCorrupt: key data is present but does not parse or is inconsistent.
	ErrCorrupt = errors.New("key data is corrupt")
	// ErrUnsupportedKeyType: a well-formed key of a type kubelicense does not sign with.
	ErrUnsupportedKeyType = errors.New("unsupported key type")
)

// JWSAlgorithm is the JOSE "alg" for a, or "" when a is not a known Algorithm.
func (a Algorithm) JWSAlgorithm() jose.SignatureAlgorithm {
	switch a {
	case Ed25519:
		return jose.EdDSA
	case ECDSAP256:
		return jose.ES256
	default:
		return ""
	}
}

// algorithmOfPublicKey maps a public key to the Algorithm that signs for it.
func algorithmOfPublicKey(pub any) (Algorithm, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", fmt.Errorf("%w: Ed25519 public key has %d bytes, want %d", ErrCorrupt, len(k), ed25519.PublicKeySize)
		}
		return Ed25519, nil
	case *ecdsa.PublicKey:
		if k != nil && k.Curve == elliptic.P256() {
			return ECDSAP256, nil
		}
	}
	return "", unsupportedKeyError(pub)
}

// algorithmOfPrivateKey maps a private key to the Algorithm that signs with it.
func algorithmOfPrivateKey(priv any) (Algorithm, error) {
	switch k := priv.(type) {
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return "", fmt.Errorf("%w: Ed25519 private key has the wrong length", ErrCorrupt)
		}
		return Ed25519, nil
	case *ecdsa.PrivateKey:
		if k != nil && k.Curve == elliptic.P256() {
			return ECDSAP256, nil
		}
	}
	return "", unsupportedKeyError(priv)
}

func unsupportedKeyError(key any) error {
	return fmt.Errorf("%w: found %s; use an Ed25519 or ECDSA P-256 key", ErrUnsupportedKeyType, describeKeyType(key))
}

// describeKeyType names a key's type and size for error messages. It reads only
// public parameters (curve, modulus length), never key material.
func describeKeyType(key any) string {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return "RSA " + rsaSize(&k.PublicKey) + " private key"
	case *rsa.PublicKey:
		return "RSA " + rsaSize(k) + " public key"
	case *ecdsa.PrivateKey:
		return "ECDSA " + curveName(k.Curve) + " private key"
	case *ecdsa.PublicKey:
		return "ECDSA " + curveName(k.Curve) + " public key"
	case *ecdh.PrivateKey:
		return fmt.Sprintf("ECDH %s private key", k.Curve())
	case *ecdh.PublicKey:
		return fmt.Sprintf("ECDH %s public key", k.Curve())
	case ed25519.PrivateKey:
		return "Ed25519 private key"
	case ed25519.PublicKey:
		return "Ed25519 public key"
	case nil:
		return "no key"
	default:
		return fmt.Sprintf("%T", key)
	}
}

func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil {
		return "unknown-curve"
	}
	return c.Params().Name
}

func rsaSize(k *rsa.PublicKey) string {
	if k == nil || k.N == nil {
		return "unknown-size"
	}
	return fmt.Sprintf("%d-bit", k.N.BitLen())
}
