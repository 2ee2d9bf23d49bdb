package entitlement

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
)

func withTTL(tpl *v1alpha1.LicenseTemplateSpec, ttl string) *v1alpha1.LicenseTemplateSpec {
	c := *tpl
	c.TokenTTL = durp(ttl)
	return &c
}

func TestNextTransition(t *testing.T) {
	const month = 30 * day
	none := time.Time{}
	tests := []struct {
		name     string
		licenses []LicenseInput
		suspend  bool
		now      time.Time
		iat      time.Time
		want     *time.Time
	}{
		{"nothing", nil, false, ts(0), none, nil},
		{"perpetual never changes", []LicenseInput{lic("p", "p", perpetual)}, false, ts(day), none, nil},
		{"valid: validUntil", []LicenseInput{lic("m", "m", monthly)}, false, ts(day), none, tp(month)},
		{"one second before validUntil", []LicenseInput{lic("m", "m", monthly)}, false, ts(month - time.Second), none, tp(month)},
		{"exactly at validUntil: graceUntil", []LicenseInput{lic("m", "m", monthly)}, false, ts(month), none, tp(month + 7*day)},
		{"just before graceUntil", []LicenseInput{lic("m", "m", monthly)}, false, ts(month + 7*day - time.Nanosecond), none, tp(month + 7*day)},
		{"exactly at graceUntil: nothing more", []LicenseInput{lic("m", "m", monthly)}, false, ts(month + 7*day), none, nil},
		{"no grace: exactly at validUntil", []LicenseInput{lic("m", "m", monthlyNoGrace)}, false, ts(month), none, nil},
		{"pending: the start", []LicenseInput{with(lic("m", "m", monthly), func(li *LicenseInput) { li.Spec.StartsAt = mt(day) })}, false, ts(0), none, tp(day)},
		{"exactly at the start: validUntil", []LicenseInput{with(lic("m", "m", monthly), func(li *LicenseInput) { li.Spec.StartsAt = mt(day) })}, false, ts(day), none, tp(day + month)},
		{"first issuance within a second: not the start", []LicenseInput{with(lic("t", "t", trial), func(li *LicenseInput) { li.KnownStart = nil })}, false, ts(900 * time.Millisecond), none, tp(14 * day)},
		{"autoRenew: the period end", []LicenseInput{lic("r", "r", renewing)}, false, ts(45 * day), none, tp(2 * month)},
		{"autoRenew: exactly at a period end, the next one", []LicenseInput{lic("r", "r", renewing)}, false, ts(2 * month), none, tp(3 * month)},
		{"autoRenew with endsAt: the hard end", []LicenseInput{with(lic("r", "r", renewing), func(li *LicenseInput) { li.Spec.EndsAt = mt(2*month + day) })}, false, ts(2 * month), none, tp(2*month + day)},
		{"autoRenew after endsAt: nothing", []LicenseInput{with(lic("r", "r", renewing), func(li *LicenseInput) { li.Spec.EndsAt = mt(2*month + day) })}, false, ts(2*month + day), none, nil},
		{"the earliest of several", []LicenseInput{lic("m", "m", monthly), lic("t", "t", trial), lic("p", "p", perpetual)}, false, ts(day), none, tp(14 * day)},
		{"suspended licenses keep their clock", []LicenseInput{lic("t", "t", trial)}, true, ts(day), none, tp(14 * day)},
		{"invalid licenses never change by themselves", []LicenseInput{lic("x", "x", nil)}, false, ts(day), none, nil},

		// notifyBefore thresholds, counted back from the end.
		{"notifyBefore: the first threshold", []LicenseInput{lic("q", "q", quarterly)}, false, ts(day), none, tp(60 * day)},
		{"exactly at a threshold: the next one", []LicenseInput{lic("q", "q", quarterly)}, false, ts(60 * day), none, tp(83 * day)},
		{"after the last threshold: validUntil", []LicenseInput{lic("q", "q", quarterly)}, false, ts(89*day + time.Hour), none, tp(90 * day)},
		{"thresholds count back from an earlier endsAt", []LicenseInput{with(lic("q", "q", quarterly), endsAt(50*day))}, false, ts(day), none, tp(20 * day)},
		{"autoRenew without endsAt: no thresholds", []LicenseInput{lic("r", "r", renewingNotify)}, false, ts(day), none, tp(month)},
		{"autoRenew: thresholds count back from endsAt", []LicenseInput{with(lic("r", "r", renewingNotify), endsAt(200*day))}, false, ts(150 * day), none, tp(170 * day)},
		{"suspended: no thresholds", []LicenseInput{lic("q", "q", quarterly)}, true, ts(day), none, tp(90 * day)},
		{"pending: the start before any threshold", []LicenseInput{with(lic("q", "q", quarterly), func(li *LicenseInput) { li.Spec.StartsAt = mt(10 * day) })}, false, ts(day), none, tp(10 * day)},

		// Token refresh at iat + 2/3 TTL.
		{"no token: no refresh", []LicenseInput{lic("p", "p", withTTL(perpetual, "1h"))}, false, ts(0), none, nil},
		{"refresh at 2/3 of the TTL", []LicenseInput{lic("p", "p", withTTL(perpetual, "1h"))}, false, ts(0), ts(0), tp(40 * time.Minute)},
		{"refresh rounded up to a whole second", []LicenseInput{lic("p", "p", withTTL(perpetual, "61s"))}, false, ts(0), ts(0), tp(41 * time.Second)},
		{"refresh counts from a truncated iat", []LicenseInput{lic("p", "p", withTTL(perpetual, "1h"))}, false, ts(time.Second), ts(900 * time.Millisecond), tp(40 * time.Minute)},
		{"the smallest TTL", []LicenseInput{lic("a", "a", withTTL(perpetual, "90m")), lic("b", "b", withTTL(floating, "1h")), lic("c", "c", perpetual)}, false, ts(0), ts(0), tp(40 * time.Minute)},
		{"an invalid license's TTL is not used", []LicenseInput{lic("a", "a", withTTL(perpetual, "90m")), with(lic("b", "b", withTTL(floating, "1h")), func(li *LicenseInput) { li.Problem = "broken" })}, false, ts(0), ts(0), tp(60 * time.Minute)},
		{"a license boundary before the refresh", []LicenseInput{lic("t", "t", withTTL(trial, "720h"))}, false, ts(13 * day), ts(13 * day), tp(14 * day)},
		{"no refresh when the licenses end before the TTL", []LicenseInput{lic("t", "t", withTTL(trial, "720h"))}, false, ts(14 * day), ts(13 * day), nil},
		{"refresh while suspended", []LicenseInput{lic("p", "p", withTTL(perpetual, "1h"))}, true, ts(0), ts(0), tp(40 * time.Minute)},
		{"overdue refresh: the next second, never now", []LicenseInput{lic("p", "p", withTTL(perpetual, "1h"))}, false, ts(2*time.Hour + 500*time.Millisecond), ts(0), tp(2*time.Hour + time.Second)},
		{"refresh due exactly now: the next second", []LicenseInput{lic("p", "p", withTTL(perpetual, "1h"))}, false, ts(40 * time.Minute), ts(0), tp(40*time.Minute + time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Evaluate(Input{Now: tt.now, Licenses: tt.licenses, LicenseeSuspended: tt.suspend})
			got := r.NextTransition(tt.iat)
			if !eqTimePtr(got, tt.want) {
				t.Errorf("next = %s, want %s", fmtTimePtr(got), fmtTimePtr(tt.want))
			}
			if got != nil && !got.After(tt.now) {
				t.Errorf("next %s is not after now %s", stamp(*got), tt.now)
			}
		})
	}
}

