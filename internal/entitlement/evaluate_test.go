package entitlement

import (
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
)

func TestTrialRunsOnce(t *testing.T) {
	fresh := func(name string) LicenseInput {
		return with(lic(name, "trial", trial), func(li *LicenseInput) { li.KnownStart = nil })
	}
	record := func(d time.Duration) []v1alpha1.TrialRecord {
		return []v1alpha1.TrialRecord{{Template: "trial", StartedAt: metav1.NewTime(ts(d))}}
	}
	tests := []struct {
		name       string
		licenses   []LicenseInput
		trials     []v1alpha1.TrialRecord
		now        time.Time
		wantStart  time.Time
		wantState  v1alpha1.LicenseState
		wantRecord *time.Time // the new record's start; nil: none
	}{
		{"first issuance starts the trial and records it", []LicenseInput{fresh("t")}, nil,
			ts(time.Hour + 300*time.Millisecond), ts(time.Hour), v1alpha1.LicenseStateValid, tp(time.Hour)},
		{"removed and re-added: the record keeps the start", []LicenseInput{fresh("t")}, record(0),
			ts(3 * day), t0, v1alpha1.LicenseStateValid, nil},
		{"re-added after it ended: still expired", []LicenseInput{fresh("t")}, record(0),
			ts(30 * day), t0, v1alpha1.LicenseStateExpired, nil},
		{"a new startsAt does not restart it",
			[]LicenseInput{with(fresh("t"), func(li *LicenseInput) { li.Spec.StartsAt = mt(60 * day) })}, record(0),
			ts(30 * day), t0, v1alpha1.LicenseStateExpired, nil},
		{"the earliest of duplicate records wins", []LicenseInput{fresh("t")},
			append(record(5*day), record(2*day)...), ts(3 * day), ts(2 * day), v1alpha1.LicenseStateValid, nil},
		{"future startsAt: pending, not recorded yet",
			[]LicenseInput{with(fresh("t"), func(li *LicenseInput) { li.Spec.StartsAt = mt(day) })}, nil,
			ts(0), ts(day), v1alpha1.LicenseStatePending, nil},
		{"startsAt reached: recorded at startsAt, not now",
			[]LicenseInput{with(fresh("t"), func(li *LicenseInput) { li.Spec.StartsAt = mt(day) })}, nil,
			ts(2 * day), ts(day), v1alpha1.LicenseStateValid, tp(day)},
		{"remembered start without a record: recorded",
			[]LicenseInput{lic("t", "trial", trial)}, nil,
			ts(2 * day), t0, v1alpha1.LicenseStateValid, tp(0)},
		{"suspended trials run too", []LicenseInput{with(fresh("t"), func(li *LicenseInput) { li.Spec.Suspended = true })}, nil,
			ts(0), t0, v1alpha1.LicenseStateSuspended, tp(0)},
		{"another template's record does not count", []LicenseInput{fresh("t")},
			[]v1alpha1.TrialRecord{{Template: "other-trial", StartedAt: metav1.NewTime(ts(-100 * day))}},
			ts(0), t0, v1alpha1.LicenseStateValid, tp(0)},
		{"two licenses of one trial template share one record", []LicenseInput{fresh("a"), fresh("b")}, nil,
			ts(0), t0, v1alpha1.LicenseStateValid, tp(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Evaluate(Input{Now: tt.now, Licenses: tt.licenses, Trials: tt.trials})
			for _, l := range r.Licenses {
				if !l.StartsAt.Equal(tt.wantStart) || l.State != tt.wantState {
					t.Errorf("%s: start %s, state %s; want %s, %s", l.Name, stamp(*l.StartsAt), l.State, stamp(tt.wantStart), tt.wantState)
				}
			}
			switch {
			case tt.wantRecord == nil && len(r.NewTrials) != 0:
				t.Errorf("new trials = %v, want none", r.NewTrials)
			case tt.wantRecord != nil && (len(r.NewTrials) != 1 || r.NewTrials[0].Template != "trial" || !r.NewTrials[0].StartedAt.Time.Equal(*tt.wantRecord)):
				t.Errorf("new trials = %v, want one for trial at %s", r.NewTrials, stamp(*tt.wantRecord))
			}
		})
	}

	t.Run("an expired trial says it runs once", func(t *testing.T) {
		r := Evaluate(Input{Now: ts(30 * day), Licenses: []LicenseInput{fresh("t")}, Trials: record(0)})
		if msg := r.Licenses[0].Message; !strings.Contains(msg, "runs once") {
			t.Errorf("message = %q", msg)
		}
	})
}

