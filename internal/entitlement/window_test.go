package entitlement

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/keys"
	"github.com/kubelicense/kubelicense/internal/token"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// windowCase is one row of the window table: a license, an instant, and the
// state and window the operator must compute.
type windowCase struct {
	name      string
	in        LicenseInput
	now       time.Time
	state     v1alpha1.LicenseState
	start     time.Time
	validTill *time.Time
	graceTill *time.Time
}

// windowCases is the window table, shared by TestLicenseWindow and
// TestLicenseWindowAgreesWithVerifier.
func windowCases() []windowCase {
	const (
		month = 30 * day
		week  = 7 * day
	)
	var (
		valid   = v1alpha1.LicenseStateValid
		grace   = v1alpha1.LicenseStateInGracePeriod
		expired = v1alpha1.LicenseStateExpired
		pending = v1alpha1.LicenseStatePending
	)
	endsAt := func(d time.Duration) func(*LicenseInput) {
		return func(li *LicenseInput) { li.Spec.EndsAt = mt(d) }
	}
	startsAt := func(d time.Duration) func(*LicenseInput) {
		return func(li *LicenseInput) { li.Spec.StartsAt = mt(d) }
	}

	startsAtDate := func(d time.Time) func(*LicenseInput) {
		return func(li *LicenseInput) { li.Spec.StartsAt = ptr(metav1.NewTime(d)) }
	}
	endsAtDate := func(d time.Time) func(*LicenseInput) {
		return func(li *LicenseInput) { li.Spec.EndsAt = ptr(metav1.NewTime(d)) }
	}
	var (
		epoch   = time.Unix(0, 0).UTC()
		in1960  = time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
		in9999  = time.Date(9999, 12, 15, 0, 0, 0, 0, time.UTC)
		after   = time.Date(10000, 1, 14, 0, 0, 0, 0, time.UTC) // in9999 + a month
		lastSec = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	)

	return []windowCase{
		// Perpetual.
		{"perpetual: remembered start", lic("l", "t", perpetual), ts(400 * day), valid, t0, nil, nil},
		{"perpetual: first issuance starts now, truncated to the second",
			with(lic("l", "t", perpetual), func(li *LicenseInput) { li.KnownStart = nil }),
			ts(5*day + 1500*time.Millisecond), valid, ts(5*day + time.Second), nil, nil},
		{"perpetual: startsAt wins over the remembered start",
			with(lic("l", "t", perpetual), startsAt(-day)), ts(0), valid, ts(-day), nil, nil},
		{"perpetual: startsAt truncated",
			with(lic("l", "t", perpetual), startsAt(day+999*time.Millisecond)), ts(day), valid, ts(day), nil, nil},
		{"perpetual: future startsAt is pending", with(lic("l", "t", perpetual), startsAt(day)), ts(day - time.Second), pending, ts(day), nil, nil},
		{"perpetual: valid exactly at start", with(lic("l", "t", perpetual), startsAt(day)), ts(day), valid, ts(day), nil, nil},
		{"perpetual: endsAt is a hard end, before", with(lic("l", "t", perpetual), endsAt(month)), ts(month - time.Second), valid, t0, tp(month), nil},
		{"perpetual: endsAt is a hard end, at", with(lic("l", "t", perpetual), endsAt(month)), ts(month), expired, t0, tp(month), nil},

		// Subscription without autoRenew: one period, then a week of grace.
		{"monthly: valid", lic("l", "t", monthly), ts(10 * day), valid, t0, tp(month), tp(month + week)},
		{"monthly: last second of the period", lic("l", "t", monthly), ts(month - time.Nanosecond), valid, t0, tp(month), tp(month + week)},
		{"monthly: grace exactly at validUntil", lic("l", "t", monthly), ts(month), grace, t0, tp(month), tp(month + week)},
		{"monthly: grace just before graceUntil", lic("l", "t", monthly), ts(month + week - time.Nanosecond), grace, t0, tp(month), tp(month + week)},
		{"monthly: expired exactly at graceUntil", lic("l", "t", monthly), ts(month + week), expired, t0, tp(month), tp(month + week)},
		{"monthly: long expired", lic("l", "t", monthly), ts(10 * month), expired, t0, tp(month), tp(month + week)},
		{"monthly without grace: expired at validUntil", lic("l", "t", monthlyNoGrace), ts(month), expired, t0, tp(month), nil},
		{"monthly: pending before startsAt", with(lic("l", "t", monthly), startsAt(day)), ts(0), pending, ts(day), tp(day + month), tp(day + month + week)},
		{"monthly: endsAt before the period end caps it, no grace",
			with(lic("l", "t", monthly), endsAt(10*day)), ts(10 * day), expired, t0, tp(10 * day), nil},
		{"monthly: endsAt at the period end, no grace",
			with(lic("l", "t", monthly), endsAt(month)), ts(month), expired, t0, tp(month), nil},
		{"monthly: endsAt inside the grace period caps the grace",
			with(lic("l", "t", monthly), endsAt(month+2*day)), ts(month + day), grace, t0, tp(month), tp(month + 2*day)},
		{"monthly: capped grace ends at endsAt",
			with(lic("l", "t", monthly), endsAt(month+2*day)), ts(month + 2*day), expired, t0, tp(month), tp(month + 2*day)},
		{"monthly: endsAt after the grace changes nothing",
			with(lic("l", "t", monthly), endsAt(5*month)), ts(month), grace, t0, tp(month), tp(month + week)},
		{"monthly: endsAt before a remembered start: never entitles",
			with(lic("l", "t", monthly), endsAt(-day)), ts(0), expired, t0, tp(-day), nil},

		// Subscription with autoRenew: periods roll over.
		{"renewing: first period", lic("l", "t", renewing), ts(day), valid, t0, tp(month), tp(month + week)},
		{"renewing: before start, the first period", with(lic("l", "t", renewing), startsAt(day)), ts(0), pending, ts(day), tp(day + month), tp(day + month + week)},
		{"renewing: exactly at the first period end rolls over", lic("l", "t", renewing), ts(month), valid, t0, tp(2 * month), tp(2*month + week)},
		{"renewing: just before the second period end", lic("l", "t", renewing), ts(2*month - time.Nanosecond), valid, t0, tp(2 * month), tp(2*month + week)},
		{"renewing: third period", lic("l", "t", renewing), ts(2*month + 3*day), valid, t0, tp(3 * month), tp(3*month + week)},
		{"renewing: twelfth period", lic("l", "t", renewing), ts(11*month + time.Second), valid, t0, tp(12 * month), tp(12*month + week)},
		{"renewing: endsAt inside the current period caps it, no grace",
			with(lic("l", "t", renewing), endsAt(2*month+10*day)), ts(2*month + day), valid, t0, tp(2*month + 10*day), nil},
		{"renewing: endsAt in a later period leaves the current one",
			with(lic("l", "t", renewing), endsAt(5*month)), ts(2*month + day), valid, t0, tp(3 * month), tp(3*month + week)},
		{"renewing: endsAt on a period boundary, no grace",
			with(lic("l", "t", renewing), endsAt(3*month)), ts(2*month + day), valid, t0, tp(3 * month), nil},
		{"renewing: after endsAt, expired for good",
			with(lic("l", "t", renewing), endsAt(2*month+10*day)), ts(7 * month), expired, t0, tp(2*month + 10*day), nil},

		// Trial: one period, no grace.
		{"trial: valid", lic("l", "t", trial), ts(13 * day), valid, t0, tp(14 * day), nil},
		{"trial: expired at its end", lic("l", "t", trial), ts(14 * day), expired, t0, tp(14 * day), nil},

		// Floating and NodeLocked: no end without a duration, one period with one.
		{"floating: no end", lic("l", "t", floating), ts(1000 * day), valid, t0, nil, nil},
		{"floating with duration: grace", lic("l", "t", floatingTimed), ts(month), grace, t0, tp(month), tp(month + day)},
		{"floating with duration: expired", lic("l", "t", floatingTimed), ts(month + day), expired, t0, tp(month), tp(month + day)},
		{"floating: endsAt", with(lic("l", "t", floating), endsAt(day)), ts(day), expired, t0, tp(day), nil},
		{"node-locked: no end", lic("l", "t", nodeLocked), ts(1000 * day), valid, t0, nil, nil},
		{"node-locked with duration: valid", lic("l", "t", nodeLockedTimed), ts(month - time.Second), valid, t0, tp(month), nil},
		{"node-locked with duration: expired", lic("l", "t", nodeLockedTimed), ts(month), expired, t0, tp(month), nil},

		// Sub-second durations round up: tokens carry seconds.
		{"duration rounded up to a whole second",
			lic("l", "t", &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeTrial, Duration: durp("1500ms")}),
			ts(time.Second), valid, t0, tp(2 * time.Second), nil},

		// Dates a token cannot carry as they are (before 1970, after 9999, or an
		// end at the Unix epoch, which a token spells "never ends"): status keeps
		// them, and the token says what gives the same state at any instant.
		{"perpetual: started before 1970", with(lic("l", "t", perpetual), startsAtDate(in1960)), ts(0), valid, in1960, nil, nil},
		{"monthly: started and ended before 1970", with(lic("l", "t", monthly), startsAtDate(in1960), endsAtDate(in1960.Add(day))), ts(0), expired, in1960, ptr(in1960.Add(day)), nil},
		{"monthly: endsAt at the Unix epoch", with(lic("l", "t", monthly), startsAtDate(epoch.Add(-day)), endsAtDate(epoch)), ts(0), expired, epoch.Add(-day), ptr(epoch), nil},
		{"monthly: starts and ends at the Unix epoch", with(lic("l", "t", monthly), startsAtDate(epoch), endsAtDate(epoch)), ts(0), expired, epoch, ptr(epoch), nil},
		{"monthly: starts in 9999, ends after it", with(lic("l", "t", monthly), startsAtDate(in9999)), ts(0), pending, in9999, ptr(after), ptr(after.Add(week))},
		{"perpetual: endsAt at the last second of 9999", with(lic("l", "t", perpetual), endsAtDate(lastSec)), ts(0), valid, t0, ptr(lastSec), nil},
	}
}

