package webhook

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=licenseevents,verbs=create

// Outbox writes business events as LicenseEvents. A nil Outbox drops them
// (components set up without webhooks).
type Outbox struct {
	Client client.Client
}

// Publish creates one LicenseEvent per event. An event that exists already was
// published by an earlier try of the same transition: that is success.
func (o *Outbox) Publish(ctx context.Context, events ...Event) error {
	if o == nil {
		return nil
	}
	for i := range events {
		obj := events[i].Object()
		if err := o.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("record %s event %s of %s/%s: %w", obj.Spec.Type, obj.Name, obj.Namespace, events[i].owner.Name, err)
		}
	}
	return nil
}
