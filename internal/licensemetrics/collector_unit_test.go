package licensemetrics

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

func TestRenewsAtExpiration(t *testing.T) {
	end := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	yes, no := true, false
	sub := func(auto *bool) *licensingv1alpha1.LicenseTemplateSpec {
		return &licensingv1alpha1.LicenseTemplateSpec{Type: licensingv1alpha1.LicenseTypeSubscription, AutoRenew: auto}
	}
	at := func(t time.Time) *metav1.Time { return &metav1.Time{Time: t} }
	for _, tc := range []struct {
		name     string
		status   licensingv1alpha1.LicenseStatus
		spec     *licensingv1alpha1.LicenseSpec
		template *licensingv1alpha1.LicenseTemplateSpec
		want     bool
	}{
		{"auto-renewing, no endsAt", licensingv1alpha1.LicenseStatus{ValidUntil: at(end)}, &licensingv1alpha1.LicenseSpec{}, sub(&yes), true},
		{"endsAt after the period", licensingv1alpha1.LicenseStatus{ValidUntil: at(end)}, &licensingv1alpha1.LicenseSpec{EndsAt: at(end.Add(time.Second))}, sub(&yes), true},
		{"endsAt is the period's end", licensingv1alpha1.LicenseStatus{ValidUntil: at(end)}, &licensingv1alpha1.LicenseSpec{EndsAt: at(end)}, sub(&yes), false},
		{"autoRenew false", licensingv1alpha1.LicenseStatus{ValidUntil: at(end)}, &licensingv1alpha1.LicenseSpec{}, sub(&no), false},
		{"autoRenew absent", licensingv1alpha1.LicenseStatus{ValidUntil: at(end)}, &licensingv1alpha1.LicenseSpec{}, sub(nil), false},
		{"trial", licensingv1alpha1.LicenseStatus{ValidUntil: at(end)}, &licensingv1alpha1.LicenseSpec{},
			&licensingv1alpha1.LicenseTemplateSpec{Type: licensingv1alpha1.LicenseTypeTrial, AutoRenew: &yes}, false},
		{"template missing", licensingv1alpha1.LicenseStatus{ValidUntil: at(end)}, &licensingv1alpha1.LicenseSpec{}, nil, false},
		{"license gone from spec", licensingv1alpha1.LicenseStatus{ValidUntil: at(end)}, nil, sub(&yes), false},
		{"never ends", licensingv1alpha1.LicenseStatus{}, &licensingv1alpha1.LicenseSpec{}, sub(&yes), false},
	} {
		if got := renewsAtExpiration(tc.status, tc.spec, tc.template); got != tc.want {
			t.Errorf("%s: renewsAtExpiration = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNextRotation(t *testing.T) {
	created := time.Date(2026, 12, 1, 10, 0, 0, 500_000_000, time.UTC)
	d := func(s string) *licensingv1alpha1.Duration { v := licensingv1alpha1.Duration(s); return &v }
	p := &licensingv1alpha1.Product{}
	if got := nextRotation(p, created); got != nil {
		t.Errorf("without rotateEvery: %v, want none", got)
	}
	p.Spec.Signing.RotateEvery = d("24h")
	if got := nextRotation(p, created); got == nil || !got.Equal(time.Date(2026, 12, 2, 10, 0, 1, 0, time.UTC)) {
		t.Errorf("rotateEvery 24h: %v, want the next day, rounded up to the second", got)
	}
	p.Spec.Signing.SecretRef = &licensingv1alpha1.LocalObjectReference{Name: "byo"}
	if got := nextRotation(p, created); got != nil {
		t.Errorf("bring-your-own key: %v, want none", got)
	}
}
