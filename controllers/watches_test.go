package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

func TestProductChangedForLicensees(t *testing.T) {
	base := &licensingv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "acme-db", Generation: 3}}
	base.Status.ObservedGeneration = 3
	base.Status.SigningKeyID = "k-2"
	base.Status.VerificationKeys = []licensingv1alpha1.VerificationKey{{KeyID: "k-2"}, {KeyID: "k-1", RetiredAt: &metav1.Time{}}}
	base.Status.Conditions = []metav1.Condition{
		{Type: licensingv1alpha1.ConditionKeyAvailable, Status: metav1.ConditionTrue, Reason: licensingv1alpha1.ReasonKeyReady},
		{Type: licensingv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: licensingv1alpha1.ReasonReconciled},
	}
	tests := []struct {
		name   string
		change func(p *licensingv1alpha1.Product)
		want   bool
	}{
		{"an annotation", func(p *licensingv1alpha1.Product) {
			p.Annotations = map[string]string{"argocd.argoproj.io/tracking-id": "x"}
		}, false},
		{"Ready turning", func(p *licensingv1alpha1.Product) { p.Status.Conditions[1].Status = metav1.ConditionFalse }, false},
		{"a removeAt", func(p *licensingv1alpha1.Product) { p.Status.VerificationKeys[1].RemoveAt = &metav1.Time{} }, false},
		{"the rotate request handled", func(p *licensingv1alpha1.Product) { p.Status.LastHandledRotateKey = "now" }, false},
		{"a new generation", func(p *licensingv1alpha1.Product) { p.Generation = 4 }, true},
		{"another signing key", func(p *licensingv1alpha1.Product) { p.Status.SigningKeyID = "k-3" }, true},
		{"KeyAvailable turning", func(p *licensingv1alpha1.Product) { p.Status.Conditions[0].Status = metav1.ConditionFalse }, true},
		{"a retired key leaving the JWKS", func(p *licensingv1alpha1.Product) { p.Status.VerificationKeys = p.Status.VerificationKeys[:1] }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed := base.DeepCopy()
			tt.change(changed)
			if got := productChangedForLicensees.Update(event.UpdateEvent{ObjectOld: base, ObjectNew: changed}); got != tt.want {
				t.Errorf("Licensees woken: %t, want %t", got, tt.want)
			}
		})
	}
}
