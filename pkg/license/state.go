package license

import (
	"slices"
	"time"
)

// GrantState is the state of license g at the moment at: SUSPENDED when the
// licensee is suspended, else g.StateAt(at).
func (c *Claims) GrantState(g Grant, at time.Time) Code {
	if c.Licensee.Suspended {
		return CodeSuspended
	}
	return g.StateAt(at)
}

// StateAt is the state of g at the moment at, from its own window and flag:
// SUSPENDED if g is suspended, else NOT_YET_VALID before StartsAt, VALID in
// [StartsAt, ValidUntil) (forever when ValidUntil is 0), IN_GRACE_PERIOD in
// [ValidUntil, GraceUntil), and EXPIRED from then on. This is the one rule for
// the state of a license window: the operator asks it too, for status.
func (g Grant) StateAt(at time.Time) Code {
	// Unix() floors, so comparing whole seconds is exact for instants in between.
	now := at.Unix()
	switch {
	case g.Suspended:
		return CodeSuspended
	case now < g.StartsAt:
		return CodeNotYetValid
	case g.ValidUntil == 0 || now < g.ValidUntil:
		return CodeValid
	case now < g.GraceUntil:
		return CodeInGracePeriod
	default:
		return CodeExpired
	}
}

// stateRank orders states for State: the best one a licensee holds wins.
func stateRank(c Code) int {
	switch c {
	case CodeValid:
		return 4
	case CodeInGracePeriod:
		return 3
	case CodeNotYetValid:
		return 2
	case CodeSuspended:
		return 1
	default:
		return 0
	}
}

// State is the best state over all licenses at the moment at, in the order
// VALID > IN_GRACE_PERIOD > NOT_YET_VALID > SUSPENDED > EXPIRED. A token without
// licenses is EXPIRED: it entitles nothing.
func (c *Claims) State(at time.Time) Code {
	best := CodeExpired
	for _, g := range c.Licenses {
		if s := c.GrantState(g, at); stateRank(s) > stateRank(best) {
			best = s
		}
	}
	return best
}

// Entitled reports whether any license that entitles at the moment at (VALID or
// IN_GRACE_PERIOD) grants feature.
func (c *Claims) Entitled(feature string, at time.Time) bool {
	return c.FeatureState(feature, at).Entitling()
}

// FeatureState is the answer to "may the holder use feature at the moment at",
// as the agent and the license API report it: the best state, VALID or
// IN_GRACE_PERIOD, of the licenses granting feature when one of them entitles;
// otherwise State(at) when that does not entitle (nothing is entitled: EXPIRED,
// SUSPENDED, NOT_YET_VALID); otherwise FEATURE_NOT_ENTITLED.
func (c *Claims) FeatureState(feature string, at time.Time) Code {
	best := CodeFeatureNotEntitled
	for _, g := range c.Licenses {
		if slices.Contains(g.Features, feature) {
			if best = c.better(best, g, at); best == CodeValid {
				return best
			}
		}
	}
	return c.denied(best, at)
}

// QuotaState is FeatureState for quota name: the licenses declaring it decide.
func (c *Claims) QuotaState(name string, at time.Time) Code {
	best := CodeFeatureNotEntitled
	for _, g := range c.Licenses {
		if _, declared := g.Quotas[name]; declared {
			if best = c.better(best, g, at); best == CodeValid {
				return best
			}
		}
	}
	return c.denied(best, at)
}

// better is g's state at the moment at when that entitles, else best; callers
// stop at VALID, so an entitling state is never worse than best.
func (c *Claims) better(best Code, g Grant, at time.Time) Code {
	if s := c.GrantState(g, at); s.Entitling() && best != CodeValid {
		return s
	}
	return best
}

// denied is best when it entitles; else why not: the licensee's own state when
// nothing is entitled at all, FEATURE_NOT_ENTITLED when only this is not.
func (c *Claims) denied(best Code, at time.Time) Code {
	if best.Entitling() {
		return best
	}
	if s := c.State(at); !s.Entitling() {
		return s
	}
	return CodeFeatureNotEntitled
}

// Quota is the sum of quota name over the licenses that entitle at the moment
// at; ok is false when none of them declares it.
func (c *Claims) Quota(name string, at time.Time) (total int64, ok bool) {
	for _, g := range c.Licenses {
		if v, declared := g.Quotas[name]; declared && c.GrantState(g, at).Entitling() {
			total += v
			ok = true
		}
	}
	return total, ok
}

// FeaturesAt lists, sorted and without duplicates, the features granted by the
// licenses that entitle at the moment at. (The Features field holds the
// entitlements at issue time only.)
func (c *Claims) FeaturesAt(at time.Time) []string {
	var out []string
	for _, g := range c.Licenses {
		if c.GrantState(g, at).Entitling() {
			out = append(out, g.Features...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// QuotasAt sums every quota over the licenses that entitle at the moment at.
// It is never nil. (The Quotas field holds the entitlements at issue time only.)
func (c *Claims) QuotasAt(at time.Time) map[string]int64 {
	out := map[string]int64{}
	for _, g := range c.Licenses {
		if c.GrantState(g, at).Entitling() {
			for name, v := range g.Quotas {
				out[name] += v
			}
		}
	}
	return out
}

// ExpiresAt is when the last license stops entitling: the latest GraceUntil, or
// ValidUntil for a license without grace. It is the zero Time when some license
// never ends. A token without licenses never entitled anything, so it returns
// the issue time. Suspension and the token's own exp (see Claims.Expiry, which
// the operator refreshes) are not taken into account.
func (c *Claims) ExpiresAt() time.Time {
	if len(c.Licenses) == 0 {
		return time.Unix(c.IssuedAt, 0).UTC()
	}
	var last int64
	for _, g := range c.Licenses {
		if g.ValidUntil == 0 {
			return time.Time{}
		}
		last = max(last, g.ValidUntil, g.GraceUntil)
	}
	return time.Unix(last, 0).UTC()
}

// LifetimeState is the verdict on the token's own lifetime at the moment at,
// with clock skew leeway (negative counts as zero), exactly as Verify decides
// it: NOT_YET_VALID before nbf - leeway, EXPIRED after exp + leeway, else
// VALID. It says nothing about the licenses inside the token.
func (c *Claims) LifetimeState(at time.Time, leeway time.Duration) Code {
	leeway = max(leeway, 0)
	switch {
	case c.NotBefore != 0 && at.Before(time.Unix(c.NotBefore, 0).Add(-leeway)):
		return CodeNotYetValid
	case c.Expiry != 0 && at.After(time.Unix(c.Expiry, 0).Add(leeway)):
		return CodeExpired
	}
	return CodeValid
}
