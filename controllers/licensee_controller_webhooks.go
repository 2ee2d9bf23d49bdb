package controllers

import (
	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/usage"
	"github.com/kubelicense/kubelicense/internal/webhook"
)

// licenseeWebhookEvents are the business events of one reconcile, from the
// status before and after it. They are published before status is written:
// if publishing fails, the next run sees the same before and after and makes
// the same events (same ids), so none is lost and none doubled. Token events
// follow the serial in status rather than the signing, so a token adopted
// after a crash between Secret and status is still announced.
//
// Expiry notices go out here too, before status records them (their ids
// make a repeat from a stale cache the same event), where the Kubernetes
// Event waits for status. Seats exhausted is the count of held seats reaching the limit, told apart
// by the holders' lease ids.
func licenseeWebhookEvents(before, after *licensingv1alpha1.Licensee, s *licenseeScope) []webhook.Event {
	var events []webhook.Event
	serialMoved := s.written && (s.reissued != "" || after.Status.Serial != before.Status.Serial)
	switch {
	case !serialMoved:
	case s.result.Revoke:
		if before.Status.Serial != "" {
			events = append(events, webhook.LicenseRevoked(after, before.Status.Serial, s.result.LicensedMessage, s.now))
		}
	case before.Status.Serial == "":
		events = append(events, webhook.LicenseIssued(after, after.Status.Serial, s.now))
	case after.Status.Serial != before.Status.Serial:
		reason := s.reissued
		if reason == "" {
			reason = "adopted"
		}
		events = append(events, webhook.LicenseRenewed(after, after.Status.Serial, before.Status.Serial, reason, s.now))
	}
	for _, n := range s.notices {
		events = append(events, webhook.LicenseExpiringSoon(after, n.License, n.Before, n.ExpiresAt, n.GraceUntil, s.now))
	}
	previous := map[string]*licensingv1alpha1.LicenseStatus{}
	for i := range before.Status.Licenses {
		previous[before.Status.Licenses[i].Name] = &before.Status.Licenses[i]
	}
	for i := range after.Status.Licenses {
		ls, old := &after.Status.Licenses[i], previous[after.Status.Licenses[i].Name]
		var oldState licensingv1alpha1.LicenseState
		if old != nil {
			oldState = old.State
		}
		if e, ok := webhook.LicenseStateEntered(after, ls, oldState, s.now); ok {
			events = append(events, e)
		}
		if ls.Seats > 0 && ls.SeatsInUse >= ls.Seats && (old == nil || old.SeatsInUse < ls.Seats) {
			events = append(events, webhook.SeatsExhausted(after, ls.Name, ls.Seats, ls.SeatsInUse, heldLeases(s, ls.Name), s.now))
		}
	}
	return events
}

// heldLeases are the ids of the leases holding seats of license now.
func heldLeases(s *licenseeScope, license string) []string {
	var held []string
	for i := range s.leases {
		if l := &s.leases[i]; l.Spec.License == license && usage.LeaseHeld(l, s.now) {
			held = append(held, usage.LeaseID(l))
		}
	}
	return held
}
