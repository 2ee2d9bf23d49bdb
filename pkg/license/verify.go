package license

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// DefaultLeeway is the clock skew Verify tolerates on exp and nbf.
const DefaultLeeway = time.Minute

// maxTokenSize bounds the work done on untrusted input; real tokens are a few KiB.
const maxTokenSize = 1 << 20

// acceptedAlgorithms are the only JWS algorithms Verify parses. Each trusted key
// further narrows this to its own algorithm.
var acceptedAlgorithms = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256}

// Option adjusts Verify.
type Option func(*verifyOptions)

type verifyOptions struct {
	leeway   time.Duration
	issuer   string
	audience string
}

// WithLeeway sets the clock skew tolerated on exp and nbf (default DefaultLeeway).
// A negative value is treated as zero.
func WithLeeway(d time.Duration) Option {
	return func(o *verifyOptions) { o.leeway = max(d, 0) }
}

// WithIssuer requires the "iss" claim to equal iss, for example
// IssuerPrefix + "licensing/acme-db". A mismatch is MALFORMED.
func WithIssuer(iss string) Option {
	return func(o *verifyOptions) { o.issuer = iss }
}

// WithAudience requires the "aud" claim to contain aud (the product name).
// A mismatch is MALFORMED.
func WithAudience(aud string) Option {
	return func(o *verifyOptions) { o.audience = aud }
}

// Verify checks a license token against the trusted keys at the moment now and
// returns its claims.
//
// It fails with an *Error whose Code is:
//   - MALFORMED: not a compact JWS, typ is not "license+jwt", no kid, the payload
//     is not Claims JSON, or the WithIssuer/WithAudience check fails;
//   - UNKNOWN_KEY: the kid is not in keys (or keys is nil);
//   - SIGNATURE_INVALID: alg is not EdDSA or ES256, alg differs from the one
//     pinned to the key, or the signature does not hold;
//   - NOT_YET_VALID or EXPIRED: now is before nbf or after exp, beyond the leeway.
//
// For EXPIRED and NOT_YET_VALID the signature has been verified, so the claims
// are returned alongside the error for reporting; do not treat them as
// entitlements.
//
// Verify checks the token, not the licenses in it: a valid token can hold an
// expired or suspended license. Use Claims.State and Claims.Entitled for that.
func Verify(token string, keys *KeySet, now time.Time, opts ...Option) (*Claims, error) {
	o := verifyOptions{leeway: DefaultLeeway}
	for _, opt := range opts {
		opt(&o)
	}

	payload, err := verifySignature(strings.TrimSpace(token), keys)
	if err != nil {
		return nil, err
	}
	claims, err := decodeClaims(payload)
	if err != nil {
		return nil, err
	}
	if err := checkScope(claims, &o); err != nil {
		return nil, err
	}
	if err := checkLifetime(claims, now, o.leeway); err != nil {
		return claims, err
	}
	return claims, nil
}

// verifySignature checks the JWS structure, header and signature and returns the
// verified payload.
func verifySignature(token string, keys *KeySet) ([]byte, error) {
	if token == "" {
		return nil, newError(CodeMalformed, nil, "token is empty; pass the content of license.jwt")
	}
	if len(token) > maxTokenSize {
		return nil, newError(CodeMalformed, nil, fmt.Sprintf("token is %d bytes, more than the %d allowed; pass the content of license.jwt", len(token), maxTokenSize))
	}
	jws, err := jose.ParseSignedCompact(token, acceptedAlgorithms)
	if err != nil {
		if algErr, ok := errors.AsType[*jose.ErrUnexpectedSignatureAlgorithm](err); ok {
			return nil, newError(CodeSignatureInvalid, err, fmt.Sprintf("token uses algorithm %q; license tokens are signed with EdDSA or ES256 only", algErr.Got))
		}
		return nil, newError(CodeMalformed, err, "token is not a compact JWS (header.payload.signature in base64url); pass the content of license.jwt unchanged")
	}
	// Compact serialization has exactly one signature, all of it in the protected header.
	header := jws.Signatures[0].Protected
	if typ, _ := header.ExtraHeaders[jose.HeaderType].(string); !isLicenseType(typ) {
		return nil, newError(CodeMalformed, nil, fmt.Sprintf("token header typ is %q, not %q; this is not a kubelicense license token", typ, TokenType))
	}
	if header.KeyID == "" {
		return nil, newError(CodeMalformed, nil, `token header has no "kid"; license tokens name their signing key, re-issue the token`)
	}
	if keys == nil {
		return nil, newError(CodeUnknownKey, nil, "no trusted keys configured; load the product's jwks.json with LoadJWKSFile")
	}
	key, ok := keys.lookup(header.KeyID)
	if !ok {
		return nil, newError(CodeUnknownKey, nil, fmt.Sprintf("token signed with key %q which is not in the trusted key set %q; update the JWKS trust anchor", header.KeyID, keys.KeyIDs()))
	}
	if header.Algorithm != string(key.alg) {
		return nil, newError(CodeSignatureInvalid, nil, fmt.Sprintf("token uses algorithm %s but trusted key %q is an %s key; the token was not signed by this key", header.Algorithm, header.KeyID, key.alg))
	}
	payload, err := jws.Verify(key.pub)
	if err != nil {
		return nil, newError(CodeSignatureInvalid, err, fmt.Sprintf("signature does not verify with trusted key %q; the token was altered or signed by another key with the same ID", header.KeyID))
	}
	return payload, nil
}