func TestLicenseWindow(t *testing.T) {
	for _, tt := range windowCases() {
		t.Run(tt.name, func(t *testing.T) {
			r := Evaluate(Input{Now: tt.now, Licenses: []LicenseInput{tt.in}})
			l := r.Licenses[0]
			if l.State != tt.state {
				t.Errorf("state = %s (%s), want %s", l.State, l.Message, tt.state)
			}
			if l.StartsAt == nil || !l.StartsAt.Equal(tt.start) {
				t.Errorf("startsAt = %s, want %s", fmtTimePtr(l.StartsAt), stamp(tt.start))
			}
			if !eqTimePtr(l.ValidUntil, tt.validTill) {
				t.Errorf("validUntil = %s, want %s", fmtTimePtr(l.ValidUntil), fmtTimePtr(tt.validTill))
			}
			if !eqTimePtr(l.GraceUntil, tt.graceTill) {
				t.Errorf("graceUntil = %s, want %s", fmtTimePtr(l.GraceUntil), fmtTimePtr(tt.graceTill))
			}
			if (l.State == v1alpha1.LicenseStateValid) != (l.Message == "") {
				t.Errorf("message %q: want one exactly when not Valid", l.Message)
			}
			for _, p := range []*time.Time{l.StartsAt, l.ValidUntil, l.GraceUntil} {
				if p != nil && (p.Nanosecond() != 0 || p.Location() != time.UTC) {
					t.Errorf("instant %v is not a whole UTC second", *p)
				}
			}
		})
	}
}

