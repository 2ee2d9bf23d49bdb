package license

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Bundle identification, as in every offline bundle file.
const (
	BundleAPIVersion = "licensing.kubelicense.io/v1alpha1"
	BundleKind       = "LicenseBundle"
)

// Bundle is an offline license: one JSON file holding a token and the JWKS of the
// product that signed it, for hosts that cannot reach the cluster.
//
// The bundled JWKS is a convenience, not a trust anchor: whoever can edit the
// file can replace both the token and the keys. Verify the token against a
// pinned KeySet; use BundledKeys only when you knowingly trust the file's origin.
type Bundle struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Token      string          `json:"token"`
	JWKS       json.RawMessage `json:"jwks"`
}

// ParseBundle parses and checks an offline bundle: apiVersion and kind, a token
// in compact JWS form and a valid public JWKS. It does not verify the token.
// Errors are *Error with code MALFORMED.
func ParseBundle(data []byte) (*Bundle, error) {
	var b Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, newError(CodeMalformed, err, "license bundle is not valid JSON; export it again with kubectl license export")
	}
	if b.APIVersion != BundleAPIVersion || b.Kind != BundleKind {
		return nil, newError(CodeMalformed, nil, fmt.Sprintf("file has apiVersion %s and kind %s, want %q and %q; this is not a license bundle", QuoteUntrusted(b.APIVersion), QuoteUntrusted(b.Kind), BundleAPIVersion, BundleKind))
	}
	if err := checkBundleParts(b.Token, b.JWKS); err != nil {
		return nil, err
	}
	return &b, nil
}

// LoadBundleFile reads and parses an offline bundle file with ParseBundle.
func LoadBundleFile(path string) (*Bundle, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read license bundle: %w", err)
	}
	b, err := ParseBundle(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// MarshalBundle builds an offline bundle file from a token and the product's
// JWKS (jwks.json), after checking both as ParseBundle does.
func MarshalBundle(token string, jwks []byte) ([]byte, error) {
	token = strings.TrimSpace(token)
	if err := checkBundleParts(token, jwks); err != nil {
		return nil, err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, jwks); err != nil {
		return nil, newError(CodeMalformed, err, "JWKS is not valid JSON")
	}
	out, err := json.MarshalIndent(Bundle{
		APIVersion: BundleAPIVersion,
		Kind:       BundleKind,
		Token:      token,
		JWKS:       compact.Bytes(),
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal license bundle: %w", err)
	}
	return append(out, '\n'), nil
}

// BundledKeys parses the JWKS carried in the bundle. Trusting these keys trusts
// whoever wrote the file; prefer a pinned anchor (see Bundle).
func (b *Bundle) BundledKeys() (*KeySet, error) {
	return ParseJWKS(b.JWKS)
}

func checkBundleParts(token string, jwks []byte) error {
	if _, _, err := parseCompact(token); err != nil {
		return newError(CodeMalformed, err, "license bundle token is not a compact JWS signed with EdDSA or ES256; export the bundle again")
	}
	if _, err := ParseJWKS(jwks); err != nil {
		return newError(CodeMalformed, err, "license bundle JWKS is not a valid trust anchor; export the bundle again")
	}
	return nil
}