// isLicenseType accepts typ case-insensitively and with the optional
// "application/" prefix, as RFC 7515 section 4.1.9 allows.
func isLicenseType(typ string) bool {
	typ, _ = strings.CutPrefix(strings.ToLower(typ), "application/")
	return typ == TokenType
}

// claimsJSON configures encoding/json/v2 (its mirror module until Go ships it
// without GOEXPERIMENT), which decodes claims about twice as fast as
// encoding/json. It is stricter: duplicate names and invalid UTF-8 are errors.
// Otherwise names match as in encoding/json, case-insensitively but without
// ignoring '-' and '_', so a payload both accept decodes to the same Claims
// (FuzzDecodeClaims checks this).
var claimsJSON = json.JoinOptions(
	json.MatchCaseInsensitiveNames(true),
	jsonv1.MatchCaseSensitiveDelimiter(true),
)

// decodeClaims decodes a verified payload.
func decodeClaims(payload []byte) (*Claims, error) {
	if p := bytes.TrimLeft(payload, " \t\r\n"); len(p) == 0 || p[0] != '{' {
		return nil, newError(CodeMalformed, nil, "token payload is not a JSON object; re-issue the token")
	}
	type plainClaims Claims // same fields, decoded with the aud override below
	var c Claims
	wire := struct {
		*plainClaims
		Audience audience `json:"aud"`
	}{plainClaims: (*plainClaims)(&c)}
	if err := json.Unmarshal(payload, &wire, claimsJSON); err != nil {
		return nil, newError(CodeMalformed, err, "token payload is not valid license claims JSON; re-issue the token")
	}
	c.Audience = wire.Audience
	if err := c.CheckDates(); err != nil {
		return nil, err
	}
	return &c, nil
}

// audience accepts "aud" as a single string as well as an array, as RFC 7519
// allows, so tokens from other JWT issuers decode too.
type audience []string

func (a *audience) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() == '"' {
		var s string
		if err := json.UnmarshalDecode(dec, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	return json.UnmarshalDecode(dec, (*[]string)(a))
}

// checkScope applies WithIssuer and WithAudience.
func checkScope(c *Claims, o *verifyOptions) error {
	if o.issuer != "" && c.Issuer != o.issuer {
		return newError(CodeMalformed, nil, fmt.Sprintf("token issuer is %q, want %q; use a license issued by %s", c.Issuer, o.issuer, o.issuer))
	}
	if o.audience != "" && !slices.Contains(c.Audience, o.audience) {
		return newError(CodeMalformed, nil, fmt.Sprintf("token audience is %q, which does not include %q; use the license issued for product %q", c.Audience, o.audience, o.audience))
	}
	return nil
}

// checkLifetime applies nbf and exp with the clock skew leeway.
func checkLifetime(c *Claims, now time.Time, leeway time.Duration) error {
	if c.NotBefore != 0 {
		if nbf := time.Unix(c.NotBefore, 0); now.Before(nbf.Add(-leeway)) {
			return newError(CodeNotYetValid, nil, fmt.Sprintf("token is not valid before %s (now %s, leeway %s); check this host's clock", nbf.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), leeway))
		}
	}
	if c.Expiry != 0 {
		if exp := time.Unix(c.Expiry, 0); now.After(exp.Add(leeway)) {
			return newError(CodeExpired, nil, fmt.Sprintf("token expired at %s (now %s, leeway %s); mount the refreshed license Secret or renew the license", exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), leeway))
		}
	}
	return nil
}
