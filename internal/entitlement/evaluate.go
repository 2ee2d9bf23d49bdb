package entitlement

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// Reasons of the Licensed condition, declared with the API.
const (
	ReasonValid         = v1alpha1.ReasonValid
	ReasonInGracePeriod = v1alpha1.ReasonInGracePeriod
	ReasonNotYetValid   = v1alpha1.ReasonNotYetValid
	ReasonSuspended     = v1alpha1.ReasonSuspended
	ReasonExpired       = v1alpha1.ReasonExpired
	ReasonNoLicenses    = v1alpha1.ReasonNoLicenses
)

// LicenseInput is one license of the licensee with what it refers to.
type LicenseInput struct {
	Spec v1alpha1.LicenseSpec
	// Template is the spec of Spec.TemplateRef; nil when it is missing.
	Template *v1alpha1.LicenseTemplateSpec
	// Problem, when set, makes the license Invalid with this message (e.g. the
	// template is missing, not Ready, or belongs to another Product).
	Problem string
	// KnownStart is when the license was first issued (status), used when
	// Spec.StartsAt is absent.
	KnownStart *time.Time
}

// Input is everything Evaluate decides from.
type Input struct {
	Now               time.Time
	LicenseeSuspended bool
	Licenses          []LicenseInput
	// Trials are the licensee's trial records (status.trials).
	Trials []v1alpha1.TrialRecord
}

// License is the evaluation of one license at Result.Now.
type License struct {
	Name     string
	Template string
	Type     v1alpha1.LicenseType
	State    v1alpha1.LicenseState
	// Message explains a state other than Valid.
	Message string
	// StartsAt is nil only for an Invalid license that never started.
	StartsAt   *time.Time
	ValidUntil *time.Time // nil: never ends
	GraceUntil *time.Time // nil: no grace
	// Features (sorted) and Quotas after overrides; never nil.
	Features       []string
	Quotas         map[string]int64
	Seats          int32
	MaxActivations int32
	// Suspended is the license's own flag; the licensee's is Result.LicenseeSuspended.
	Suspended bool
	TokenTTL  time.Duration // 0: none
	OnExpiry  v1alpha1.ExpiryAction

	// noticeEnd is the end expiry notices count back from; nil: none (see notice.go).
	noticeEnd    *time.Time
	notifyBefore []threshold
	autoRenew    bool
}

// Result is the evaluation of a licensee at Now.
type Result struct {
	// Now is the evaluation instant, truncated to a whole second.
	Now               time.Time
	LicenseeSuspended bool
	// Licenses in input order.
	Licenses []License
	// Features (sorted) and Quotas the licensee is entitled to now; never nil.
	Features        []string
	Quotas          map[string]int64
	Licensed        bool
	LicensedReason  string
	LicensedMessage string
	// ExpiresAt: see the package doc; nil means never (or nothing entitles).
	ExpiresAt *time.Time
	// Revoke: the token must be removed from the Secret.
	Revoke bool
	// NewTrials are trial records to add to status.trials.
	NewTrials []v1alpha1.TrialRecord
}

// Evaluate decides every license's state and the licensee's entitlements at in.Now.
func Evaluate(in Input) Result {
	now := second(in.Now)
	r := Result{Now: now, LicenseeSuspended: in.LicenseeSuspended, Licenses: make([]License, 0, len(in.Licenses))}

	trialStarts := map[string]time.Time{}
	for _, rec := range in.Trials {
		s := second(rec.StartedAt.Time)
		if prev, ok := trialStarts[rec.Template]; !ok || s.Before(prev) {
			trialStarts[rec.Template] = s
		}
	}
	for _, li := range in.Licenses {
		l, started := evaluateLicense(li, now, in.LicenseeSuspended, trialStarts)
		if started {
			trialStarts[l.Template] = *l.StartsAt
			r.NewTrials = append(r.NewTrials, v1alpha1.TrialRecord{Template: l.Template, StartedAt: metav1.NewTime(*l.StartsAt)})
		}
		r.Licenses = append(r.Licenses, l)
	}

	r.Features, r.Quotas = effectiveEntitlements(r.Licenses, now, in.LicenseeSuspended)
	r.Licensed, r.LicensedReason, r.LicensedMessage = licensed(r.Licenses, in.LicenseeSuspended, now)
	r.ExpiresAt = expiresAt(r.Licenses)
	r.Revoke = revoke(r.Licenses, r.Licensed, now)
	return r
}

