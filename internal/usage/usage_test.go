package usage

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

func lease(license string, renewed time.Time, ttl int32) licensingv1alpha1.SeatLease {
	return licensingv1alpha1.SeatLease{Spec: licensingv1alpha1.SeatLeaseSpec{
		License: license, TTLSeconds: ttl, RenewedAt: metav1.NewMicroTime(renewed),
	}}
}

func TestLeaseHeldUntilExpiry(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	l := lease("main", t0, 30)
	for _, c := range []struct {
		at   time.Duration
		held bool
	}{{0, true}, {29*time.Second + 999*time.Millisecond, true}, {30 * time.Second, false}, {time.Hour, false}} {
		if got := LeaseHeld(&l, t0.Add(c.at)); got != c.held {
			t.Errorf("at +%s: held %v, want %v", c.at, got, c.held)
		}
	}
	if got := LeaseRemovableAt(&l); !got.Equal(t0.Add(60 * time.Second)) {
		t.Errorf("removable at %s", got)
	}
}

func TestSummarize(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	acts := []licensingv1alpha1.Activation{
		{Spec: licensingv1alpha1.ActivationSpec{License: "main"}},
		{Spec: licensingv1alpha1.ActivationSpec{License: "main"}},
		{Spec: licensingv1alpha1.ActivationSpec{License: "extra"}},
	}
	leases := []licensingv1alpha1.SeatLease{
		lease("main", now.Add(-10*time.Second), 30), // held until +20s
		lease("main", now.Add(-5*time.Second), 30),  // held until +25s
		lease("main", now.Add(-40*time.Second), 30), // lapsed at -10s, removable at +20s
		lease("extra", now.Add(-2*time.Minute), 30), // removable since -60s
	}
	s := Summarize(acts, leases, now)
	if got := s.ByLicense["main"]; got != (Counts{SeatsInUse: 2, Activations: 2}) {
		t.Errorf("main: %+v", got)
	}
	if got := s.ByLicense["extra"]; got != (Counts{Activations: 1}) {
		t.Errorf("extra: %+v", got)
	}
	if len(s.Removable) != 1 || s.Removable[0].Spec.License != "extra" {
		t.Errorf("removable: %+v", s.Removable)
	}
	if s.Next == nil || !s.Next.Equal(now.Add(20*time.Second)) {
		t.Errorf("next: %v, want +20s (the first lapse, and the third lease's removal)", s.Next)
	}
	if s := Summarize(nil, nil, now); s.Next != nil || len(s.ByLicense) != 0 {
		t.Errorf("nothing in use: %+v", s)
	}
}
