package webhook

import (
	"context"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=licenseevents,verbs=create

// Outbox writes business events as LicenseEvents. A nil Outbox drops them
// (components set up without webhooks).
type Outbox struct {
	Client client.Client
	// Webhooks, when set (the manager's cache), limits the outbox to events
	// some LicenseWebhook of their namespace would receive: a namespace
	// without webhooks pays no write per transition. A webhook receives
	// what happens after it was created in any case (Wants).
	Webhooks client.Reader
}

// Publish creates one LicenseEvent per event. An event that exists already was
// published by an earlier try of the same transition: that is success.
func (o *Outbox) Publish(ctx context.Context, events ...Event) error {
	if o == nil {
		return nil
	}
	var hooks map[string][]licensingv1alpha1.LicenseWebhook // per namespace, read once
	for i := range events {
		obj := events[i].Object()
		if o.Webhooks != nil {
			if hooks == nil {
				hooks = map[string][]licensingv1alpha1.LicenseWebhook{}
			}
			list, seen := hooks[obj.Namespace]
			if !seen {
				var l licensingv1alpha1.LicenseWebhookList
				if err := o.Webhooks.List(ctx, &l, client.InNamespace(obj.Namespace), client.UnsafeDisableDeepCopy); err != nil {
					return fmt.Errorf("list the LicenseWebhooks of %s for a %s event: %w", obj.Namespace, obj.Spec.Type, err)
				}
				list = l.Items
				hooks[obj.Namespace] = list
			}
			if !slices.ContainsFunc(list, func(w licensingv1alpha1.LicenseWebhook) bool { return Matches(&w, obj) }) {
				continue
			}
		}
		if err := o.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("record %s event %s of %s/%s: %w", obj.Spec.Type, obj.Name, obj.Namespace, events[i].owner.Name, err)
		}
	}
	return nil
}
