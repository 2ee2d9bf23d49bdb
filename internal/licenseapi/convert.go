package licenseapi

import (
	"regexp"
	"time"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/entitlement"
	"github.com/kubelicense/kubelicense/internal/usage"
	"github.com/kubelicense/kubelicense/pkg/license"
)

type (
	entitlementLicense = entitlement.License
	activationObj      = licensingv1alpha1.Activation
)

var slotName = licensingv1alpha1.SlotName

// leaseIDRE is the form of newLeaseID.
var leaseIDRE = regexp.MustCompile(`^[0-9a-f]{24}$`)

func activationOut(a *licensingv1alpha1.Activation) *license.Activation {
	return &license.Activation{
		License: a.Spec.License, Fingerprint: a.Spec.Fingerprint, Name: a.Spec.DisplayName,
		Metadata: a.Spec.Metadata, ActivatedAt: a.Spec.ActivatedAt.UTC(),
	}
}

func leaseOut(s *licensingv1alpha1.SeatLease) *license.Lease {
	ttl := time.Duration(s.Spec.TTLSeconds) * time.Second
	return &license.Lease{
		ID: usage.LeaseID(s), License: s.Spec.License, Holder: s.Spec.Holder,
		ExpiresAt: usage.LeaseExpiry(s).UTC(), TTL: ttl.String(), HeartbeatEvery: (ttl / 3).String(),
	}
}
