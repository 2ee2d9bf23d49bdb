package controllers

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
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

// usageBatchPeriod is how long a change of what the license API holds waits
// before it reaches the Licensee's status: the changes of that period are
// folded into one reconcile and one status write, as the EndpointSlice
// controller batches endpoint changes. Without it every seat taken or released
// costs a reconcile and a status write, as many writes as the seats' own.
const usageBatchPeriod = time.Second

// enqueueUsage wakes the Licensee of an Activation or SeatLease once per
// usageBatchPeriod at most: the workqueue keeps the earliest of the times an
// item was added for, so later changes ride with the first.
var enqueueUsage = handler.Funcs{
	CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		addUsage(ctx, e.Object, q)
	},
	UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		addUsage(ctx, e.ObjectNew, q)
	},
	DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		addUsage(ctx, e.Object, q)
	},
}

func addUsage(ctx context.Context, o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	for _, req := range usageToLicensee(ctx, o) {
		q.AddAfter(req, usageBatchPeriod)
	}
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
