package webhook

import (
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// The events of each transition, with what makes each one unique.

// LicenseIssued: the Licensee's first token, serial, is in its Secret.
func LicenseIssued(l *licensingv1alpha1.Licensee, serial string, now time.Time) Event {
	e := ForLicensee(l, licensingv1alpha1.EventLicenseIssued, now, serial)
	e.Subject, e.Data.Serial = serial, serial
	return e
}

// LicenseRenewed: token serial replaced previous, for reason.
func LicenseRenewed(l *licensingv1alpha1.Licensee, serial, previous, reason string, now time.Time) Event {
	e := ForLicensee(l, licensingv1alpha1.EventLicenseRenewed, now, serial)
	e.Subject, e.Data.Serial, e.Data.PreviousSerial, e.Data.Reason = serial, serial, previous, reason
	return e
}

// LicenseRevoked: the token revoked (its serial) was removed from the Secret.
// A token is revoked once, so its serial tells revocations apart.
func LicenseRevoked(l *licensingv1alpha1.Licensee, revoked, reason string, now time.Time) Event {
	e := ForLicensee(l, licensingv1alpha1.EventLicenseRevoked, now, revoked)
	e.Subject, e.Data.PreviousSerial, e.Data.Reason = revoked, revoked, reason
	return e
}

// stateEvents are the license states that are business events when entered.
var stateEvents = map[licensingv1alpha1.LicenseState]licensingv1alpha1.EventType{
	licensingv1alpha1.LicenseStateInGracePeriod: licensingv1alpha1.EventLicenseEnteredGrace,
	licensingv1alpha1.LicenseStateExpired:       licensingv1alpha1.EventLicenseExpired,
	licensingv1alpha1.LicenseStateSuspended:     licensingv1alpha1.EventLicenseSuspended,
}

// LicenseStateEntered is the event of license ls entering its state from old,
// if that is one: entered-grace, expired, suspended, or resumed (out of
// Suspended into anything but Expired, as the Kubernetes Event says). The
// Licensee's generation and the license's window tell one expiry or
// suspension from the next, so a retried reconcile makes the same event.
func LicenseStateEntered(l *licensingv1alpha1.Licensee, ls *licensingv1alpha1.LicenseStatus, old licensingv1alpha1.LicenseState, now time.Time) (Event, bool) {
	t, ok := stateEvents[ls.State]
	if old == licensingv1alpha1.LicenseStateSuspended && ls.State != licensingv1alpha1.LicenseStateExpired {
		t, ok = licensingv1alpha1.EventLicenseResumed, true
	}
	if !ok || old == ls.State {
		return Event{}, false
	}
	e := ForLicensee(l, t, now, ls.Name, string(old), string(ls.State), strconv.FormatInt(l.Generation, 10), stamp(ls.ValidUntil), stamp(ls.GraceUntil))
	e.Subject, e.Data.License = ls.Name, ls.Name
	e.Data.State, e.Data.PreviousState = ls.State, old
	e.Data.ValidUntil, e.Data.GraceUntil = ls.ValidUntil, ls.GraceUntil
	return e, true
}

// LicenseExpiringSoon: license ends at end, within threshold (a notifyBefore
// entry, as the template writes it); graceUntil follows end when the license
// has a grace period. One per threshold and end.
func LicenseExpiringSoon(l *licensingv1alpha1.Licensee, license, threshold string, end time.Time, graceUntil *time.Time, now time.Time) Event {
	e := ForLicensee(l, licensingv1alpha1.EventLicenseExpiringSoon, now, license, threshold, end.UTC().Format(time.RFC3339))
	e.Subject, e.Data.License, e.Data.Threshold = license, license, threshold
	e.Data.ValidUntil = &metav1.Time{Time: end}
	if graceUntil != nil {
		e.Data.GraceUntil = &metav1.Time{Time: *graceUntil}
	}
	return e
}

// ActivationCreated and ActivationRemoved: a fingerprint activated or
// deactivated; the Activation's UID makes each one unique.
func ActivationCreated(l *licensingv1alpha1.Licensee, a *licensingv1alpha1.Activation, now time.Time) Event {
	return activationEvent(l, a, licensingv1alpha1.EventActivationCreated, now)
}

// ActivationRemoved: see ActivationCreated.
func ActivationRemoved(l *licensingv1alpha1.Licensee, a *licensingv1alpha1.Activation, now time.Time) Event {
	return activationEvent(l, a, licensingv1alpha1.EventActivationRemoved, now)
}

func activationEvent(l *licensingv1alpha1.Licensee, a *licensingv1alpha1.Activation, t licensingv1alpha1.EventType, now time.Time) Event {
	e := ForLicensee(l, t, now, string(a.UID))
	e.Subject, e.Data.License = a.Spec.License+"/"+a.Spec.Fingerprint, a.Spec.License
	e.Data.Fingerprint, e.Data.MachineName = a.Spec.Fingerprint, a.Spec.DisplayName
	return e
}

// SeatsExhausted: every seat of license is held. The held leases' ids tell
// one exhaustion from the next: the same holders seen again are the same event.
func SeatsExhausted(l *licensingv1alpha1.Licensee, license string, seats, inUse int32, leaseIDs []string, now time.Time) Event {
	ids := slices.Sorted(slices.Values(leaseIDs))
	e := ForLicensee(l, licensingv1alpha1.EventSeatsExhausted, now, license, strings.Join(ids, ","))
	e.Subject, e.Data.License = license, license
	e.Data.Seats, e.Data.SeatsInUse = &seats, &inUse
	return e
}

// KeyRotated: key replaced previous as the Product's signing key.
func KeyRotated(p *licensingv1alpha1.Product, key, previous, reason string, now time.Time) Event {
	e := ForProduct(p, licensingv1alpha1.EventKeyRotated, now, key)
	e.Subject, e.Data.KeyID, e.Data.PreviousKeyID, e.Data.Reason = key, key, previous, reason
	return e
}

// KeyMissing: the Secret holding signing key key is gone; issuing stopped.
func KeyMissing(p *licensingv1alpha1.Product, key string, now time.Time) Event {
	e := ForProduct(p, licensingv1alpha1.EventKeyMissing, now, key)
	e.Subject, e.Data.KeyID = key, key
	return e
}

func stamp(t *metav1.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
