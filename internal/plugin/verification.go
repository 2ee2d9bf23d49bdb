package plugin

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// verification is the outcome of checking one token at one moment, the model
// that inspect and verify render. Every decision in it comes from pkg/license.
type verification struct {
	Code  license.Code
	Valid bool
	// Detail explains Code in a sentence.
	Detail string
	// At is the moment the token was checked at.
	At time.Time
	// Feature is the feature required with --feature, if any.
	Feature string
	// Claims are set whenever the signature verified, even when the result is
	// not entitling; never treat them as entitlements unless Valid.
	Claims *license.Claims
	// Revocation is the operator's notice when the Secret holds no token (REVOKED).
	Revocation *license.Revocation
}

// verifyToken checks token against the trust anchor keys at the moment at and,
// when feature is set, requires it. A token that verifies is then judged by its
// licenses' own windows (Claims.State), so an expired license is EXPIRED even
// though its token is authentic.
func verifyToken(token string, keys *license.KeySet, at time.Time, feature string, opts ...license.Option) verification {
	v := verification{At: at, Feature: feature}
	claims, err := license.Verify(token, keys, at, opts...)
	v.Claims = claims
	if err != nil {
		return v.failed(err)
	}
	v.Code = claims.State(at)
	if feature != "" {
		// The agent's rule: the state of the licenses granting the feature.
		v.Code = claims.FeatureState(feature, at)
	}
	v.Valid = v.Code.Entitling()
	v.Detail = describeState(v.Code, claims, at, feature)
	return v
}

// failed records a verification error; errors without a code (there should be
// none from pkg/license) count as MALFORMED, never as valid.
func (v verification) failed(err error) verification {
	v.Code = license.CodeOf(err)
	if v.Code == "" {
		v.Code = license.CodeMalformed
	}
	v.Valid = false
	v.Detail = strings.TrimPrefix(err.Error(), string(v.Code)+": ")
	return v
}

// exitCode maps a result to the plugin's exit status.
func (v verification) exitCode() int {
	return exitCodeForCode(v.Code)
}

// exitError is nil for an entitling result, else an error carrying its exit
// status that Run does not print again: the command has shown the result.
func (v verification) exitError() error {
	code := v.exitCode()
	if code == ExitOK {
		return nil
	}
	return &exitError{code: code, err: errors.New(v.line()), silent: true}
}

func exitCodeForCode(c license.Code) int {
	switch c {
	case license.CodeValid, license.CodeInGracePeriod:
		return ExitOK
	case license.CodeRevoked:
		return ExitRevoked
	case license.CodeExpired, license.CodeNotYetValid, license.CodeSuspended,
		license.CodeFeatureNotEntitled, license.CodeTooManyActivations, license.CodeNoSeatsAvailable,
		license.CodeFingerprintMismatch:
		return ExitNotEntitled
	default: // SIGNATURE_INVALID, UNKNOWN_KEY, MALFORMED, and anything unknown
		return ExitVerifyFailed
	}
}

// line is verify's one-line report: "CODE: licensee L, product P: detail".
func (v verification) line() string {
	if v.Claims == nil {
		return fmt.Sprintf("%s: %s", v.Code, v.Detail)
	}
	return fmt.Sprintf("%s: licensee %s, product %s: %s", v.Code, v.Claims.Subject, v.Claims.Product.Name, v.Detail)
}

// describeState explains the state of verified claims at the moment at, in
// pkg/license's words, with each instant also relative to at.
func describeState(code license.Code, c *license.Claims, at time.Time, feature string) string {
	if code == license.CodeFeatureNotEntitled {
		return c.ExplainFeature(feature, at)
	}
	when := func(t time.Time) string { return whenTime(t, at) }
	if !code.Entitling() || feature == "" {
		return c.Explain(code, at, when)
	}
	// How long the feature lasts is the window of the licenses granting it.
	granting := *c
	granting.Licenses = slices.DeleteFunc(slices.Clone(c.Licenses), func(g license.Grant) bool { return !slices.Contains(g.Features, feature) })
	return fmt.Sprintf("feature %q granted; %s", feature, granting.Explain(code, at, when))
}