func TestSuspension(t *testing.T) {
	suspend := func(li *LicenseInput) { li.Spec.Suspended = true }
	tests := []struct {
		name              string
		in                LicenseInput
		licenseeSuspended bool
		now               time.Time
		want              v1alpha1.LicenseState
		message           string
	}{
		{"valid license suspended", with(lic("l", "t", monthly), suspend), false, ts(day), v1alpha1.LicenseStateSuspended, "license is suspended"},
		{"license in grace suspended", with(lic("l", "t", monthly), suspend), false, ts(31 * day), v1alpha1.LicenseStateSuspended, "license is suspended"},
		{"pending license suspended", with(with(lic("l", "t", monthly), suspend), func(li *LicenseInput) { li.Spec.StartsAt = mt(day) }), false, ts(0), v1alpha1.LicenseStateSuspended, "license is suspended"},
		{"expired license suspended: still Suspended, as verifiers say", with(lic("l", "t", monthly), suspend), false, ts(100 * day), v1alpha1.LicenseStateSuspended, "license is suspended"},
		{"licensee suspended", lic("l", "t", perpetual), true, ts(day), v1alpha1.LicenseStateSuspended, "licensee is suspended"},
		{"both suspended", with(lic("l", "t", perpetual), suspend), true, ts(day), v1alpha1.LicenseStateSuspended, "licensee is suspended"},
		{"licensee not suspended", lic("l", "t", perpetual), false, ts(day), v1alpha1.LicenseStateValid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Evaluate(Input{Now: tt.now, LicenseeSuspended: tt.licenseeSuspended, Licenses: []LicenseInput{tt.in}})
			l := r.Licenses[0]
			if l.State != tt.want || !strings.Contains(l.Message, tt.message) {
				t.Errorf("state %s %q, want %s %q", l.State, l.Message, tt.want, tt.message)
			}
			if l.Suspended != tt.in.Spec.Suspended || r.LicenseeSuspended != tt.licenseeSuspended {
				t.Errorf("flags: license %t, licensee %t", l.Suspended, r.LicenseeSuspended)
			}
			if l.ValidUntil == nil && tt.in.Template.Duration != nil {
				t.Errorf("a suspended license keeps its window")
			}
			if tt.want == v1alpha1.LicenseStateSuspended && (r.Licensed || len(r.Features) != 0 || len(r.Quotas) != 0) {
				t.Errorf("suspended licensee entitled: licensed %t, features %v, quotas %v", r.Licensed, r.Features, r.Quotas)
			}
		})
	}
}

func TestEffectiveEntitlements(t *testing.T) {
	extra := with(lic("extra", "gold", monthly), func(li *LicenseInput) {
		li.Spec.Features = &v1alpha1.FeatureOverrides{Add: []v1alpha1.FeatureName{"audit"}, Remove: []v1alpha1.FeatureName{"backup"}}
		li.Spec.Quotas = v1alpha1.QuotaMap{"nodes": 5}
	})
	inGrace := with(lic("old", "gold", monthly), func(li *LicenseInput) { li.KnownStart = tp(-31 * day) })
	expired := with(lic("gone", "gold", monthly), func(li *LicenseInput) { li.KnownStart = tp(-100 * day) })
	pending := with(lic("later", "trial", trial), func(li *LicenseInput) { li.Spec.StartsAt = mt(10 * day) })
	suspended := with(lic("held", "perpetual", perpetual), func(li *LicenseInput) { li.Spec.Suspended = true })

	tests := []struct {
		name     string
		licenses []LicenseInput
		features []string
		quotas   map[string]int64
	}{
		{"none", nil, []string{}, map[string]int64{}},
		{"one", []LicenseInput{lic("base", "perpetual", perpetual)}, []string{"backup"}, map[string]int64{"nodes": 3}},
		{"union of features, sum of quotas", []LicenseInput{lic("base", "perpetual", perpetual), extra, lic("f", "floating", floating)},
			[]string{"audit", "backup", "replication"}, map[string]int64{"nodes": 8, "users": 50}},
		{"grace entitles", []LicenseInput{inGrace}, []string{"backup", "replication"}, map[string]int64{"nodes": 10, "users": 50}},
		{"expired, pending, suspended do not", []LicenseInput{expired, pending, suspended, lic("base", "perpetual", perpetual)},
			[]string{"backup"}, map[string]int64{"nodes": 3}},
		{"invalid does not", []LicenseInput{lic("x", "missing", nil)}, []string{}, map[string]int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Evaluate(Input{Now: ts(0), Licenses: tt.licenses})
			if !reflect.DeepEqual(r.Features, tt.features) {
				t.Errorf("features = %#v, want %#v", r.Features, tt.features)
			}
			if !reflect.DeepEqual(r.Quotas, tt.quotas) {
				t.Errorf("quotas = %#v, want %#v", r.Quotas, tt.quotas)
			}
		})
	}
}