// evaluateLicense evaluates one license; started reports that it is a trial
// starting now for the first time, whose record must be kept.
func evaluateLicense(li LicenseInput, now time.Time, licenseeSuspended bool, trialStarts map[string]time.Time) (l License, started bool) {
	l = License{
		Name:      li.Spec.Name,
		Template:  li.Spec.TemplateRef.Name,
		Suspended: li.Spec.Suspended,
		Features:  []string{},
		Quotas:    map[string]int64{},
		OnExpiry:  v1alpha1.ExpiryActionRetain,
	}
	var start *time.Time
	switch {
	case li.Spec.StartsAt != nil:
		start = ptr(second(li.Spec.StartsAt.Time))
	case li.KnownStart != nil:
		start = ptr(second(*li.KnownStart))
	}

	problem := li.Problem
	var tm terms
	if t := li.Template; t == nil {
		if problem == "" {
			problem = fmt.Sprintf("LicenseTemplate %q not found", l.Template)
		}
	} else {
		l.Type = t.Type
		l.Features = licenseFeatures(t.Features, li.Spec.Features)
		l.Quotas = licenseQuotas(t.Quotas, li.Spec.Quotas)
		l.Seats = deref(t.Seats)
		l.MaxActivations = deref(t.MaxActivations)
		if t.OnExpiry != "" {
			l.OnExpiry = t.OnExpiry
		}
		var err error
		if tm, err = parseTerms(t); err != nil && problem == "" {
			problem = fmt.Sprintf("LicenseTemplate %q: %v", l.Template, err)
		}
		l.TokenTTL = tm.tokenTTL
	}
	if problem != "" {
		// Never issued as it stands, so "now" is no start: only a known one is kept.
		l.StartsAt, l.State, l.Message = start, v1alpha1.LicenseStateInvalid, problem
		return l, false
	}

	if start == nil {
		start = &now
	}
	trialStart, hadTrial := trialStarts[l.Template]
	isTrial := l.Type == v1alpha1.LicenseTypeTrial
	if isTrial && hadTrial {
		// A trial runs once: its record wins over startsAt and a remembered start.
		start = &trialStart
	}
	started = isTrial && !hadTrial && !now.Before(*start)

	var endsAt *time.Time
	if li.Spec.EndsAt != nil {
		endsAt = ptr(second(li.Spec.EndsAt.Time))
	}
	w := newWindow(*start, endsAt, tm, now)
	l.StartsAt, l.ValidUntil, l.GraceUntil = ptr(w.start), w.validUntil, w.graceUntil
	l.noticeEnd, l.notifyBefore, l.autoRenew = noticeEnd(w, endsAt, tm), tm.notifyBefore, tm.autoRenew
	l.State = l.stateAt(now, licenseeSuspended)

	switch {
	case l.State == v1alpha1.LicenseStateSuspended && licenseeSuspended:
		l.Message = "the licensee is suspended (spec.suspended)"
	case l.State == v1alpha1.LicenseStateSuspended:
		l.Message = "the license is suspended (suspended in spec.licenses)"
	case l.State == v1alpha1.LicenseStatePending:
		l.Message = "starts at " + stamp(w.start)
	case l.State == v1alpha1.LicenseStateInGracePeriod:
		l.Message = fmt.Sprintf("ended at %s; in grace period until %s", stamp(*w.validUntil), stamp(*w.graceUntil))
	case l.State == v1alpha1.LicenseStateExpired && isTrial && hadTrial:
		l.Message = fmt.Sprintf("trial ran from %s to %s; a trial runs once per licensee", stamp(w.start), stamp(*w.end()))
	case l.State == v1alpha1.LicenseStateExpired:
		l.Message = "expired at " + stamp(*w.end())
	}
	return l, started
}

// licenseFeatures is features + add - remove, sorted and deduplicated.
func licenseFeatures(template []v1alpha1.FeatureName, o *v1alpha1.FeatureOverrides) []string {
	set := map[string]bool{}
	for _, f := range template {
		set[string(f)] = true
	}
	if o != nil {
		for _, f := range o.Add {
			set[string(f)] = true
		}
		for _, f := range o.Remove {
			delete(set, string(f))
		}
	}
	return append([]string{}, slices.Sorted(maps.Keys(set))...)
}

// licenseQuotas is the template's quotas overridden name by name.
func licenseQuotas(template, overrides v1alpha1.QuotaMap) map[string]int64 {
	out := make(map[string]int64, len(template)+len(overrides))
	maps.Copy(out, template)
	maps.Copy(out, overrides)
	return out
}

