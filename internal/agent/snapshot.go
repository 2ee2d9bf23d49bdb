package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// snapshot is the outcome of one verification: immutable, shared by every
// request through an atomic pointer until the next reload. Whatever depends only
// on the token is computed here once; whatever depends on the time (license
// windows, the token's own lifetime) is decided per request from plain integers.
type snapshot struct {
	in inputs
	// token and keys are kept to verify again when the token's lifetime
	// verdict flips, without reading or parsing anything.
	token string
	keys  *license.KeySet

	// claims are nil unless the signature held.
	claims *license.Claims
	// failure is the verification error at verifiedAt: nil, a lifetime error
	// (EXPIRED, NOT_YET_VALID; claims set) or anything else (claims nil).
	failure    *license.Error
	verifiedAt time.Time

	// The token's lifetime as accepted by license.Verify, in Unix nanoseconds
	// with the leeway applied: valid while lifeFrom <= now <= lifeUntil.
	lifeFrom, lifeUntil int64
	// issuedAtFloor is iat minus the leeway, in Unix nanoseconds: a clock before
	// it has moved backwards (math.MinInt64 when iat is absent).
	issuedAtFloor int64

	// index answers the feature and quota checks by lookup; pkg/license decides.
	index *license.Index
	// bodies are the 200 answers of /v1/features/{name} in the two entitling
	// states, encoded once per granted feature.
	bodies map[string]*featureBodies
	// quotas are the quota names some license declares, entitling or not.
	quotas map[string]bool
}

type featureBodies struct {
	valid, grace []byte
}

// buildSnapshot verifies in at the moment now through pkg/license.
func buildSnapshot(cfg *Config, in inputs, now time.Time) *snapshot {
	token, keys, failure := resolveTrust(cfg, in)
	s := newSnapshot(in, token, keys, now)
	if failure != nil {
		s.failure = failure
		return s
	}
	s.verify(cfg)
	return s
}

// reverified is s verified again at now, for when the token's lifetime verdict
// has changed since s was built (it expired, or became valid).
func (s *snapshot) reverified(cfg *Config, now time.Time) *snapshot {
	next := newSnapshot(s.in, s.token, s.keys, now)
	next.verify(cfg)
	return next
}

// refused is s with its token refused for reason: nothing from it is served,
// as for a token that does not verify.
func (s *snapshot) refused(reason *license.Error) *snapshot {
	next := newSnapshot(s.in, s.token, s.keys, s.verifiedAt)
	next.failure = reason
	return next
}

func newSnapshot(in inputs, token string, keys *license.KeySet, now time.Time) *snapshot {
	return &snapshot{in: in, token: token, keys: keys, verifiedAt: now,
		lifeFrom: math.MinInt64, lifeUntil: math.MaxInt64, issuedAtFloor: math.MinInt64}
}

// verify runs license.Verify at verifiedAt and precomputes what requests need.
func (s *snapshot) verify(cfg *Config) {
	claims, err := license.Verify(s.token, s.keys, s.verifiedAt, cfg.verifyOptions()...)
	if err != nil {
		s.failure = asLicenseError(err)
	}
	if claims == nil {
		return
	}
	s.claims = claims
	leeway := cfg.Leeway.Nanoseconds()
	if claims.NotBefore != 0 {
		s.lifeFrom = saturatingNanos(claims.NotBefore, -leeway)
	}
	if claims.Expiry != 0 {
		s.lifeUntil = saturatingNanos(claims.Expiry, leeway)
	}
	if claims.IssuedAt != 0 {
		s.issuedAtFloor = saturatingNanos(claims.IssuedAt, -leeway)
	}
	s.precompute(claims)
}

// precompute builds what requests read besides the claims: the index, the
// encoded 200 answers and the declared quotas, so a feature check only looks
// up and copies bytes.
func (s *snapshot) precompute(c *license.Claims) {
	s.claims = c
	s.index = c.Index()
	s.bodies = map[string]*featureBodies{}
	s.quotas = map[string]bool{}
	for _, g := range c.Licenses {
		for _, name := range g.Features {
			if s.bodies[name] == nil {
				s.bodies[name] = &featureBodies{
					valid: mustJSON(featureResponse{Feature: name, Entitled: true, Code: license.CodeValid, sourceInfo: fromToken}),
					grace: mustJSON(featureResponse{Feature: name, Entitled: true, Code: license.CodeInGracePeriod, sourceInfo: fromToken}),
				}
			}
		}
		for name := range g.Quotas {
			s.quotas[name] = true
		}
	}
}

