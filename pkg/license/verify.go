package license

import (
	"bytes"
	"encoding/base64"
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
//   - MALFORMED: not a compact JWS in canonical base64url (no line breaks, no
//     padding, no unused bits set), a header member other than alg, kid and
//     typ (crit, b64, jwk, a case variant or a repeat), typ is not
//     "license+jwt", no kid, the payload is not Claims JSON, a date outside
//     the years 1970 to 9999 (see UnixTime), or the WithIssuer/WithAudience
//     check fails;
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
	jws, header, err := parseCompact(token)
	if err != nil {
		return nil, err
	}
	if !isLicenseType(header.Typ) {
		return nil, newError(CodeMalformed, nil, fmt.Sprintf("token header typ is %s, not %q; this is not a kubelicense license token", QuoteUntrusted(header.Typ), TokenType))
	}
	if header.Kid == "" {
		return nil, newError(CodeMalformed, nil, `token header has no "kid"; license tokens name their signing key, re-issue the token`)
	}
	if keys == nil {
		return nil, newError(CodeUnknownKey, nil, "no trusted keys configured; load the product's jwks.json with LoadJWKSFile")
	}
	key, ok := keys.lookup(header.Kid)
	if !ok {
		return nil, newError(CodeUnknownKey, nil, fmt.Sprintf("token signed with key %s which is not in the trusted key set %s; update the JWKS trust anchor", QuoteUntrusted(header.Kid), quoteList(keys.ids)))
	}
	if header.Alg != string(key.alg) {
		return nil, newError(CodeSignatureInvalid, nil, fmt.Sprintf("token uses algorithm %s but trusted key %s is an %s key; the token was not signed by this key", header.Alg, QuoteUntrusted(header.Kid), key.alg))
	}
	payload, err := jws.Verify(key.pub)
	if err != nil {
		return nil, newError(CodeSignatureInvalid, err, fmt.Sprintf("signature does not verify with trusted key %s; the token was altered or signed by another key with the same ID", QuoteUntrusted(header.Kid)))
	}
	return payload, nil
}

// protectedHeader is all a license token's protected header may hold: what
// internal/token writes. Members are matched case-sensitively, as JOSE
// requires, and each may appear once.
type protectedHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// headerJSON decodes protectedHeader with encoding/json/v2's defaults
// (case-sensitive names, no duplicates, valid UTF-8) and nothing else in it.
var headerJSON = json.RejectUnknownMembers(true)

// parseCompact parses a token in its one accepted byte form: three segments of
// canonical base64url, a protected header of alg, kid and typ only, an
// algorithm of acceptedAlgorithms. go-jose does the JWS parse; the checks
// before it close what go-jose lets through (CR and LF inside segments,
// non-zero trailing bits, b64 and crit headers, case-variant members), so one
// token has one spelling and any header extension is refused, not ignored.
func parseCompact(token string) (*jose.JSONWebSignature, protectedHeader, error) {
	var header protectedHeader
	if token == "" {
		return nil, header, newError(CodeMalformed, nil, "token is empty; pass the content of license.jwt")
	}
	if len(token) > maxTokenSize {
		return nil, header, newError(CodeMalformed, nil, fmt.Sprintf("token is %d bytes, more than the %d allowed; pass the content of license.jwt", len(token), maxTokenSize))
	}
	segments, ok := splitCompact(token)
	if !ok {
		return nil, header, newError(CodeMalformed, nil, fmt.Sprintf("token is not a compact JWS: it has %d parts separated by \".\", not three (header.payload.signature in base64url); pass the content of license.jwt unchanged", strings.Count(token, ".")+1))
	}
	for i, name := range [...]string{"header", "payload", "signature"} {
		if err := checkBase64URL(segments[i]); err != nil {
			return nil, header, newError(CodeMalformed, nil, fmt.Sprintf("token is not a compact JWS: its %s is not canonical base64url: %s; pass the content of license.jwt unchanged", name, err))
		}
	}
	header, err := decodeHeader(segments[0])
	if err != nil {
		return nil, header, err
	}
	jws, err := jose.ParseSignedCompact(token, acceptedAlgorithms)
	if err != nil {
		if algErr, ok := errors.AsType[*jose.ErrUnexpectedSignatureAlgorithm](err); ok {
			return nil, header, newError(CodeSignatureInvalid, nil, fmt.Sprintf("token uses algorithm %s; license tokens are signed with EdDSA or ES256 only", QuoteUntrusted(string(algErr.Got))))
		}
		return nil, header, newError(CodeMalformed, err, "token is not a compact JWS (header.payload.signature in base64url); pass the content of license.jwt unchanged")
	}
	return jws, header, nil
}

