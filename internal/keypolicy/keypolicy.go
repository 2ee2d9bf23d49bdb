// Package keypolicy decides, without a cluster, when a Product's signing key
// rotates and when a retired public key may leave the JWKS.
package keypolicy

import (
	"time"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
)

// Reasons a key rotates, used in events and status messages.
const (
	ReasonRotateRequested  = "RotateRequested"
	ReasonAlgorithmChanged = "AlgorithmChanged"
	ReasonRotationDue      = "RotationDue"
)

// RotationInput is what the rotation checks look at.
type RotationInput struct {
	Now time.Time
	// RotateAnnotation is the current value of licensing.kubelicense.io/rotate-key;
	// LastHandledRotate the value already acted on (from status).
	RotateAnnotation, LastHandledRotate string
	// Wanted is the algorithm the spec asks for; Current that of the key in use.
	Wanted, Current  v1alpha1.SigningAlgorithm
	CurrentCreatedAt time.Time
	// RotateEvery is zero when the key rotates only on request.
	RotateEvery time.Duration
}

// rotationCheck is one reason to rotate: it returns a reason and message when violated.
type rotationCheck func(RotationInput) (reason, message string, rotate bool)

// rotationChecks run in order; the first that asks for rotation wins.
var rotationChecks = []rotationCheck{
	func(in RotationInput) (string, string, bool) {
		if in.RotateAnnotation != "" && in.RotateAnnotation != in.LastHandledRotate {
			return ReasonRotateRequested, "rotation requested with annotation " + v1alpha1.AnnotationRotateKey + "=" + in.RotateAnnotation, true
		}
		return "", "", false
	},
	func(in RotationInput) (string, string, bool) {
		if in.Wanted != in.Current {
			return ReasonAlgorithmChanged, "spec.signing.algorithm changed from " + string(in.Current) + " to " + string(in.Wanted), true
		}
		return "", "", false
	},
	func(in RotationInput) (string, string, bool) {
		if in.RotateEvery > 0 && !in.Now.Before(RotationDueAt(in.CurrentCreatedAt, in.RotateEvery)) {
			return ReasonRotationDue, "the key is older than spec.signing.rotateEvery (" + in.RotateEvery.String() + ")", true
		}
		return "", "", false
	},
}

// ShouldRotate reports whether the current key must be replaced, and why.
func ShouldRotate(in RotationInput) (reason, message string, rotate bool) {
	for _, check := range rotationChecks {
		if reason, message, rotate := check(in); rotate {
			return reason, message, true
		}
	}
	return "", "", false
}

// RotationDueAt is when a key created at createdAt is due for rotation, in whole
// seconds rounded up so a requeue at that instant never fires early.
func RotationDueAt(createdAt time.Time, every time.Duration) time.Time {
	return ceilSecond(createdAt.Add(every))
}

// TokenLifetime is the longest time a token signed now can stay valid under one
// template: its tokenTTL when set (tokens are re-signed before it), else one
// period plus grace; forever for templates whose licenses never end.
//
// A license whose startsAt lies in the future gets a token that outlives this
// bound; such tokens are re-signed when the key rotates, so only copies taken
// off the cluster before the rotation are affected.
func TokenLifetime(t v1alpha1.LicenseTemplateSpec) (lifetime time.Duration, forever bool) {
	if t.TokenTTL != nil {
		if ttl, err := t.TokenTTL.Parse(); err == nil {
			return ttl, false
		}
	}
	if t.Duration == nil {
		return 0, true
	}
	period, err := t.Duration.Parse()
	if err != nil {
		return 0, true
	}
	var grace time.Duration
	if t.GracePeriod != nil {
		grace, _ = t.GracePeriod.Parse()
	}
	return period + grace, false
}

// MaxTokenLifetime is the longest TokenLifetime over a Product's templates.
func MaxTokenLifetime(templates []v1alpha1.LicenseTemplateSpec) (lifetime time.Duration, forever bool) {
	for _, t := range templates {
		d, f := TokenLifetime(t)
		if f {
			return 0, true
		}
		lifetime = max(lifetime, d)
	}
	return lifetime, false
}

// RemoveAt is when a key retired at retiredAt may leave the JWKS; ok is false
// when it must stay forever.
func RemoveAt(retiredAt time.Time, lifetime time.Duration, forever bool) (at time.Time, ok bool) {
	if forever {
		return time.Time{}, false
	}
	return ceilSecond(retiredAt.Add(lifetime)), true
}

// NextCheck is the earliest of the given instants strictly after now, or nil.
func NextCheck(now time.Time, instants ...*time.Time) *time.Time {
	var next *time.Time
	for _, t := range instants {
		if t == nil || !t.After(now) {
			continue
		}
		if next == nil || t.Before(*next) {
			next = t
		}
	}
	return next
}

func ceilSecond(t time.Time) time.Time {
	if tr := t.Truncate(time.Second); !tr.Equal(t) {
		return tr.Add(time.Second)
	}
	return t
}