// stateAt is the license's state at t with its window as evaluated, as
// pkg/license decides it for the grant in the token.
func (l License) stateAt(t time.Time, licenseeSuspended bool) v1alpha1.LicenseState {
	if l.State == v1alpha1.LicenseStateInvalid {
		return l.State
	}
	c := license.Claims{Licensee: license.LicenseeInfo{Suspended: licenseeSuspended}}
	return stateOf(c.GrantState(l.grant(), t))
}

func (l License) window() window {
	return window{start: *l.StartsAt, validUntil: l.ValidUntil, graceUntil: l.GraceUntil}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// effectiveEntitlements are what pkg/license says ls entitle to at t: the union
// of the features (sorted, never nil) and the sum of the quotas.
func effectiveEntitlements(ls []License, t time.Time, licenseeSuspended bool) ([]string, map[string]int64) {
	c := claimsOf(ls, licenseeSuspended)
	return append([]string{}, c.FeaturesAt(t)...), c.QuotasAt(t)
}

// reasons name the Licensed reason and its text for the best state a license
// is in, which pkg/license's Claims.State picks.
var reasons = map[v1alpha1.LicenseState]struct{ reason, text string }{
	v1alpha1.LicenseStateValid:         {ReasonValid, "valid"},
	v1alpha1.LicenseStateInGracePeriod: {ReasonInGracePeriod, "in grace period"},
	v1alpha1.LicenseStatePending:       {ReasonNotYetValid, "not yet valid"},
	v1alpha1.LicenseStateSuspended:     {ReasonSuspended, "suspended"},
	v1alpha1.LicenseStateExpired:       {ReasonExpired, "expired"},
}

// licensed is whether the licenses entitle at now, with the reason and message
// of the Licensed condition: the state comes from pkg/license, never from a reason.
func licensed(ls []License, licenseeSuspended bool, now time.Time) (entitled bool, reason, message string) {
	if c := claimsOf(ls, licenseeSuspended); len(c.Licenses) > 0 {
		state := c.State(now)
		best := stateOf(state)
		var parts []string
		for _, l := range ls {
			if l.State == best {
				parts = append(parts, l.Name+licenseDetail(l))
			}
		}
		if best == v1alpha1.LicenseStateSuspended && licenseeSuspended {
			return false, ReasonSuspended, "the licensee is suspended (spec.suspended): " + strings.Join(parts, ", ")
		}
		return state.Entitling(), reasons[best].reason, reasons[best].text + ": " + strings.Join(parts, ", ")
	}
	if len(ls) == 0 {
		return false, ReasonNoLicenses, "no licenses in spec.licenses"
	}
	var problems []string
	for _, l := range ls {
		problems = append(problems, l.Name+": "+l.Message)
	}
	return false, ReasonNoLicenses, "no usable license: " + strings.Join(problems, "; ")
}

// licenseDetail says when a license's state ends or ended, for the Licensed message.
func licenseDetail(l License) string {
	switch l.State {
	case v1alpha1.LicenseStateValid:
		if l.ValidUntil == nil {
			return " (no end)"
		}
		return " (until " + stamp(*l.ValidUntil) + ")"
	case v1alpha1.LicenseStateInGracePeriod:
		return " (grace until " + stamp(*l.GraceUntil) + ")"
	case v1alpha1.LicenseStatePending:
		return " (starts " + stamp(*l.StartsAt) + ")"
	case v1alpha1.LicenseStateExpired:
		return " (at " + stamp(*l.window().end()) + ")"
	}
	return ""
}

// expiresAt is the earliest end among the licenses entitling now; nil when none
// does or one of them never ends.
func expiresAt(ls []License) *time.Time {
	var earliest *time.Time
	for _, l := range ls {
		var end *time.Time
		switch l.State {
		case v1alpha1.LicenseStateValid:
			end = l.ValidUntil
		case v1alpha1.LicenseStateInGracePeriod:
			end = l.GraceUntil
		default:
			continue
		}
		if end == nil {
			return nil
		}
		if earliest == nil || end.Before(*earliest) {
			earliest = end
		}
	}
	return earliest
}

// revoke: nothing entitles, something lapsed, and every lapsed license says Revoke.
func revoke(ls []License, licensed bool, now time.Time) bool {
	if licensed {
		return false
	}
	lapsed := false
	for _, l := range ls {
		if l.State == v1alpha1.LicenseStateInvalid {
			continue
		}
		if end := l.window().end(); end == nil || now.Before(*end) {
			continue
		}
		if l.OnExpiry != v1alpha1.ExpiryActionRevoke {
			return false
		}
		lapsed = true
	}
	return lapsed
}
