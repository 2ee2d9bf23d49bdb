package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

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

// A burst of seat changes wakes the Licensee once, a batch period after the
// first: not before, and not once per change.
func TestUsageChangesAreBatched(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_800_000_000, 0))
	q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request](),
		workqueue.TypedRateLimitingQueueConfig[reconcile.Request]{Clock: clk})
	defer q.ShutDown()
	lease := func(n int) *licensingv1alpha1.SeatLease {
		return &licensingv1alpha1.SeatLease{
			ObjectMeta: metav1.ObjectMeta{Namespace: "vendor", Name: fmt.Sprintf("shop-main-%d", n)},
			Spec:       licensingv1alpha1.SeatLeaseSpec{LicenseeRef: licensingv1alpha1.LocalObjectReference{Name: "shop"}},
		}
	}
	ctx := context.Background()
	enqueueUsage.Create(ctx, event.CreateEvent{Object: lease(0)}, q)
	clk.Step(usageBatchPeriod / 2)
	enqueueUsage.Update(ctx, event.UpdateEvent{ObjectOld: lease(0), ObjectNew: lease(0)}, q)
	enqueueUsage.Delete(ctx, event.DeleteEvent{Object: lease(1)}, q)
	enqueueUsage.Create(ctx, event.CreateEvent{Object: lease(2)}, q)
	if n := q.Len(); n != 0 {
		t.Fatalf("%d requests ready before the batch period ended", n)
	}
	clk.Step(usageBatchPeriod / 2)
	want := reconcile.Request{NamespacedName: client.ObjectKey{Namespace: "vendor", Name: "shop"}}
	got, _ := q.Get() // blocks until the delaying queue moves it over
	if got != want {
		t.Fatalf("woke %v, want %v", got, want)
	}
	q.Done(got)
	if n := q.Len(); n != 0 {
		t.Fatalf("the four changes woke the Licensee %d more times", n)
	}
}