// splitCompact cuts a compact JWS at its two dots.
func splitCompact(token string) (segments [3]string, ok bool) {
	var rest string
	if segments[0], rest, ok = strings.Cut(token, "."); !ok {
		return segments, false
	}
	if segments[1], segments[2], ok = strings.Cut(rest, "."); !ok {
		return segments, false
	}
	return segments, !strings.Contains(segments[2], ".")
}

// base64URLAlphabet marks the characters of unpadded base64url (RFC 4648 section 5).
var base64URLAlphabet = func() (set [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		set[c] = true
	}
	return set
}()

// strictBase64URL refuses non-zero trailing bits; made once, as Strict copies.
var strictBase64URL = base64.RawURLEncoding.Strict()

// checkBase64URL is nil when seg is unpadded base64url in its canonical form.
// Go's decoder skips CR and LF anywhere and ignores the unused low bits of the
// last character, so both are checked here: every character in the alphabet,
// then the last, partial group decoded strictly (full groups have no unused
// bits), without decoding the whole segment a second time.
func checkBase64URL(seg string) error {
	for i := 0; i < len(seg); i++ {
		if !base64URLAlphabet[seg[i]] {
			return fmt.Errorf("character %s at offset %d is not one of A-Z a-z 0-9 - _ (no padding, no line breaks)", QuoteUntrusted(seg[i:i+1]), i)
		}
	}
	var group [3]byte
	if _, err := strictBase64URL.Decode(group[:], []byte(seg[len(seg)-len(seg)%4:])); err != nil {
		return errors.New("its length or its last character is not what encoding the bytes gives (a length of 4n+1, or unused low bits set)")
	}
	return nil
}

// decodeHeader decodes the protected header segment (already checked by
// checkBase64URL) and refuses every member but alg, kid and typ.
func decodeHeader(seg string) (protectedHeader, error) {
	var h protectedHeader
	raw, err := strictBase64URL.DecodeString(seg)
	if err != nil {
		return h, newError(CodeMalformed, err, "token header is not base64url; pass the content of license.jwt unchanged")
	}
	err = json.Unmarshal(raw, &h, headerJSON)
	if err == nil {
		return h, nil
	}
	if semErr, ok := errors.AsType[*json.SemanticError](err); ok && semErr.Err == json.ErrUnknownName {
		return h, newError(CodeMalformed, nil, unknownHeaderMessage(semErr.JSONPointer.LastToken()))
	}
	if errors.Is(err, jsontext.ErrDuplicateName) {
		return h, newError(CodeMalformed, err, "token header has a duplicate member; a header names alg, kid and typ once each, re-issue the token")
	}
	return h, newError(CodeMalformed, err, "token header is not a JSON object of the strings alg, kid and typ; re-issue the token")
}

// unknownHeaderMessage says why header member name is refused.
func unknownHeaderMessage(name string) string {
	const fix = "a license token header holds only alg, kid and typ; re-issue the token with the operator"
	switch {
	case name == "crit":
		return `token header marks extensions as critical ("crit"), which license tokens never use; ` + fix
	case strings.EqualFold(name, "alg") || strings.EqualFold(name, "kid") || strings.EqualFold(name, "typ"):
		return fmt.Sprintf("token header member %s differs from %q only in case; header names are case-sensitive, so verifiers would read this header differently: %s", QuoteUntrusted(name), strings.ToLower(name), fix)
	default:
		return fmt.Sprintf("token header has member %s; %s", QuoteUntrusted(name), fix)
	}
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
		return newError(CodeMalformed, nil, fmt.Sprintf("token issuer is %s, want %q; use a license issued by %s", QuoteUntrusted(c.Issuer), o.issuer, o.issuer))
	}
	if o.audience != "" && !slices.Contains(c.Audience, o.audience) {
		return newError(CodeMalformed, nil, fmt.Sprintf("token audience is %s, which does not include %q; use the license issued for product %q", quoteList(c.Audience), o.audience, o.audience))
	}
	return nil
}

// checkLifetime applies nbf and exp with the clock skew leeway (LifetimeState).
func checkLifetime(c *Claims, now time.Time, leeway time.Duration) error {
	switch c.LifetimeState(now, leeway) {
	case CodeNotYetValid:
		nbf := time.Unix(c.NotBefore, 0)
		return newError(CodeNotYetValid, nil, fmt.Sprintf("token is not valid before %s (now %s, leeway %s); check this host's clock", nbf.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), leeway))
	case CodeExpired:
		exp := time.Unix(c.Expiry, 0)
		return newError(CodeExpired, nil, fmt.Sprintf("token expired at %s (now %s, leeway %s); mount the refreshed license Secret or renew the license", exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), leeway))
	}
	return nil
}
