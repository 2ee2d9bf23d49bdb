package entitlement

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
)

// threshold is one entry of a template's notifyBefore.
type threshold struct {
	text   string        // as the template writes it, for status and messages
	before time.Duration // rounded up to a whole second
}

// parseThresholds reads notifyBefore, longest first. The CRD rejects what fails
// here (not positive, duplicates), so an error means it bypassed validation.
func parseThresholds(ds []v1alpha1.Duration) ([]threshold, error) {
	out := make([]threshold, 0, len(ds))
	for i, d := range ds {
		v, err := d.Parse()
		if err != nil {
			return nil, fmt.Errorf("notifyBefore[%d]: %w", i, err)
		}
		out = append(out, threshold{text: string(d), before: ceilSecond(v)})
	}
	slices.SortStableFunc(out, func(a, b threshold) int { return cmp.Compare(b.before, a.before) })
	return slices.CompactFunc(out, func(a, b threshold) bool { return a.before == b.before }), nil
}

// noticeEnd is the end that expiry notices count back from: validUntil, the
// end of the only period; for an auto-renewing subscription, whose periods
// roll over, only the hard endsAt (nil without it: it never ends).
func noticeEnd(w window, endsAt *time.Time, tm terms) *time.Time {
	if len(tm.notifyBefore) == 0 {
		return nil
	}
	if tm.autoRenew {
		return endsAt
	}
	return w.validUntil
}

// Notice is an ExpiringSoon notice due for one license.
type Notice struct {
	License  string
	Template string
	// ExpiresAt is the end announced; Before the threshold passed, as the
	// template writes it; Remaining the time left at the notice.
	ExpiresAt time.Time
	Before    string
	Remaining time.Duration
	// GraceUntil follows ExpiresAt when the license has a grace period.
	GraceUntil *time.Time
	// Renewing: an auto-renewing subscription that stops at its endsAt.
	Renewing bool
}

// Message says which license ends when, for the Event.
func (n Notice) Message() string {
	msg := fmt.Sprintf("license %s (template %s) expires at %s, in %s (notifyBefore %s)",
		n.License, n.Template, stamp(n.ExpiresAt), approxDuration(n.Remaining), n.Before)
	if n.GraceUntil != nil && n.GraceUntil.After(n.ExpiresAt) {
		msg += "; grace period until " + stamp(*n.GraceUntil)
	}
	if n.Renewing {
		msg += "; it does not renew past its endsAt"
	}
	return msg
}

// ExpiryNotice decides license l's notice at now, given the last one status
// recorded: it returns the record status keeps and the notice due now (nil:
// none). A notice is due while the license is Valid and now is within a
// threshold of its end, once per threshold and end: only the shortest
// threshold passed counts, so a license created two days before its end with
// [720h, 168h, 24h] gets one notice, for 168h. A record of another end is
// dropped, so a renewed or extended license is announced again; an Invalid
// license, whose end is unknown, keeps its record.
func (l License) ExpiryNotice(now time.Time, last *v1alpha1.ExpiryNotice) (*v1alpha1.ExpiryNotice, *Notice) {
	if l.State == v1alpha1.LicenseStateInvalid {
		return last, nil
	}
	end := l.noticeEnd
	if last != nil && (end == nil || !last.ExpiresAt.Time.Equal(*end)) {
		last = nil
	}
	t, ok := l.noticeThreshold(now)
	if !ok {
		return last, nil
	}
	if last != nil {
		if announced, err := time.ParseDuration(last.Before); err == nil && ceilSecond(announced) <= t.before {
			return last, nil // this threshold, or a shorter one, was announced
		}
	}
	n := &Notice{
		License: l.Name, Template: l.Template, ExpiresAt: *end, Before: t.text, Remaining: end.Sub(now),
		Renewing: l.autoRenew,
	}
	if l.GraceUntil != nil && l.ValidUntil != nil && l.ValidUntil.Equal(*end) {
		n.GraceUntil = ptr(*l.GraceUntil)
	}
	return &v1alpha1.ExpiryNotice{ExpiresAt: metav1.NewTime(*end), Before: t.text, NoticedAt: metav1.NewTime(now)}, n
}

// noticeThreshold is the shortest threshold passed at now; false when the
// license is not Valid or no threshold has passed.
func (l License) noticeThreshold(now time.Time) (threshold, bool) {
	if l.State != v1alpha1.LicenseStateValid || l.noticeEnd == nil {
		return threshold{}, false
	}
	for i := len(l.notifyBefore) - 1; i >= 0; i-- {
		if t := l.notifyBefore[i]; !now.Before(l.noticeEnd.Add(-t.before)) {
			return t, true
		}
	}
	return threshold{}, false
}

// noticeInstants are the instants a notice may fall due: each threshold before
// the end of a Valid license (a Pending one is woken by its start first).
func (l License) noticeInstants() []time.Time {
	if l.State != v1alpha1.LicenseStateValid || l.noticeEnd == nil {
		return nil
	}
	out := make([]time.Time, 0, len(l.notifyBefore))
	for _, t := range l.notifyBefore {
		out = append(out, l.noticeEnd.Add(-t.before))
	}
	return out
}

// approxDuration writes d for people, rounded, in its two largest units: 2d,
// 1d23h, 11h30m, 59m59s.
func approxDuration(d time.Duration) string {
	switch {
	case d >= 24*time.Hour-30*time.Minute:
		d = d.Round(time.Hour)
	case d >= time.Hour-30*time.Second:
		d = d.Round(time.Minute)
	default:
		d = d.Round(time.Second)
	}
	units := []struct {
		size time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	for i, u := range units {
		if d < u.size {
			continue
		}
		s := fmt.Sprintf("%d%s", d/u.size, u.name)
		if i+1 < len(units) {
			if n := d % u.size / units[i+1].size; n > 0 {
				s += fmt.Sprintf("%d%s", n, units[i+1].name)
			}
		}
		return s
	}
	return "0s"
}
