package license

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// explanations are the one sentence per Code that the agent, the plugin and
// the license API show people; Claims.Explain adds the dates that matter.
var explanations = map[Code]string{
	CodeValid:               "the license entitles its holder",
	CodeInGracePeriod:       "the license period has ended; the holder is still entitled during the grace period, renew the license",
	CodeExpired:             "no license entitles any more; renew the license",
	CodeNotYetValid:         "no license has started yet",
	CodeSuspended:           "the license is suspended; contact the vendor",
	CodeRevoked:             "the license was revoked, or its token was superseded by a newer one; mount the current license Secret or contact the vendor",
	CodeSignatureInvalid:    "the token's signature does not verify with the trusted key: it was altered, or signed by another key",
	CodeUnknownKey:          "the token is signed by a key the trust anchor does not hold; update the trust anchor (the product's jwks.json)",
	CodeMalformed:           "this is not a license token or bundle that can be read; use license.jwt of the license Secret, or a bundle from kubectl license export",
	CodeFeatureNotEntitled:  "no license in force grants this feature or quota",
	CodeTooManyActivations:  "every activation of the license is in use; deactivate a machine first",
	CodeNoSeatsAvailable:    "every seat of the license is taken; retry when a lease lapses",
	CodeFingerprintMismatch: "this machine's fingerprint is not activated for the license; activate it first",
}

// Explain says in one sentence what code means and what to do about it; it is
// "" for a code it does not know.
func Explain(code Code) string { return explanations[code] }

// Explain is the sentence for the state code of the licenses in c at the
// moment at (State's result), with the instants that matter: until when the
// licenses in force last, when grace ends, when the first license starts, when
// the last one ended. formatTime renders each instant (nil: RFC 3339 in UTC).
// Codes that are not license states get Explain(code).
func (c *Claims) Explain(code Code, at time.Time, formatTime func(time.Time) string) string {
	if formatTime == nil {
		formatTime = func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	}
	unix := func(sec int64) string { return formatTime(time.Unix(sec, 0).UTC()) }
	switch code {
	case CodeValid:
		validUntil, graceUntil, ok := c.entitledWindow(at)
		switch {
		case !ok:
			// Asked for a state the licenses are not in: no dates to give.
		case validUntil == 0:
			return "valid with no end date"
		case graceUntil > validUntil:
			return "valid until " + unix(validUntil) + ", then in the grace period until " + unix(graceUntil)
		default:
			return "valid until " + unix(validUntil)
		}
	case CodeInGracePeriod:
		if _, graceUntil, ok := c.entitledWindow(at); ok && graceUntil != 0 {
			return "in the grace period until " + unix(graceUntil) + "; renew the license"
		}
	case CodeNotYetValid:
		if start, ok := c.firstStart(at); ok {
			return "no license has started yet; the first starts at " + unix(start)
		}
	case CodeSuspended:
		if c.Licensee.Suspended {
			return "licensee " + QuoteUntrusted(c.Licensee.Name) + " is suspended; contact the vendor"
		}
		return "every license is suspended or has ended; contact the vendor"
	case CodeExpired:
		if len(c.Licenses) == 0 {
			return "the token holds no licenses; nothing is entitled"
		}
		if end := c.ExpiresAt(); !end.IsZero() {
			return "every license has ended, the last at " + formatTime(end) + "; renew the license"
		}
	}
	return Explain(code)
}

// ExplainFeature says whether, and through which licenses, feature is granted
// at the moment at: meant for FEATURE_NOT_ENTITLED, when the licenses entitle
// but not to this feature.
func (c *Claims) ExplainFeature(feature string, at time.Time) string {
	return c.explainGrants("feature", feature, at, func(g Grant) bool { return slices.Contains(g.Features, feature) })
}

// ExplainQuota is ExplainFeature for the licenses that declare quota name.
func (c *Claims) ExplainQuota(name string, at time.Time) string {
	return c.explainGrants("quota", name, at, func(g Grant) bool { _, ok := g.Quotas[name]; return ok })
}

func (c *Claims) explainGrants(kind, name string, at time.Time, grants func(Grant) bool) string {
	var entitling, other []string
	for _, g := range c.Licenses {
		if !grants(g) {
			continue
		}
		state := c.GrantState(g, at)
		entry := fmt.Sprintf("%s (%s)", truncate(g.Name, maxEcho), state)
		if state.Entitling() {
			entitling = append(entitling, entry)
		} else {
			other = append(other, entry)
		}
	}
	// name may come from a request (the agent's path), so it is echoed bounded.
	switch {
	case len(entitling) > 0:
		return fmt.Sprintf("%s %s is granted by %s", kind, QuoteUntrusted(name), strings.Join(entitling, ", "))
	case len(other) > 0:
		return fmt.Sprintf("%s %s is granted only by licenses that do not entitle now: %s", kind, QuoteUntrusted(name), strings.Join(other, ", "))
	default:
		return fmt.Sprintf("%s %s is not granted by any license of %s", kind, QuoteUntrusted(name), truncate(c.Licensee.Name, maxEcho))
	}
}

// entitledWindow is how long the licenses that entitle at the moment at last:
// validUntil is the latest end among those valid now, graceUntil the latest
// end of grace among all that entitle now. Both are 0 when one of them never
// ends; ok is false when none entitles.
func (c *Claims) entitledWindow(at time.Time) (validUntil, graceUntil int64, ok bool) {
	for _, g := range c.Licenses {
		state := c.GrantState(g, at)
		if !state.Entitling() {
			continue
		}
		if g.ValidUntil == 0 {
			return 0, 0, true
		}
		ok = true
		if state == CodeValid {
			validUntil = max(validUntil, g.ValidUntil)
		}
		graceUntil = max(graceUntil, g.ValidUntil, g.GraceUntil)
	}
	return validUntil, graceUntil, ok
}

// firstStart is the earliest start among the licenses not started at the moment at.
func (c *Claims) firstStart(at time.Time) (start int64, ok bool) {
	for _, g := range c.Licenses {
		if c.GrantState(g, at) == CodeNotYetValid && (!ok || g.StartsAt < start) {
			start, ok = g.StartsAt, true
		}
	}
	return start, ok
}
