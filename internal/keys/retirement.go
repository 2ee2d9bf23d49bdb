package keys

import "time"

// RetiredKeyExpiry is when a key retired at retiredAt may leave the JWKS: once
// the last token it can have signed has lapsed. maxTokenLifetime is the longest
// a token signed by the key can stay acceptable to a verifier, counted from its
// signing (exp - iat, including any grace the token's exp covers). With forever
// (some token never expires, e.g. a perpetual license without a token TTL) the
// key must stay published, and ok is false.
//
// The result is rounded up to a whole second: token times are whole seconds, so
// removing the key a fraction early could strand a token still inside its window.
func RetiredKeyExpiry(retiredAt time.Time, maxTokenLifetime time.Duration, forever bool) (expiry time.Time, ok bool) {
	if forever {
		return time.Time{}, false
	}
	expiry = retiredAt.Add(max(maxTokenLifetime, 0))
	if truncated := expiry.Truncate(time.Second); !truncated.Equal(expiry) {
		expiry = truncated.Add(time.Second)
	}
	return expiry, true
}
