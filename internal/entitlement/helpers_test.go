package entitlement

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
)

// t0 is the start of most licenses in the tests.
var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func ts(d time.Duration) time.Time    { return t0.Add(d) }
func tp(d time.Duration) *time.Time   { return ptr(ts(d)) }
func mt(d time.Duration) *metav1.Time { return ptr(metav1.NewTime(ts(d))) }

func durp(s string) *v1alpha1.Duration { return ptr(v1alpha1.Duration(s)) }

// Templates used across the tests. Months are 30 days, grace a week.
var (
	perpetual = &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypePerpetual,
		Features: []v1alpha1.FeatureName{"backup"}, Quotas: v1alpha1.QuotaMap{"nodes": 3}}
	monthly = &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeSubscription,
		Duration: durp("720h"), GracePeriod: durp("168h"),
		Features: []v1alpha1.FeatureName{"replication", "backup"}, Quotas: v1alpha1.QuotaMap{"nodes": 10, "users": 50}}
	monthlyNoGrace = &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeSubscription,
		Duration: durp("720h"), AutoRenew: ptr(false)}
	renewing = &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeSubscription,
		Duration: durp("720h"), AutoRenew: ptr(true), GracePeriod: durp("168h"),
		Features: []v1alpha1.FeatureName{"replication"}}
	trial = &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeTrial,
		Duration: durp("336h"), Features: []v1alpha1.FeatureName{"everything"}}
	floating      = &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeFloating, Seats: ptr(int32(5))}
	floatingTimed = &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeFloating, Seats: ptr(int32(5)),
		Duration: durp("720h"), GracePeriod: durp("24h")}
	nodeLocked      = &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeNodeLocked, MaxActivations: ptr(int32(3))}
	nodeLockedTimed = &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeNodeLocked, MaxActivations: ptr(int32(3)),
		Duration: durp("720h")}
)

// lic is a license named name from template tplName, started at t0 (remembered).
func lic(name, tplName string, tpl *v1alpha1.LicenseTemplateSpec) LicenseInput {
	return LicenseInput{
		Spec:       v1alpha1.LicenseSpec{Name: name, TemplateRef: v1alpha1.LocalObjectReference{Name: tplName}},
		Template:   tpl,
		KnownStart: ptr(t0),
	}
}

func with(li LicenseInput, fs ...func(*LicenseInput)) LicenseInput {
	for _, f := range fs {
		f(&li)
	}
	return li
}

func eqTimePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "nil"
	}
	return stamp(*t)
}
