package license

import (
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	json "github.com/go-json-experiment/json"
)

// maxSignatureSize bounds the License-Signature header; a real one is a few
// hundred bytes (protected header and one EdDSA or ES256 signature).
const maxSignatureSize = 4 << 10

// VerifyResponse checks signature, the License-Signature header of a license API
// answer, against the exact bytes of the answer body: a detached compact JWS
// (RFC 7515 appendix F, "<protected>..<signature>") with typ
// "license-response+jwt", signed by a key of keys with the algorithm pinned to
// that key.
//
// It fails with an *Error whose Code is:
//   - MALFORMED: the signature is not a detached compact JWS, or its typ or kid
//     is missing or wrong;
//   - UNKNOWN_KEY: the kid is not in keys (or keys is nil);
//   - SIGNATURE_INVALID: no signature, an algorithm other than the one pinned to
//     the key, or a signature that does not hold for body (an altered answer).
//
// VerifyResponse proves who wrote the body, not that it answers a given request:
// the Client also matches the body's nonce and time before trusting it.
func VerifyResponse(body []byte, signature string, keys *KeySet) error {
	signature = strings.TrimSpace(signature)
	if signature == "" {
		return newError(CodeSignatureInvalid, nil, "answer has no "+HeaderSignature+" header; the license API signs every answer, so this one did not come from it (check the URL, and any proxy in between)")
	}
	if len(signature) > maxSignatureSize {
		return newError(CodeMalformed, nil, fmt.Sprintf("%s header is %d bytes, more than the %d allowed", HeaderSignature, len(signature), maxSignatureSize))
	}
	if body == nil {
		body = []byte{} // go-jose reads a nil payload as "not detached"
	}
	jws, err := jose.ParseDetached(signature, body, acceptedAlgorithms)
	if err != nil {
		if algErr, ok := errors.AsType[*jose.ErrUnexpectedSignatureAlgorithm](err); ok {
			return newError(CodeSignatureInvalid, err, fmt.Sprintf("answer signed with algorithm %q; license API answers are signed with EdDSA or ES256 only", algErr.Got))
		}
		return newError(CodeMalformed, err, HeaderSignature+` is not a detached compact JWS ("<protected>..<signature>" in base64url)`)
	}
	// Compact serialization has exactly one signature, all of it in the protected header.
	header := jws.Signatures[0].Protected
	if typ, _ := header.ExtraHeaders[jose.HeaderType].(string); !isResponseType(typ) {
		return newError(CodeMalformed, nil, fmt.Sprintf("answer signature typ is %q, not %q; a license token or another JWS cannot stand for an answer", typ, ResponseTokenType))
	}
	if header.KeyID == "" {
		return newError(CodeMalformed, nil, `answer signature has no "kid"; the license API names the Product key it signs with`)
	}
	if keys == nil {
		return newError(CodeUnknownKey, nil, "no trusted keys configured; load the product's jwks.json with LoadJWKSFile")
	}
	key, ok := keys.lookup(header.KeyID)
	if !ok {
		return newError(CodeUnknownKey, nil, fmt.Sprintf("answer signed with key %q which is not in the trusted key set %q; pin the JWKS of the Product this license belongs to (after a key rotation, reload jwks.json)", header.KeyID, keys.KeyIDs()))
	}
	if header.Algorithm != string(key.alg) {
		return newError(CodeSignatureInvalid, nil, fmt.Sprintf("answer signed with algorithm %s but trusted key %q is an %s key; the answer was not signed by this key", header.Algorithm, header.KeyID, key.alg))
	}
	if _, err := jws.Verify(key.pub); err != nil {
		return newError(CodeSignatureInvalid, err, fmt.Sprintf("answer signature does not verify with trusted key %q; the answer was altered on the way or signed by another key", header.KeyID))
	}
	return nil
}

// isResponseType accepts typ case-insensitively and with the optional
// "application/" prefix, as RFC 7515 section 4.1.9 allows.
func isResponseType(typ string) bool {
	typ, _ = strings.CutPrefix(strings.ToLower(typ), "application/")
	return typ == ResponseTokenType
}

// answerEnvelope is what every answer body has, success or Problem.
type answerEnvelope struct {
	Nonce string    `json:"nonce"`
	Time  time.Time `json:"time"`
}

// checkFreshness binds a verified answer body to the request that sent nonce:
// a signed answer recorded earlier (another nonce, or an old time) is refused.
func checkFreshness(body []byte, nonce string, now time.Time, maxSkew time.Duration) error {
	var env answerEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return newError(CodeMalformed, err, "answer body is not a JSON object with a string \"nonce\" and an RFC 3339 \"time\"")
	}
	if env.Nonce != nonce {
		return newError(CodeSignatureInvalid, nil, fmt.Sprintf("answer nonce %q is not the %q this request sent; it answers another request (a replay)", truncate(env.Nonce, MaxNonceLength), nonce))
	}
	if env.Time.IsZero() {
		return newError(CodeMalformed, nil, `answer has no "time"`)
	}
	if skew := env.Time.Sub(now).Abs(); skew > maxSkew {
		return newError(CodeSignatureInvalid, nil, fmt.Sprintf("answer time %s is %s away from this host's clock (%s), more than the %s tolerated; a replayed answer, or a clock to fix (NTP) on this host or the operator's",
			env.Time.UTC().Format(time.RFC3339), skew.Round(time.Second), now.UTC().Format(time.RFC3339), maxSkew))
	}
	return nil
}
