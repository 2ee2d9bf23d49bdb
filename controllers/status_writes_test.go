package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

func TestStatusWritesTellCopiesOlderThanThePatch(t *testing.T) {
	at := func(rv string) *licensingv1alpha1.Licensee {
		return &licensingv1alpha1.Licensee{ObjectMeta: metav1.ObjectMeta{Namespace: "licensing", Name: "globex", ResourceVersion: rv}}
	}
	for _, tc := range []struct {
		name, before, after, cached string
		stale                       bool
	}{
		{"the copy the patch was made from", "10", "12", "10", true},
		// A spec update landed between our read and our patch: its copy has no status of ours.
		{"a copy between it and the patch", "10", "12", "11", true},
		{"the patch itself", "10", "12", "12", false},
		{"a later copy", "10", "12", "13", false},
		{"no write remembered", "", "", "10", false},
		{"versions that are not numbers: only the copy patched from", "a", "c", "b", false},
		{"versions that are not numbers, the copy patched from", "a", "c", "a", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w statusWrites
			if tc.after != "" {
				w.patched(at(tc.after), tc.before)
			}
			if got := w.stale(at(tc.cached)); got != tc.stale {
				t.Errorf("stale(%s) after a patch %s -> %s = %v, want %v", tc.cached, tc.before, tc.after, got, tc.stale)
			}
			if !tc.stale && w.stale(at(tc.before)) {
				t.Errorf("the entry stays after a fresh copy was seen")
			}
		})
	}
}
