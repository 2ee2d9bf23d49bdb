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
	if v.Code.Entitling() && feature != "" && !claims.Entitled(feature, at) {
		v.Code = license.CodeFeatureNotEntitled
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
	case license.CodeExpired, license.CodeNotYetValid, license.CodeSuspended, license.CodeRevoked,
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

// describeState explains the state of verified claims at the moment at.
func describeState(code license.Code, c *license.Claims, at time.Time, feature string) string {
	switch code {
	case license.CodeValid:
		s := "valid with no end date"
		if validUntil, graceUntil := entitledWindow(c, at); !validUntil.IsZero() {
			s = "valid until " + whenTime(validUntil, at)
			if graceUntil.After(validUntil) {
				s += ", then in the grace period until " + absoluteTime(graceUntil)
			}
		}
		if feature != "" {
			s = fmt.Sprintf("feature %q granted; %s", feature, s)
		}
		return s
	case license.CodeInGracePeriod:
		_, graceUntil := entitledWindow(c, at)
		return fmt.Sprintf("in the grace period until %s; renew the license", whenTime(graceUntil, at))
	case license.CodeFeatureNotEntitled:
		granted := c.FeaturesAt(at)
		if len(granted) == 0 {
			return fmt.Sprintf("feature %q is not granted: the licenses in force grant no features", feature)
		}
		return fmt.Sprintf("feature %q is not granted by any license in force (granted: %s)", feature, strings.Join(granted, ", "))
	case license.CodeNotYetValid:
		return "no license has started yet; the first starts " + whenTime(firstStart(c, at), at)
	case license.CodeSuspended:
		if c.Licensee.Suspended {
			return "the licensee is suspended"
		}
		return "every license that is not expired is suspended"
	case license.CodeExpired:
		if len(c.Licenses) == 0 {
			return "the token holds no licenses"
		}
		if end := c.ExpiresAt(); !end.IsZero() {
			return "every license has ended; the last ended " + whenTime(end, at)
		}
		return "no license entitles"
	default:
		return string(code)
	}
}

// entitledWindow is how long the licenses that entitle at the moment at last:
// validUntil is the latest end of a license valid now, graceUntil the latest end
// of grace among all that entitle now. Both are zero when one of them never ends.
func entitledWindow(c *license.Claims, at time.Time) (validUntil, graceUntil time.Time) {
	var valid, grace int64
	for _, g := range c.Licenses {
		state := c.GrantState(g, at)
		if !state.Entitling() {
			continue
		}
		if g.ValidUntil == 0 {
			return time.Time{}, time.Time{}
		}
		if state == license.CodeValid {
			valid = max(valid, g.ValidUntil)
		}
		grace = max(grace, g.ValidUntil, g.GraceUntil)
	}
	return unixTime(valid), unixTime(grace)
}

// firstStart is the earliest start among licenses that have not started at the moment at.
func firstStart(c *license.Claims, at time.Time) time.Time {
	var starts []int64
	for _, g := range c.Licenses {
		if c.GrantState(g, at) == license.CodeNotYetValid {
			starts = append(starts, g.StartsAt)
		}
	}
	if len(starts) == 0 {
		return time.Time{}
	}
	return unixTime(slices.Min(starts))
}