func TestRefreshAt(t *testing.T) {
	r := Evaluate(Input{Now: ts(0), Licenses: []LicenseInput{lic("p", "p", withTTL(perpetual, "24h"))}})
	if at := r.RefreshAt(ts(0)); !eqTimePtr(at, tp(16*time.Hour)) {
		t.Errorf("refresh at %s, want 16h after iat", fmtTimePtr(at))
	}
	if at := r.RefreshAt(time.Time{}); at != nil {
		t.Errorf("refresh without a token at %s", stamp(*at))
	}
	if at := Evaluate(Input{Now: ts(0), Licenses: []LicenseInput{lic("p", "p", perpetual)}}).RefreshAt(ts(0)); at != nil {
		t.Errorf("refresh without a TTL at %s", stamp(*at))
	}
}

// TestNextTransitionSweep checks, at many instants around every boundary, that
// nothing changes before the next transition, that something changes at it,
// and that it is always after now.
func TestNextTransitionSweep(t *testing.T) {
	const month = 30 * day
	configs := []struct {
		name     string
		licenses []LicenseInput
		suspend  bool
		trials   bool
	}{
		{"monthly", []LicenseInput{lic("m", "m", monthly)}, false, false},
		{"renewing until endsAt", []LicenseInput{with(lic("r", "r", renewing), func(li *LicenseInput) { li.Spec.EndsAt = mt(2*month + 10*day) })}, false, false},
		{"renewing forever", []LicenseInput{lic("r", "r", renewing)}, false, false},
		{"mixed", []LicenseInput{
			with(lic("p", "p", perpetual), func(li *LicenseInput) { li.Spec.StartsAt = mt(5 * day) }),
			lic("t", "t", trial),
			with(lic("s", "m", monthly), func(li *LicenseInput) { li.Spec.Suspended = true }),
			with(lic("e", "m", monthly), func(li *LicenseInput) { li.Spec.EndsAt = mt(month + 2*day) }),
		}, false, true},
		{"timed floating and node-locked, licensee suspended", []LicenseInput{lic("f", "f", floatingTimed), lic("n", "n", nodeLockedTimed)}, true, false},
		{"notices", []LicenseInput{
			lic("q", "q", quarterly),
			with(lic("r", "r", renewingNotify), endsAt(95*day)),
			with(lic("p", "p", perpetualNotify), endsAt(40*day)),
		}, false, false},
	}
	var instants []time.Time
	for d := -2; d <= 100; d++ {
		for _, off := range []time.Duration{-time.Second, -time.Nanosecond, 0, time.Nanosecond, 500 * time.Millisecond} {
			instants = append(instants, ts(time.Duration(d)*day+off))
		}
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			eval := func(now time.Time) Result {
				in := Input{Now: now, Licenses: c.licenses, LicenseeSuspended: c.suspend}
				if c.trials { // the trial's record, as the controller would have kept it
					in.Trials = []v1alpha1.TrialRecord{{Template: "t", StartedAt: *mt(0)}}
				}
				return Evaluate(in)
			}
			for _, now := range instants {
				r := eval(now)
				here := summary(r)
				next := r.NextTransition(time.Time{})
				if next == nil {
					if later := summary(eval(now.AddDate(50, 0, 0))); !reflect.DeepEqual(later, here) {
						t.Fatalf("at %s: no next transition, but 50 years later\n%v\nbecomes\n%v", now, here, later)
					}
					continue
				}
				if !next.After(now) {
					t.Fatalf("at %s: next transition %s is not after now", now, stamp(*next))
				}
				if before := summary(eval(next.Add(-time.Nanosecond))); !reflect.DeepEqual(before, here) {
					t.Fatalf("at %s: a change before the next transition %s:\n%v\nbecomes\n%v", now, stamp(*next), here, before)
				}
				if at := summary(eval(*next)); reflect.DeepEqual(at, here) {
					t.Fatalf("at %s: nothing changes at the next transition %s", now, stamp(*next))
				}
			}
		})
	}
}