func TestLicensedCondition(t *testing.T) {
	valid := lic("valid", "perpetual", perpetual)
	inGrace := with(lic("grace", "gold", monthly), func(li *LicenseInput) { li.KnownStart = tp(-31 * day) })
	pending := with(lic("pending", "gold", monthly), func(li *LicenseInput) { li.Spec.StartsAt = mt(day) })
	suspended := with(lic("suspended", "perpetual", perpetual), func(li *LicenseInput) { li.Spec.Suspended = true })
	expired := with(lic("expired", "gold", monthly), func(li *LicenseInput) { li.KnownStart = tp(-100 * day) })
	invalid := lic("invalid", "missing", nil)

	tests := []struct {
		name              string
		licenses          []LicenseInput
		licenseeSuspended bool
		reason            string
		message           string
	}{
		{"valid beats everything", []LicenseInput{invalid, expired, suspended, pending, inGrace, valid}, false, ReasonValid, "valid: valid (no end)"},
		{"grace beats pending", []LicenseInput{invalid, expired, suspended, pending, inGrace}, false, ReasonInGracePeriod, "in grace period: grace (grace until 2026-03-07T00:00:00Z)"},
		{"pending beats suspended", []LicenseInput{invalid, expired, suspended, pending}, false, ReasonNotYetValid, "not yet valid: pending (starts 2026-03-02T00:00:00Z)"},
		{"suspended beats expired", []LicenseInput{invalid, expired, suspended}, false, ReasonSuspended, "suspended: suspended"},
		{"licensee suspended", []LicenseInput{valid, expired}, true, ReasonSuspended, "the licensee is suspended (spec.suspended): valid, expired"},
		{"expired beats invalid", []LicenseInput{invalid, expired}, false, ReasonExpired, "expired: expired (at 2025-12-28T00:00:00Z)"},
		{"all invalid", []LicenseInput{invalid}, false, ReasonNoLicenses, `no usable license: invalid: LicenseTemplate "missing" not found`},
		{"none", nil, false, ReasonNoLicenses, "no licenses in spec.licenses"},
		{"valid with an end", []LicenseInput{lic("gold", "gold", monthly)}, false, ReasonValid, "valid: gold (until 2026-03-31T00:00:00Z)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Evaluate(Input{Now: ts(0), Licenses: tt.licenses, LicenseeSuspended: tt.licenseeSuspended})
			if r.LicensedReason != tt.reason || r.LicensedMessage != tt.message {
				t.Errorf("Licensed = %s %q, want %s %q", r.LicensedReason, r.LicensedMessage, tt.reason, tt.message)
			}
			wantLicensed := tt.reason == ReasonValid || tt.reason == ReasonInGracePeriod
			if r.Licensed != wantLicensed {
				t.Errorf("licensed = %t, want %t", r.Licensed, wantLicensed)
			}
		})
	}
}

func TestExpiresAt(t *testing.T) {
	startedAt := func(d time.Duration) func(*LicenseInput) {
		return func(li *LicenseInput) { li.KnownStart = tp(d) }
	}
	tests := []struct {
		name     string
		licenses []LicenseInput
		want     *time.Time
	}{
		{"nothing", nil, nil},
		{"perpetual never expires", []LicenseInput{lic("p", "p", perpetual)}, nil},
		{"valid: its validUntil", []LicenseInput{lic("m", "m", monthly)}, tp(30 * day)},
		{"in grace: its graceUntil", []LicenseInput{with(lic("m", "m", monthly), startedAt(-31*day))}, tp(6 * day)},
		{"the earliest of several", []LicenseInput{lic("m", "m", monthly), lic("t", "t", trial)}, tp(14 * day)},
		{"grace end earlier than another's validUntil", []LicenseInput{lic("m", "m", monthly), with(lic("g", "m", monthly), startedAt(-31*day))}, tp(6 * day)},
		{"one never ends: never", []LicenseInput{lic("m", "m", monthly), lic("p", "p", perpetual)}, nil},
		{"only entitling licenses count", []LicenseInput{lic("m", "m", monthly), with(lic("x", "m", monthly), startedAt(-100*day)),
			with(lic("s", "t", trial), func(li *LicenseInput) { li.Spec.Suspended = true }), with(lic("q", "p", perpetual), func(li *LicenseInput) { li.Spec.StartsAt = mt(day) })}, tp(30 * day)},
		{"nothing entitles", []LicenseInput{with(lic("x", "m", monthly), startedAt(-100*day))}, nil},
		{"autoRenew: the current period end", []LicenseInput{with(lic("r", "r", renewing), startedAt(-45*day))}, tp(15 * day)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Evaluate(Input{Now: ts(0), Licenses: tt.licenses})
			if !eqTimePtr(r.ExpiresAt, tt.want) {
				t.Errorf("expiresAt = %s, want %s", fmtTimePtr(r.ExpiresAt), fmtTimePtr(tt.want))
			}
		})
	}
}

