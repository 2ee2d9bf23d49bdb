package entitlement

import (
	"time"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// The operator computes windows; pkg/license decides what a window means (its
// state at an instant, what is entitled). Every such question goes through a
// license.Grant built here, the same one BuildClaims puts in the token, so
// status and every verifier answer alike by construction.

// grant is l as its token carries it.
func (l License) grant() license.Grant {
	return license.Grant{
		Name:           l.Name,
		Template:       l.Template,
		Type:           string(l.Type),
		StartsAt:       tokenStart(*l.StartsAt),
		ValidUntil:     tokenEnd(l.ValidUntil),
		GraceUntil:     tokenEnd(l.GraceUntil),
		Features:       l.Features,
		Quotas:         l.Quotas,
		Seats:          l.Seats,
		MaxActivations: l.MaxActivations,
		Suspended:      l.Suspended,
	}
}

// claimsOf holds the licenses of ls that a token carries (all but Invalid),
// for asking pkg/license about them. It shares their slices and maps.
func claimsOf(ls []License, licenseeSuspended bool) *license.Claims {
	c := &license.Claims{Licensee: license.LicenseeInfo{Suspended: licenseeSuspended}}
	for _, l := range ls {
		if l.State != v1alpha1.LicenseStateInvalid {
			c.Licenses = append(c.Licenses, l.grant())
		}
	}
	return c
}

// tokenStart and tokenEnd write an instant as a token date. A token holds Unix
// seconds of the years 1970 to 9999 (license.UnixTime) and reads an end of 0
// as "never", so instants beyond are clamped to the range, and an end at or
// before 1970 becomes its first second: the state is the same at any instant
// a clock in that range can read (up to the last second of 9999).
func tokenStart(t time.Time) int64 {
	return min(max(t.Unix(), license.MinUnixTime), license.MaxUnixTime)
}

func tokenEnd(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return min(max(t.Unix(), license.MinUnixTime+1), license.MaxUnixTime)
}

// stateOf is the status state of a pkg/license state.
func stateOf(c license.Code) v1alpha1.LicenseState {
	switch c {
	case license.CodeValid:
		return v1alpha1.LicenseStateValid
	case license.CodeInGracePeriod:
		return v1alpha1.LicenseStateInGracePeriod
	case license.CodeNotYetValid:
		return v1alpha1.LicenseStatePending
	case license.CodeSuspended:
		return v1alpha1.LicenseStateSuspended
	default:
		return v1alpha1.LicenseStateExpired
	}
}
