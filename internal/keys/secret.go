package keys

import (
	"bytes"
	"crypto"
	"fmt"
	"time"
)

// The signing-key Secret (<product>-signing-key) holds one key:
//
//	current           the id of the current key
//	<keyID>.pem       its private key, PKCS#8 PEM
//	<keyID>.created   its creation time, RFC 3339
//
// Naming the data keys by key id keeps a restored or hand-edited Secret
// self-describing: the id written in `current` must name data that is present.
const currentDataKey = "current"

func pemDataKey(id string) string     { return id + ".pem" }
func createdDataKey(id string) string { return id + ".created" }

// EncodeKeySecretData is the Secret data for current. It fails when the key is
// incomplete or its id does not match it, because DecodeKeySecretData would
// reject what it wrote.
func EncodeKeySecretData(current *SigningKey) (map[string][]byte, error) {
	if err := current.check(); err != nil {
		return nil, fmt.Errorf("encode signing key Secret: %w", err)
	}
	keyPEM, err := MarshalPrivateKeyPEM(current.Signer)
	if err != nil {
		return nil, fmt.Errorf("encode signing key Secret: %w", err)
	}
	return map[string][]byte{
		currentDataKey:             []byte(current.ID),
		pemDataKey(current.ID):     keyPEM,
		createdDataKey(current.ID): []byte(current.CreatedAt.UTC().Format(time.RFC3339)),
	}, nil
}

// DecodeKeySecretData reads the current key back from Secret data. Errors wrap
// ErrCorrupt when an entry is missing, does not parse, or the id in `current`
// does not match the key's thumbprint. Data keys it does not know are ignored.
func DecodeKeySecretData(data map[string][]byte) (*SigningKey, error) {
	id := string(bytes.TrimSpace(data[currentDataKey]))
	if id == "" {
		return nil, fmt.Errorf("decode signing key Secret: %w: data key %q is missing or empty", ErrCorrupt, currentDataKey)
	}
	signer, alg, err := decodeKeyPEM(data, id)
	if err != nil {
		return nil, fmt.Errorf("decode signing key Secret: %w", err)
	}
	if err := checkKeyIDMatches(id, signer.Public()); err != nil {
		return nil, fmt.Errorf("decode signing key Secret: %w", err)
	}
	createdAt, err := decodeCreatedAt(data, id)
	if err != nil {
		return nil, fmt.Errorf("decode signing key Secret: %w", err)
	}
	return &SigningKey{ID: id, Algorithm: alg, CreatedAt: createdAt, Signer: signer}, nil
}

func decodeKeyPEM(data map[string][]byte, id string) (crypto.Signer, Algorithm, error) {
	name := pemDataKey(id)
	keyPEM, ok := data[name]
	if !ok {
		return nil, "", fmt.Errorf("%w: data key %q is missing", ErrCorrupt, name)
	}
	signer, alg, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		// Both sentinels: the Secret is corrupt, and the cause may be more specific.
		return nil, "", fmt.Errorf("%w: data key %q: %w", ErrCorrupt, name, err)
	}
	return signer, alg, nil
}

func decodeCreatedAt(data map[string][]byte, id string) (time.Time, error) {
	name := createdDataKey(id)
	raw, ok := data[name]
	if !ok {
		return time.Time{}, fmt.Errorf("%w: data key %q is missing", ErrCorrupt, name)
	}
	createdAt, err := time.Parse(time.RFC3339, string(bytes.TrimSpace(raw)))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: data key %q is not an RFC 3339 time: %w", ErrCorrupt, name, err)
	}
	return createdAt.UTC(), nil
}
