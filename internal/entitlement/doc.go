// Package entitlement decides what a Licensee is entitled to: the state and
// window of each license, the effective features and quotas, the Licensed
// condition, whether the token is revoked, when something next changes, and the
// token claims. It is pure: no client, no I/O, and the clock is an input.
//
// # Start
//
// A license starts at spec.startsAt; without it, at its remembered start (status:
// when it was first issued); without that, now (this is its first issuance).
// A Trial runs once per licensee and template: once started, its TrialRecord
// fixes the start, even if the license is removed and added again or its
// startsAt changes. A record is made when the trial starts, not before, so a
// future startsAt can still be corrected.
//
// All instants are truncated to whole seconds and durations rounded up to whole
// seconds, because tokens carry seconds: the operator and an offline verifier
// then decide identically.
//
// # Window
//
// Valid on [start, validUntil), in grace on [validUntil, graceUntil), expired
// from graceUntil (from validUntil without grace). By type:
//
//   - Perpetual, and Floating or NodeLocked without a duration: never ends.
//   - Trial, Subscription without autoRenew, Floating or NodeLocked with a
//     duration: one period, validUntil = start + duration.
//   - Subscription with autoRenew: consecutive periods from start; validUntil is
//     the end of the period containing now (of the first period before start).
//     It rolls over at each period end, so the license is never in grace unless
//     endsAt stops it; graceUntil still goes into the token, as a buffer should
//     the operator be unable to re-issue.
//
// spec.endsAt is a hard end: it caps validUntil and graceUntil, with no grace
// after it.
//
// # State
//
// Invalid when the template is missing, unusable or unparsable. Otherwise
// pkg/license decides, from the grant the token carries (Claims.GrantState):
// Suspended when the license or the whole licensee is suspended, whatever the
// window says, even after it ended; otherwise Pending, Valid, InGracePeriod or
// Expired from the window. The operator computes windows and never decides a
// state itself, so status and verifiers agree. Suspension does not stop the
// clock.
//
// # Entitlements
//
// A license grants its template's features plus overrides.add minus
// overrides.remove, and its template's quotas overridden name by name by its
// own. The licensee is entitled to the union of the features and the sum of the
// quotas of its Valid and InGracePeriod licenses.
//
// # Licensed condition
//
// The best state any license is in gives the reason, as license.Claims.State
// picks it: Valid > InGracePeriod > NotYetValid (Pending) > Suspended >
// Expired. The effective features and quotas are license.Claims.FeaturesAt and
// QuotasAt of the same grants. Without a license that can be evaluated (none in spec,
// or all Invalid) the reason is NoLicenses. Licensed is true for Valid and
// InGracePeriod.
//
// ExpiresAt is the earliest end (validUntil; graceUntil for a license in grace)
// among the licenses entitling now; nil when nothing entitles or one of them
// never ends, since the licensee then stays licensed whatever the others do.
//
// # Revocation
//
// The token is revoked (removed from the Secret) when nothing entitles now, at
// least one license has lapsed (its window ended, suspended or not), and every
// lapsed license's template says onExpiry: Revoke (absent means Retain). One
// Retain license keeps the lapsed token.
//
// # Expiry notices
//
// A template's notifyBefore thresholds count back from a license's end: its
// validUntil; for an auto-renewing subscription its endsAt, and none without
// one, since it renews. While the license is Valid and now is within a
// threshold of that end, one notice is due for the shortest threshold passed,
// unless status records it (or a shorter one) for the same end; a record of
// another end no longer counts, so a renewed or extended license is announced
// again. Pending, Suspended, InGracePeriod and Expired licenses get none.
//
// # Next transition
//
// The earliest instant strictly after now when a state or entitlement changes
// (a start, a validUntil including each autoRenew period end, a graceUntil; an
// endsAt is one of these when it matters), when an expiry notice falls due (a
// threshold before the end of a Valid license), or when the token must be re-signed:
// at iat + 2/3 of the smallest tokenTTL among the token's licenses, rounded up
// to a whole second, as long as the TTL rather than the licenses bounds the
// token. Suspended licenses count too, since their window goes on. Nil when
// nothing will ever change.
//
// # Token claims
//
// One grant per license that is not Invalid, sorted by name. exp is the latest
// end over the grants (absent when one never ends), capped at iat + the
// smallest tokenTTL, and never before iat: a lapsed token is expired from its
// issuance. A token without grants expires at iat. The top-level features and
// quotas are the entitlements at iat. Slices and maps are sorted and never nil,
// so equal inputs give byte-identical JSON. Dates a token cannot carry (before
// 1970 or after 9999, see license.UnixTime) are clamped into that range, and
// an end at or before 1970 is written as its first second, since 0 means
// "never ends": the state is the same at any instant of the range, while
// status keeps the dates as computed.
package entitlement
