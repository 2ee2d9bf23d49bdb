package keys

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
)

// PEM block types.
const (
	pemPKCS8     = "PRIVATE KEY"
	pemSEC1      = "EC PRIVATE KEY"
	pemPKCS1     = "RSA PRIVATE KEY"
	pemEncrypted = "ENCRYPTED PRIVATE KEY"
	pemOpenSSH   = "OPENSSH PRIVATE KEY"
)

// MarshalPrivateKeyPEM encodes an Ed25519 or ECDSA P-256 key as a PKCS#8
// "PRIVATE KEY" PEM block.
func MarshalPrivateKeyPEM(signer crypto.Signer) ([]byte, error) {
	if _, err := algorithmOfPrivateKey(signer); err != nil {
		return nil, fmt.Errorf("marshal signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		// x509's message names only the key type, never its bytes.
		return nil, fmt.Errorf("marshal signing key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPKCS8, Bytes: der}), nil
}

// ParsePrivateKeyPEM reads an Ed25519 or ECDSA P-256 private key from PKCS#8
// ("PRIVATE KEY") or, for P-256, SEC 1 ("EC PRIVATE KEY") PEM, as written by
// `openssl genpkey` and `openssl ecparam -genkey`. Other PEM blocks (certificates,
// EC parameters) are skipped. Errors wrap ErrNoPEM, ErrCorrupt or
// ErrUnsupportedKeyType and never contain key material.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, Algorithm, error) {
	block, err := privateKeyBlock(data)
	if err != nil {
		return nil, "", fmt.Errorf("parse signing key: %w", err)
	}
	key, err := parsePrivateKeyBlock(block)
	if err != nil {
		return nil, "", fmt.Errorf("parse signing key: %w", err)
	}
	alg, err := algorithmOfPrivateKey(key)
	if err != nil {
		return nil, "", fmt.Errorf("parse signing key: %w", err)
	}
	return key.(crypto.Signer), alg, nil
}

// privateKeyBlock finds the single private key block in data.
func privateKeyBlock(data []byte) (*pem.Block, error) {
	var found *pem.Block
	var skipped []string
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if !isPrivateKeyBlock(block.Type) {
			skipped = append(skipped, block.Type)
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: more than one private key in the PEM data; keep only the signing key", ErrCorrupt)
		}
		found = block
	}
	if found == nil {
		if len(skipped) > 0 {
			return nil, fmt.Errorf("%w: the PEM holds only %s", ErrNoPEM, quoteBlockTypes(skipped))
		}
		return nil, ErrNoPEM
	}
	return found, nil
}

func isPrivateKeyBlock(blockType string) bool {
	switch blockType {
	case pemPKCS8, pemSEC1, pemPKCS1, pemEncrypted, pemOpenSSH:
		return true
	}
	return false
}

// parsePrivateKeyBlock decodes the DER in block. x509's parse errors are not
// wrapped: they can quote ASN.1 details of the input, and the input is a secret.
func parsePrivateKeyBlock(block *pem.Block) (any, error) {
	switch block.Type {
	case pemPKCS8:
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: PEM block %q is not a PKCS#8 Ed25519 or ECDSA P-256 key", ErrCorrupt, block.Type)
		}
		return key, nil
	case pemSEC1:
		key, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: PEM block %q is not a SEC 1 EC private key on a known curve", ErrCorrupt, block.Type)
		}
		return key, nil
	case pemPKCS1:
		return nil, fmt.Errorf("%w: found an RSA private key (PKCS#1); use an Ed25519 or ECDSA P-256 key", ErrUnsupportedKeyType)
	case pemEncrypted:
		return nil, fmt.Errorf("%w: found an encrypted PKCS#8 key; decrypt it first (openssl pkey -in key.pem -out plain.pem); use an Ed25519 or ECDSA P-256 key", ErrUnsupportedKeyType)
	case pemOpenSSH:
		return nil, fmt.Errorf("%w: found an OpenSSH private key; convert it to PKCS#8 PEM; use an Ed25519 or ECDSA P-256 key", ErrUnsupportedKeyType)
	default:
		return nil, fmt.Errorf("%w: PEM block %q is not a private key", ErrNoPEM, block.Type)
	}
}

// quoteBlockTypes lists PEM block types for a message, each cut to a sane length.
func quoteBlockTypes(types []string) string {
	quoted := make([]string, len(types))
	for i, t := range types {
		quoted[i] = fmt.Sprintf("%.40q", t)
	}
	return strings.Join(quoted, ", ")
}
