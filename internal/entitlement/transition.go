package entitlement

import (
	"time"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
)

// NextTransition is the earliest instant strictly after r.Now when a license's
// state or entitlements change, or when the token issued at tokenIssuedAt must
// be re-signed (zero tokenIssuedAt: no token). Nil when nothing will ever change.
// Instants are whole seconds, so the result is also after any instant within
// the second of r.Now.
func (r Result) NextTransition(tokenIssuedAt time.Time) *time.Time {
	var next *time.Time
	consider := func(t *time.Time) {
		if t != nil && t.After(r.Now) && (next == nil || t.Before(*next)) {
			next = ptr(*t)
		}
	}
	for _, l := range r.Licenses {
		if l.State == v1alpha1.LicenseStateInvalid {
			continue // changes only when its template does, which is an event, not a time
		}
		consider(l.StartsAt)
		consider(l.ValidUntil)
		consider(l.GraceUntil)
		for _, at := range l.noticeInstants() {
			consider(&at)
		}
	}
	if at := r.RefreshAt(tokenIssuedAt); at != nil {
		// Overdue: the caller should re-sign now; never ask for a requeue in the past.
		consider(ptr(maxTime(*at, r.Now.Add(time.Second))))
	}
	return next
}

// RefreshAt is when the token issued at tokenIssuedAt must be re-signed: at two
// thirds of the smallest tokenTTL, rounded up to a whole second. Nil without a
// token, without a TTL, or when the licenses end before the TTL would: then
// re-signing gains nothing. The caller re-signs once RefreshAt is not after now.
func (r Result) RefreshAt(tokenIssuedAt time.Time) *time.Time {
	ttl := r.tokenTTL()
	if ttl == 0 || tokenIssuedAt.IsZero() {
		return nil
	}
	iat := second(tokenIssuedAt)
	if end, forever := r.latestEnd(); !forever && (end == nil || !end.After(iat.Add(ttl))) {
		return nil
	}
	return ptr(iat.Add(ceilSecond(2 * ttl / 3)))
}

// tokenTTL is the smallest tokenTTL of the licenses in the token; 0: none.
func (r Result) tokenTTL() time.Duration {
	var ttl time.Duration
	for _, l := range r.Licenses {
		if l.State != v1alpha1.LicenseStateInvalid && l.TokenTTL > 0 && (ttl == 0 || l.TokenTTL < ttl) {
			ttl = l.TokenTTL
		}
	}
	return ttl
}

// latestEnd is the latest end over the licenses in the token; forever when one
// never ends; nil (and not forever) when there is none.
func (r Result) latestEnd() (end *time.Time, forever bool) {
	for _, l := range r.Licenses {
		if l.State == v1alpha1.LicenseStateInvalid {
			continue
		}
		e := l.window().end()
		if e == nil {
			return nil, true
		}
		if end == nil || e.After(*end) {
			end = e
		}
	}
	return end, false
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
