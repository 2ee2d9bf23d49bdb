package entitlement

import (
	"fmt"
	"time"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
)

// terms are the parts of a template that shape a license's window.
type terms struct {
	period    time.Duration // 0: no end
	autoRenew bool
	grace     time.Duration
	tokenTTL  time.Duration
	// notifyBefore: the template's thresholds, longest first.
	notifyBefore []threshold
}

// parseTerms reads the template's durations. The CRD rejects what fails here, so
// an error means the template bypassed validation.
func parseTerms(t *v1alpha1.LicenseTemplateSpec) (terms, error) {
	var tm terms
	var err error
	if tm.notifyBefore, err = parseThresholds(t.NotifyBefore); err != nil {
		return tm, err
	}
	switch t.Type {
	case v1alpha1.LicenseTypePerpetual:
		// A duration is forbidden by the CRD; a Perpetual license never ends regardless.
		return tm, parseOptional("tokenTTL", t.TokenTTL, &tm.tokenTTL)
	case v1alpha1.LicenseTypeSubscription, v1alpha1.LicenseTypeTrial:
		if t.Duration == nil {
			return tm, fmt.Errorf("type %s needs a duration", t.Type)
		}
	case v1alpha1.LicenseTypeFloating, v1alpha1.LicenseTypeNodeLocked:
	default:
		return tm, fmt.Errorf("unknown type %q", t.Type)
	}
	if err = parseOptional("duration", t.Duration, &tm.period); err != nil {
		return tm, err
	}
	if err = parseOptional("gracePeriod", t.GracePeriod, &tm.grace); err != nil {
		return tm, err
	}
	if err = parseOptional("tokenTTL", t.TokenTTL, &tm.tokenTTL); err != nil {
		return tm, err
	}
	tm.autoRenew = AutoRenews(t)
	return tm, nil
}

// AutoRenews says whether licenses of t roll over into a new period when one
// ends: only subscriptions can, and only when they ask to.
func AutoRenews(t *v1alpha1.LicenseTemplateSpec) bool {
	return t.Type == v1alpha1.LicenseTypeSubscription && t.AutoRenew != nil && *t.AutoRenew
}

func parseOptional(field string, d *v1alpha1.Duration, into *time.Duration) error {
	if d == nil {
		return nil
	}
	v, err := d.Parse()
	if err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	*into = ceilSecond(v)
	return nil
}

// window is where a license is valid and in grace. Instants are whole seconds.
type window struct {
	start      time.Time
	validUntil *time.Time // nil: never ends
	graceUntil *time.Time // nil: no grace
}

// newWindow places the license's window around now. endsAt is the hard end.
func newWindow(start time.Time, endsAt *time.Time, tm terms, now time.Time) window {
	w := window{start: start}
	var natural *time.Time
	switch {
	case tm.period == 0:
	case tm.autoRenew:
		natural = ptr(periodEnd(start, tm.period, now))
	default:
		natural = ptr(start.Add(tm.period))
	}
	if endsAt != nil && (natural == nil || !natural.Before(*endsAt)) {
		// A hard end is final: no grace after it.
		w.validUntil = ptr(*endsAt)
		return w
	}
	w.validUntil = natural
	if natural != nil && tm.grace > 0 {
		g := natural.Add(tm.grace)
		if endsAt != nil && endsAt.Before(g) {
			g = *endsAt
		}
		w.graceUntil = &g
	}
	return w
}

// periodEnd is the end of the period of length p, counted from start, that
// contains now; before start, the end of the first period.
func periodEnd(start time.Time, p time.Duration, now time.Time) time.Time {
	secs := int64(p / time.Second)
	elapsed := now.Unix() - start.Unix()
	if elapsed < 0 {
		elapsed = 0
	}
	return time.Unix(start.Unix()+(elapsed/secs+1)*secs, 0).UTC()
}

// end is when the window stops entitling; nil: never.
func (w window) end() *time.Time {
	if w.graceUntil != nil {
		return w.graceUntil
	}
	return w.validUntil
}

// second truncates t to a whole second, in UTC and without a monotonic reading.
func second(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// ceilSecond rounds d up to a whole second.
func ceilSecond(d time.Duration) time.Duration {
	return (d + time.Second - 1) / time.Second * time.Second
}

func ptr[T any](v T) *T { return &v }

// stamp formats an instant for messages.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