func TestRevoke(t *testing.T) {
	revokeTpl := &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeTrial, Duration: durp("336h"), OnExpiry: v1alpha1.ExpiryActionRevoke}
	retainTpl := &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeTrial, Duration: durp("336h"), OnExpiry: v1alpha1.ExpiryActionRetain}
	defaultTpl := &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeTrial, Duration: durp("336h")}
	graceRevoke := &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeSubscription, Duration: durp("336h"), GracePeriod: durp("24h"), OnExpiry: v1alpha1.ExpiryActionRevoke}
	lapsed := func(li LicenseInput) LicenseInput {
		return with(li, func(li *LicenseInput) { li.KnownStart = tp(-20 * day) })
	}
	tests := []struct {
		name              string
		licenses          []LicenseInput
		licenseeSuspended bool
		want              bool
	}{
		{"lapsed, Revoke", []LicenseInput{lapsed(lic("a", "r", revokeTpl))}, false, true},
		{"lapsed, Retain", []LicenseInput{lapsed(lic("a", "k", retainTpl))}, false, false},
		{"lapsed, onExpiry absent means Retain", []LicenseInput{lapsed(lic("a", "d", defaultTpl))}, false, false},
		{"every lapsed must say Revoke", []LicenseInput{lapsed(lic("a", "r", revokeTpl)), lapsed(lic("b", "k", retainTpl))}, false, false},
		{"all lapsed say Revoke", []LicenseInput{lapsed(lic("a", "r", revokeTpl)), lapsed(lic("b", "r", revokeTpl))}, false, true},
		{"something still entitles", []LicenseInput{lapsed(lic("a", "r", revokeTpl)), lic("b", "p", perpetual)}, false, false},
		{"in grace is not lapsed", []LicenseInput{with(lic("a", "g", graceRevoke), func(li *LicenseInput) { li.KnownStart = tp(-14*day - time.Hour) })}, false, false},
		{"lapsed exactly at the end", []LicenseInput{with(lic("a", "r", revokeTpl), func(li *LicenseInput) { li.KnownStart = tp(-14 * day) })}, false, true},
		{"one second before the end", []LicenseInput{with(lic("a", "r", revokeTpl), func(li *LicenseInput) { li.KnownStart = tp(-14*day + time.Second) })}, false, false},
		{"nothing lapsed: pending", []LicenseInput{with(lic("a", "r", revokeTpl), func(li *LicenseInput) { li.Spec.StartsAt = mt(day) })}, false, false},
		{"nothing lapsed: suspended within its window", []LicenseInput{lic("a", "r", revokeTpl)}, true, false},
		{"suspended and lapsed, Revoke", []LicenseInput{lapsed(lic("a", "r", revokeTpl))}, true, true},
		{"lapsed Revoke beside a pending one", []LicenseInput{lapsed(lic("a", "r", revokeTpl)), with(lic("b", "k", retainTpl), func(li *LicenseInput) { li.Spec.StartsAt = mt(day) })}, false, true},
		{"invalid licenses are ignored", []LicenseInput{lapsed(lic("a", "r", revokeTpl)), lic("x", "missing", nil)}, false, true},
		{"only invalid", []LicenseInput{lic("x", "missing", nil)}, false, false},
		{"no licenses", nil, false, false},
		{"hard end, Revoke", []LicenseInput{with(lic("a", "r", &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypePerpetual, OnExpiry: v1alpha1.ExpiryActionRevoke}), func(li *LicenseInput) { li.Spec.EndsAt = mt(-time.Second) })}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Evaluate(Input{Now: ts(0), Licenses: tt.licenses, LicenseeSuspended: tt.licenseeSuspended})
			if r.Revoke != tt.want {
				t.Errorf("revoke = %t, want %t (states %v)", r.Revoke, tt.want, states(r))
			}
		})
	}
}

func states(r Result) []string {
	var out []string
	for _, l := range r.Licenses {
		out = append(out, l.Name+"="+string(l.State))
	}
	return out
}
