package controllers

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"unsafe"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// decoded is a Licensee as decoding makes it: every string its own copy.
func decoded(name string) *licensingv1alpha1.Licensee {
	fresh := func(s string) string { return strings.Clone(s) }
	return &licensingv1alpha1.Licensee{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: fresh("licensing"), Name: fresh(name),
			Labels:          map[string]string{fresh(licensingv1alpha1.LabelProduct): fresh("acme-db"), fresh("app"): fresh(name)},
			Annotations:     map[string]string{fresh(licensingv1alpha1.AnnotationRenew): fresh("2026-12-02")},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			Finalizers:      []string{fresh(licensingv1alpha1.FinalizerDistribution)},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: fresh("v1"), Kind: fresh("ConfigMap"), Name: fresh(name)}},
		},
		Status: licensingv1alpha1.LicenseeStatus{Conditions: []metav1.Condition{
			{Type: fresh("Ready"), Status: metav1.ConditionStatus(fresh("True")), Reason: fresh("Issued"), Message: fresh("issued " + name)},
		}},
	}
}

func same(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

func TestSlimObjectSharesRepeatedStrings(t *testing.T) {
	a, b := decoded("globex"), decoded("initech")
	want := a.DeepCopy()
	for _, l := range []*licensingv1alpha1.Licensee{a, b} {
		if _, err := slimObject(l); err != nil {
			t.Fatal(err)
		}
	}
	if a.ManagedFields != nil {
		t.Error("managed fields kept")
	}
	want.ManagedFields = nil
	if !maps.Equal(a.Labels, want.Labels) || !maps.Equal(a.Annotations, want.Annotations) || a.Namespace != want.Namespace ||
		a.Status.Conditions[0] != want.Status.Conditions[0] || a.OwnerReferences[0] != want.OwnerReferences[0] || a.Finalizers[0] != want.Finalizers[0] {
		t.Fatalf("content changed:\n%+v\nwant\n%+v", a, want)
	}
	key := func(m map[string]string, k string) string {
		for have := range m {
			if have == k {
				return have
			}
		}
		t.Fatalf("no key %s", k)
		return ""
	}
	for what, pair := range map[string][2]string{
		"namespace":           {a.Namespace, b.Namespace},
		"label key":           {key(a.Labels, "app"), key(b.Labels, "app")},
		"product label value": {a.Labels[licensingv1alpha1.LabelProduct], b.Labels[licensingv1alpha1.LabelProduct]},
		"annotation key":      {key(a.Annotations, licensingv1alpha1.AnnotationRenew), key(b.Annotations, licensingv1alpha1.AnnotationRenew)},
		"finalizer":           {a.Finalizers[0], b.Finalizers[0]},
		"owner kind":          {a.OwnerReferences[0].Kind, b.OwnerReferences[0].Kind},
		"condition type":      {a.Status.Conditions[0].Type, b.Status.Conditions[0].Type},
		"condition status":    {string(a.Status.Conditions[0].Status), string(b.Status.Conditions[0].Status)},
		"condition reason":    {a.Status.Conditions[0].Reason, b.Status.Conditions[0].Reason},
	} {
		if !same(pair[0], pair[1]) {
			t.Errorf("%s: two copies of %q", what, pair[0])
		}
	}
	if same(a.Annotations[licensingv1alpha1.AnnotationRenew], b.Annotations[licensingv1alpha1.AnnotationRenew]) {
		t.Error("annotation values are not interned (most are one object's own)")
	}
}

func TestInternIsBounded(t *testing.T) {
	interned.Lock()
	saved := maps.Clone(interned.m)
	interned.Unlock()
	t.Cleanup(func() { interned.Lock(); interned.m = saved; interned.Unlock() })
	for i := range maxInterned + 10 {
		intern(fmt.Sprintf("distinct-%d", i))
	}
	interned.Lock()
	n := len(interned.m)
	interned.Unlock()
	if n > maxInterned {
		t.Errorf("%d strings kept, more than %d", n, maxInterned)
	}
	if s := "never-seen-before-" + strings.Repeat("x", 3); intern(s) != s {
		t.Error("a string past the bound must come back as it is")
	}
}
