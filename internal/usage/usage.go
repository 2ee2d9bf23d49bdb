// Package usage holds the rules of the license API's state objects: when a
// seat lease is held, when it has lapsed, and when a lapsed one may be deleted.
// The license API and the Licensee controller (which counts what is in use and
// cleans up) both ask these functions, so they never disagree.
package usage

import (
	"fmt"
	"time"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// LeaseID is the license API's id of a lease: "<license>.<slot>.<lease id>",
// which names its object without a lookup and changes when another holder
// takes the slot.
func LeaseID(l *licensingv1alpha1.SeatLease) string {
	return fmt.Sprintf("%s.%d.%s", l.Spec.License, l.Spec.Slot, l.Spec.LeaseID)
}

// LeaseExpiry is when lease l lapses unless renewed: renewedAt + ttl.
func LeaseExpiry(l *licensingv1alpha1.SeatLease) time.Time {
	return l.Spec.RenewedAt.Add(time.Duration(l.Spec.TTLSeconds) * time.Second)
}

// LeaseHeld reports whether l is held at now; from its expiry on, the slot is
// free for the next holder.
func LeaseHeld(l *licensingv1alpha1.SeatLease, now time.Time) bool {
	return now.Before(LeaseExpiry(l))
}

// LeaseRemovableAt is when a lapsed lease may be deleted: one TTL after it
// lapsed, so a holder whose heartbeats were held up briefly can still renew a
// seat that nobody took, and kubectl shows recent lapses.
func LeaseRemovableAt(l *licensingv1alpha1.SeatLease) time.Time {
	return LeaseExpiry(l).Add(time.Duration(l.Spec.TTLSeconds) * time.Second)
}

// Counts is what one license holds now.
type Counts struct {
	SeatsInUse  int32
	Activations int32
}

// Summary is the usage of one Licensee's licenses at an instant.
type Summary struct {
	// ByLicense counts per license name.
	ByLicense map[string]Counts
	// Removable are the lapsed leases due for deletion.
	Removable []*licensingv1alpha1.SeatLease
	// Next is when a count changes or a lease becomes removable on its own
	// (nil: never, until an object changes).
	Next *time.Time
}

// Summarize counts activations and held leases per license at now.
func Summarize(activations []licensingv1alpha1.Activation, leases []licensingv1alpha1.SeatLease, now time.Time) Summary {
	s := Summary{ByLicense: map[string]Counts{}}
	for i := range activations {
		c := s.ByLicense[activations[i].Spec.License]
		c.Activations++
		s.ByLicense[activations[i].Spec.License] = c
	}
	for i := range leases {
		l := &leases[i]
		switch {
		case LeaseHeld(l, now):
			c := s.ByLicense[l.Spec.License]
			c.SeatsInUse++
			s.ByLicense[l.Spec.License] = c
			s.next(LeaseExpiry(l))
		case now.Before(LeaseRemovableAt(l)):
			s.next(LeaseRemovableAt(l))
		default:
			s.Removable = append(s.Removable, l)
		}
	}
	return s
}

func (s *Summary) next(t time.Time) {
	if s.Next == nil || t.Before(*s.Next) {
		s.Next = &t
	}
}