// resolveTrust picks the token and the key set out of the inputs, or says why
// there is nothing to verify.
func resolveTrust(cfg *Config, in inputs) (string, *license.KeySet, *license.Error) {
	if in.license.missing && in.notice.path != "" && !in.notice.missing {
		return "", nil, revocation(in)
	}
	if f := unreadable(in.license, license.CodeMalformed, "license", fmt.Sprintf(
		"no license mounted yet: %s does not exist; the agent loads it as soon as it appears", in.license.path)); f != nil {
		return "", nil, f
	}
	token := in.license.data
	var keys *license.KeySet
	if cfg.BundleFile != "" {
		bundle, err := license.ParseBundle([]byte(in.license.data))
		if err != nil {
			e := asLicenseError(err)
			return "", nil, &license.Error{Code: e.Code, Message: in.license.path + ": " + e.Message, Err: e.Err}
		}
		token = bundle.Token
		if cfg.TrustBundledKeys {
			if keys, err = bundle.BundledKeys(); err != nil {
				return "", nil, untrusted(in.license.path, err)
			}
		}
	}
	if keys == nil {
		if f := unreadable(in.anchor, license.CodeUnknownKey, "trust anchor", fmt.Sprintf(
			"trust anchor %s does not exist; mount the product's jwks.json there", in.anchor.path)); f != nil {
			return "", nil, f
		}
		var err error
		if keys, err = license.ParseJWKS([]byte(in.anchor.data)); err != nil {
			return "", nil, untrusted(in.anchor.path, err)
		}
	}
	return token, keys, nil
}

// revocation reads the license.json of a Secret without a token: REVOKED when
// it is the operator's revocation notice, else MALFORMED saying why not.
func revocation(in inputs) *license.Error {
	noToken := fmt.Sprintf("no license token: %s does not exist", in.license.path)
	if in.notice.readErr != "" {
		return &license.Error{Code: license.CodeMalformed, Message: fmt.Sprintf("%s, and %s cannot be read: %s", noToken, in.notice.path, in.notice.readErr)}
	}
	r, err := license.ParseRevocation([]byte(in.notice.data))
	if err != nil {
		e := asLicenseError(err)
		return &license.Error{Code: license.CodeMalformed, Message: fmt.Sprintf("%s, and %s: %s", noToken, in.notice.path, e.Message), Err: e.Err}
	}
	return r.Err()
}

// unreadable is the failure, with code, of the file what that could not be
// read, or nil; ifMissing is the message for a file that does not exist.
func unreadable(fc fileContent, code license.Code, what, ifMissing string) *license.Error {
	switch {
	case fc.missing:
		return &license.Error{Code: code, Message: ifMissing}
	case fc.readErr != "":
		return &license.Error{Code: code, Message: fmt.Sprintf("cannot read %s %s: %s", what, fc.path, fc.readErr)}
	}
	return nil
}

func untrusted(path string, err error) *license.Error {
	return &license.Error{Code: license.CodeUnknownKey, Message: fmt.Sprintf("trust anchor %s is not usable, so no token can be verified: %v; fix the product's jwks.json (the <product>-license-keys ConfigMap)", path, err), Err: err}
}

// asLicenseError keeps the *license.Error in err's chain; anything else (which
// pkg/license does not return for a token) becomes MALFORMED.
func asLicenseError(err error) *license.Error {
	if e, ok := errors.AsType[*license.Error](err); ok {
		return e
	}
	return &license.Error{Code: license.CodeMalformed, Message: err.Error(), Err: err}
}

// lifetimeOK reports whether the token's nbf/exp admit the moment now (Unix ns),
// exactly as license.Verify decides it.
func (s *snapshot) lifetimeOK(now int64) bool {
	return now >= s.lifeFrom && now <= s.lifeUntil
}

// stale reports whether the verdict on the token's lifetime taken at
// verifiedAt no longer holds at now, so the token must be verified again.
func (s *snapshot) stale(now int64) bool {
	if s.claims == nil {
		return false
	}
	wasOK := s.failure == nil
	return s.lifetimeOK(now) != wasOK
}

// saturatingNanos is sec seconds plus delta nanoseconds, as Unix nanoseconds,
// clamped to the int64 range so absurd claims cannot wrap around.
func saturatingNanos(sec, delta int64) int64 {
	const limit = math.MaxInt64 / int64(time.Second)
	switch {
	case sec > limit:
		return math.MaxInt64
	case sec < -limit:
		return math.MinInt64
	}
	ns := sec * int64(time.Second)
	if delta > 0 && ns > math.MaxInt64-delta {
		return math.MaxInt64
	}
	if delta < 0 && ns < math.MinInt64-delta {
		return math.MinInt64
	}
	return ns + delta
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err)) // only fixed response types are encoded
	}
	return b
}
