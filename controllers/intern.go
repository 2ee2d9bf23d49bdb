package controllers

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// Decoding gives every cached object its own copy of each string: the eight
// annotation keys and three label keys of 10,000 license Secrets were 110,000
// copies of eleven strings (about 5 MB), and so on for namespaces, owner
// kinds and condition reasons. The caches' transforms make such strings
// share one copy (docs/performance.md).

// maxInterned bounds the strings kept: the ones worth sharing are few (keys,
// namespaces, reasons), and a cluster full of distinct ones must not grow it.
const maxInterned = 4096

var interned = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

// intern is s, as the copy every cached object shares.
func intern(s string) string {
	if s == "" {
		return s
	}
	interned.Lock()
	defer interned.Unlock()
	if c, ok := interned.m[s]; ok {
		return c
	}
	if len(interned.m) < maxInterned {
		interned.m[s] = s
	}
	return s
}

// internMap is m with keys interned, and values too where valuesToo says so
// for the key; a new map (decoded maps are not shared, so nothing else sees it).
func internMap(m map[string]string, valuesToo func(key string) bool) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if valuesToo(k) {
			v = intern(v)
		}
		out[intern(k)] = v
	}
	return out
}

// sharedLabelValues are the labels whose values many objects share.
func sharedLabelValues(key string) bool {
	switch key {
	case licensingv1alpha1.LabelManaged, licensingv1alpha1.LabelProduct, licensingv1alpha1.LabelSourceNamespace, licensingv1alpha1.LabelSourceProduct:
		return true
	}
	return false
}

func noValues(string) bool { return false }

// internObjectMeta shares the strings of m that many cached objects repeat.
func internObjectMeta(m metav1.Object) {
	m.SetNamespace(intern(m.GetNamespace()))
	m.SetLabels(internMap(m.GetLabels(), sharedLabelValues))
	m.SetAnnotations(internMap(m.GetAnnotations(), noValues))
	refs := m.GetOwnerReferences()
	for i := range refs {
		refs[i].APIVersion, refs[i].Kind = intern(refs[i].APIVersion), intern(refs[i].Kind)
	}
	f := m.GetFinalizers()
	for i := range f {
		f[i] = intern(f[i])
	}
}

// slimObject is the manager cache's transform: no managed fields (nothing
// reads them, and at 10,000 Licensees they were a large part of the cache),
// and the repeated strings shared.
func slimObject(in any) (any, error) {
	obj, ok := in.(metav1.Object)
	if !ok {
		return in, nil
	}
	obj.SetManagedFields(nil)
	internObjectMeta(obj)
	if l, ok := in.(*licensingv1alpha1.Licensee); ok {
		internConditions(l.Status.Conditions)
	}
	return in, nil
}

// internConditions shares the type, status and reason of conditions.
func internConditions(cs []metav1.Condition) {
	for i := range cs {
		cs[i].Type, cs[i].Status, cs[i].Reason = intern(cs[i].Type), metav1.ConditionStatus(intern(string(cs[i].Status))), intern(cs[i].Reason)
	}
}
