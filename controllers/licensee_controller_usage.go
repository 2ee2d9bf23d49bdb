package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/usage"
)

// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=activations;seatleases,verbs=get;list;watch;delete

// reconcileUsage counts what the license API holds for each license — its
// activations and the seat leases held now — for status, and deletes the
// leases that lapsed more than a TTL ago. The license API never needs that
// cleanup (a lapsed lease is free at once); it keeps kubectl and etcd tidy.
func (r *LicenseeReconciler) reconcileUsage(ctx context.Context, s *licenseeScope) error {
	l := s.licensee
	opts := []client.ListOption{
		client.InNamespace(l.Namespace),
		client.MatchingLabels{licensingv1alpha1.LabelLicensee: l.Name},
		client.UnsafeDisableDeepCopy, // read-only
	}
	acts := &licensingv1alpha1.ActivationList{}
	if err := r.List(ctx, acts, opts...); err != nil {
		return fmt.Errorf("list Activations of %s: %w", l.Name, err)
	}
	leases := &licensingv1alpha1.SeatLeaseList{}
	if err := r.List(ctx, leases, opts...); err != nil {
		return fmt.Errorf("list SeatLeases of %s: %w", l.Name, err)
	}
	s.usage = usage.Summarize(acts.Items, leases.Items, s.now)
	s.leases = leases.Items
	for _, lapsed := range s.usage.Removable {
		rv := lapsed.ResourceVersion
		// At the version seen: a holder renewing meanwhile keeps its lease.
		err := r.Delete(ctx, lapsed.DeepCopy(), client.Preconditions{UID: &lapsed.UID, ResourceVersion: &rv})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete lapsed SeatLease %s: %w", lapsed.Name, err)
		}
	}
	return nil
}

// usageToLicensee maps an Activation or SeatLease to its Licensee.
func usageToLicensee(_ context.Context, o client.Object) []reconcile.Request {
	var name string
	switch v := o.(type) {
	case *licensingv1alpha1.Activation:
		name = v.Spec.LicenseeRef.Name
	case *licensingv1alpha1.SeatLease:
		name = v.Spec.LicenseeRef.Name
	}
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: name}}}
}

// usageChanged lets through what changes a count: an activation or lease
// created or deleted, or a seat taken over by another holder. A heartbeat only
// moves renewedAt, and the lapse it postpones is already scheduled
// (Summary.Next), so heartbeats never wake the controller.
var usageChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*licensingv1alpha1.SeatLease)
		n, ok2 := e.ObjectNew.(*licensingv1alpha1.SeatLease)
		if !ok1 || !ok2 {
			return false // Activations are never updated by the API
		}
		return o.Spec.LeaseID != n.Spec.LeaseID
	},
	GenericFunc: func(event.GenericEvent) bool { return false },
}
