package usage

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// The tally's counts are Summarize's over the objects it was told of, after
// any sequence of adds, updates (renewals, take-overs, a move to another
// Licensee), deletes and tombstones, at any instant.
func TestTallyCountsAsSummarize(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	licensees := []types.NamespacedName{{Namespace: "a", Name: "shop"}, {Namespace: "a", Name: "bank"}, {Namespace: "b", Name: "shop"}}
	licenses := []string{"main", "extra"}
	acts := map[types.NamespacedName]*licensingv1alpha1.Activation{}
	leases := map[types.NamespacedName]*licensingv1alpha1.SeatLease{}
	var tally Tally
	tally.Observe(&licensingv1alpha1.Licensee{}) // not counted
	tally.Forget("nothing")

	for step := range 3000 {
		owner := licensees[rng.IntN(len(licensees))]
		// Names repeat across kinds and Licensees of a namespace.
		name := types.NamespacedName{Namespace: owner.Namespace, Name: fmt.Sprintf("slot-%d", rng.IntN(12))}
		switch op := rng.IntN(6); {
		case op < 2:
			a := &licensingv1alpha1.Activation{ObjectMeta: metav1.ObjectMeta{Namespace: name.Namespace, Name: name.Name},
				Spec: licensingv1alpha1.ActivationSpec{LicenseeRef: licensingv1alpha1.LocalObjectReference{Name: owner.Name}, License: licenses[rng.IntN(2)]}}
			acts[name] = a
			tally.Observe(a)
		case op < 4:
			s := &licensingv1alpha1.SeatLease{ObjectMeta: metav1.ObjectMeta{Namespace: name.Namespace, Name: name.Name},
				Spec: licensingv1alpha1.SeatLeaseSpec{LicenseeRef: licensingv1alpha1.LocalObjectReference{Name: owner.Name}, License: licenses[rng.IntN(2)],
					TTLSeconds: 30, RenewedAt: metav1.NewMicroTime(now.Add(time.Duration(rng.IntN(90)-60) * time.Second))}}
			leases[name] = s
			tally.Observe(s)
		case op == 4:
			if a, ok := acts[name]; ok {
				delete(acts, name)
				tally.Forget(toolscache.DeletedFinalStateUnknown{Key: name.String(), Obj: a})
			}
		default:
			if s, ok := leases[name]; ok {
				delete(leases, name)
				tally.Forget(s)
			}
		}
		at := now.Add(time.Duration(rng.IntN(60)-30) * time.Second)
		for _, l := range licensees {
			var la []licensingv1alpha1.Activation
			var ll []licensingv1alpha1.SeatLease
			for _, a := range acts {
				if a.Namespace == l.Namespace && a.Spec.LicenseeRef.Name == l.Name {
					la = append(la, *a)
				}
			}
			for _, s := range leases {
				if s.Namespace == l.Namespace && s.Spec.LicenseeRef.Name == l.Name {
					ll = append(ll, *s)
				}
			}
			want := Summarize(la, ll, at).ByLicense
			if got := tally.Counts(l, at); !reflect.DeepEqual(got, want) {
				t.Fatalf("step %d, %s at %s: tally %v, Summarize %v", step, l, at, got, want)
			}
		}
	}
	for name, a := range acts {
		delete(acts, name)
		tally.Forget(a)
	}
	for name, s := range leases {
		delete(leases, name)
		tally.Forget(s)
	}
	if len(tally.licensees) != 0 || len(tally.owner) != 0 {
		t.Fatalf("after every delete the tally still holds %d licensees, %d objects", len(tally.licensees), len(tally.owner))
	}
}
