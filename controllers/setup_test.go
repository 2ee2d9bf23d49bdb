package controllers

import (
	"maps"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

func TestCachesWatchOnlyTheShardsNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name       string
		namespaces []string
		want       []string // nil: every namespace
	}{
		{"no shard", nil, nil},
		{"two namespaces", []string{"customers-a", "customers-b"}, []string{"customers-a", "customers-b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for what, opts := range map[string]cache.Options{
				"manager":         CacheOptions(tc.namespaces...),
				"secret metadata": secretMetadataCacheOptions(tc.namespaces),
			} {
				got := slices.Sorted(maps.Keys(opts.DefaultNamespaces))
				if !slices.Equal(got, tc.want) {
					t.Errorf("%s cache watches %v, want %v", what, got, tc.want)
				}
			}
		})
	}
}

func TestSecretMetadataCacheKeepsNoAnnotations(t *testing.T) {
	m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Name: "bundle", ResourceVersion: "7", Labels: map[string]string{"app": "x"},
		Annotations:   map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"key":"c2VjcmV0"}}`},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}}
	out, err := stripSecretMetadata(m)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*metav1.PartialObjectMetadata)
	if got.Annotations != nil || got.ManagedFields != nil {
		t.Errorf("kept annotations %v and managed fields %v", got.Annotations, got.ManagedFields)
	}
	if got.ResourceVersion != "7" || got.Labels["app"] != "x" {
		t.Errorf("lost what the controllers read: %+v", got.ObjectMeta)
	}
}