// TestLicenseWindowAgreesWithVerifier feeds every case of the window table
// through the SDK as a verifier sees it (BuildClaims, token.Sign,
// license.Verify) and asserts the state the token gives equals the operator's,
// at the case's instant and around each bound of the window.
func TestLicenseWindowAgreesWithVerifier(t *testing.T) {
	key, err := keys.Generate(keys.Ed25519, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := keys.MarshalJWKS([]keys.PublicKey{keys.PublicKeyOf(key)})
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := license.ParseJWKS(jwks)
	if err != nil {
		t.Fatal(err)
	}
	statusOf := map[license.Code]v1alpha1.LicenseState{
		license.CodeValid:         v1alpha1.LicenseStateValid,
		license.CodeInGracePeriod: v1alpha1.LicenseStateInGracePeriod,
		license.CodeNotYetValid:   v1alpha1.LicenseStatePending,
		license.CodeExpired:       v1alpha1.LicenseStateExpired,
		license.CodeSuspended:     v1alpha1.LicenseStateSuspended,
	}
	for _, tt := range windowCases() {
		t.Run(tt.name, func(t *testing.T) {
			r := Evaluate(Input{Now: tt.now, Licenses: []LicenseInput{tt.in}})
			claims := BuildClaims(meta, r, tt.now, "serial")
			signed, err := token.Sign(&claims, key)
			if err != nil {
				t.Fatalf("token.Sign: %v", err)
			}
			verified, err := license.Verify(signed, trusted, tt.now)
			if err != nil {
				t.Fatalf("license.Verify of the operator's token: %v", err)
			}
			grant, l := verified.Licenses[0], r.Licenses[0]
			if got := statusOf[verified.GrantState(grant, tt.now)]; got != tt.state {
				t.Errorf("verifier state at %s = %s, operator's = %s", stamp(tt.now), got, tt.state)
			}
			instants := []time.Time{tt.now}
			for _, b := range []*time.Time{l.StartsAt, l.ValidUntil, l.GraceUntil} {
				if b != nil {
					instants = append(instants, b.Add(-time.Second), *b, b.Add(-time.Nanosecond))
				}
			}
			for _, at := range instants {
				if at.Year() < 1970 || at.Year() > 9999 {
					continue // no verifier's clock reads this
				}
				if got, want := statusOf[verified.GrantState(grant, at)], l.stateAt(at, false); got != want {
					t.Errorf("at %s: verifier state %s, operator's %s", at.UTC().Format(time.RFC3339Nano), got, want)
				}
			}
		})
	}
}

func TestLicenseDetails(t *testing.T) {
	in := with(lic("main", "gold", monthly), func(li *LicenseInput) {
		li.Spec.Features = &v1alpha1.FeatureOverrides{Add: []v1alpha1.FeatureName{"audit", "backup"}, Remove: []v1alpha1.FeatureName{"replication"}}
		li.Spec.Quotas = v1alpha1.QuotaMap{"nodes": 20, "clusters": 2}
	})
	r := Evaluate(Input{Now: ts(day), Licenses: []LicenseInput{in, lic("fl", "float", floating), lic("nl", "node", nodeLocked)}})
	main := r.Licenses[0]
	if got, want := strings.Join(main.Features, ","), "audit,backup"; got != want {
		t.Errorf("features = %s, want %s (added, deduplicated, removed, sorted)", got, want)
	}
	if want := map[string]int64{"nodes": 20, "users": 50, "clusters": 2}; !mapsEqual(main.Quotas, want) {
		t.Errorf("quotas = %v, want %v", main.Quotas, want)
	}
	if main.Template != "gold" || main.Type != v1alpha1.LicenseTypeSubscription || main.OnExpiry != v1alpha1.ExpiryActionRetain {
		t.Errorf("template/type/onExpiry = %s/%s/%s", main.Template, main.Type, main.OnExpiry)
	}
	if monthly.Quotas["nodes"] != 10 {
		t.Errorf("the template's quotas were modified: %v", monthly.Quotas)
	}
	if fl := r.Licenses[1]; fl.Seats != 5 || fl.MaxActivations != 0 || fl.Features == nil || fl.Quotas == nil {
		t.Errorf("floating: seats %d, maxActivations %d, features %v, quotas %v", fl.Seats, fl.MaxActivations, fl.Features, fl.Quotas)
	}
	if nl := r.Licenses[2]; nl.MaxActivations != 3 || nl.Seats != 0 {
		t.Errorf("node-locked: seats %d, maxActivations %d", nl.Seats, nl.MaxActivations)
	}
}

func TestInvalidLicenses(t *testing.T) {
	bad := func(tpl *v1alpha1.LicenseTemplateSpec) LicenseInput { return lic("l", "t", tpl) }
	tests := []struct {
		name    string
		in      LicenseInput
		message string
	}{
		{"template missing", with(bad(nil), func(li *LicenseInput) { li.Problem = "" }), `LicenseTemplate "t" not found`},
		{"problem given by the caller", with(bad(nil), func(li *LicenseInput) { li.Problem = "LicenseTemplate t is for Product other" }), "LicenseTemplate t is for Product other"},
		{"template present but unusable", with(bad(monthly), func(li *LicenseInput) { li.Problem = "LicenseTemplate t is not Ready: UnknownFeature" }), "not Ready: UnknownFeature"},
		{"unparsable duration", bad(&v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeSubscription, Duration: durp("a month")}), `duration: parse duration "a month"`},
		{"unparsable grace", bad(&v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeSubscription, Duration: durp("1h"), GracePeriod: durp("-1h")}), "gracePeriod"},
		{"unparsable token TTL", bad(&v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypePerpetual, TokenTTL: durp("soon")}), "tokenTTL"},
		{"subscription without duration", bad(&v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeSubscription}), "needs a duration"},
		{"unknown type", bad(&v1alpha1.LicenseTemplateSpec{Type: "Lifetime"}), `unknown type "Lifetime"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Evaluate(Input{Now: ts(day), Licenses: []LicenseInput{tt.in}, LicenseeSuspended: true})
			l := r.Licenses[0]
			if l.State != v1alpha1.LicenseStateInvalid {
				t.Fatalf("state = %s, want Invalid (even when the licensee is suspended)", l.State)
			}
			if !strings.Contains(l.Message, tt.message) {
				t.Errorf("message = %q, want it to contain %q", l.Message, tt.message)
			}
			if !eqTimePtr(l.StartsAt, tp(0)) || l.ValidUntil != nil || l.GraceUntil != nil {
				t.Errorf("window = %s..%s..%s, want the remembered start only", fmtTimePtr(l.StartsAt), fmtTimePtr(l.ValidUntil), fmtTimePtr(l.GraceUntil))
			}
			if len(r.Features) != 0 || r.Licensed || r.LicensedReason != ReasonNoLicenses || r.Revoke {
				t.Errorf("licensee: features %v, licensed %t, reason %s, revoke %t", r.Features, r.Licensed, r.LicensedReason, r.Revoke)
			}
			if next := r.NextTransition(ts(day)); next != nil {
				t.Errorf("next transition = %s, want nil", stamp(*next))
			}
		})
	}

	t.Run("not issued yet: no start is invented", func(t *testing.T) {
		in := with(lic("l", "t", nil), func(li *LicenseInput) { li.KnownStart = nil })
		if l := Evaluate(Input{Now: ts(day), Licenses: []LicenseInput{in}}).Licenses[0]; l.StartsAt != nil {
			t.Errorf("startsAt = %s, want nil", stamp(*l.StartsAt))
		}
	})
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