// summary is what a transition may change: every license's window and state
// (including the state of its window under a suspension) and the licensee's.
func summary(r Result) []string {
	var out []string
	for _, l := range r.Licenses {
		out = append(out, fmt.Sprintf("%s %s %s..%s..%s window=%s %v %v", l.Name, l.State,
			fmtTimePtr(l.StartsAt), fmtTimePtr(l.ValidUntil), fmtTimePtr(l.GraceUntil), windowState(l, r.Now), l.Features, l.Quotas))
	}
	for _, l := range r.Licenses {
		// The notice due to a license that never had one changes at each threshold.
		if _, due := l.ExpiryNotice(r.Now, nil); due != nil {
			out = append(out, fmt.Sprintf("%s notice %s for %s", l.Name, due.Before, stamp(due.ExpiresAt)))
		}
	}
	return append(out, fmt.Sprintf("%v %v %t %s %s expires=%s revoke=%t",
		r.Features, r.Quotas, r.Licensed, r.LicensedReason, r.LicensedMessage, fmtTimePtr(r.ExpiresAt), r.Revoke))
}

// windowState is the state of l's window at t, ignoring its suspension.
func windowState(l License, t time.Time) v1alpha1.LicenseState {
	g := l.grant()
	g.Suspended = false
	return stateOf(g.StateAt(t))
}
