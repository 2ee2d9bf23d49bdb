package controllers

import (
	"context"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// What wakes a distributing Licensee: its namespaces, its copies, foreign
// Secrets in a copy's way, and its Product's JWKS.

// indexDistributedNamespaces is the index function of indexDistributionNamespaces.
func indexDistributedNamespaces(o client.Object) []string {
	d := o.(*licensingv1alpha1.Licensee).Spec.Distribution
	if d == nil {
		return nil
	}
	names := make([]string, 0, len(d.Namespaces))
	for _, n := range d.Namespaces {
		names = append(names, string(n))
	}
	return names
}

// namespaceChanged lets through what changes a namespace's part: it appears
// or goes, its labels change (opt in or out, a selector starts or stops
// matching), or its deletion starts.
var namespaceChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return !maps.Equal(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels()) ||
			(e.ObjectOld.GetDeletionTimestamp() == nil) != (e.ObjectNew.GetDeletionTimestamp() == nil)
	},
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// namespaceToLicensees maps a namespace (before and after an update) to the
// Licensees it concerns: those naming it, anywhere, and those of the
// licensing namespace it accepts from that select by labels.
func (r *LicenseeReconciler) namespaceToLicensees(ctx context.Context, obj client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	named := &licensingv1alpha1.LicenseeList{}
	if err := r.List(ctx, named, client.MatchingFields{indexDistributionNamespaces: obj.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "list Licensees distributing to namespace", "namespace", obj.GetName())
	}
	for _, l := range named.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&l)})
	}
	source := obj.GetLabels()[licensingv1alpha1.LabelAcceptFrom]
	if source == "" {
		return reqs
	}
	selecting := &licensingv1alpha1.LicenseeList{}
	if err := r.List(ctx, selecting, client.InNamespace(source)); err != nil {
		log.FromContext(ctx).Error(err, "list Licensees of the licensing namespace", "namespace", source)
	}
	for _, l := range selecting.Items {
		if l.Spec.Distribution != nil && l.Spec.Distribution.NamespaceSelector != nil {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&l)})
		}
	}
	return reqs
}

// copyTampered lets through the events of copies that need the controller: a
// deletion, or an update that leaves the data disagreeing with its hash or
// changes the labels naming the source. The controller's own writes are
// consistent; a reconcile for them would read the Licensee from a cache that
// may not hold this run's status yet.
var copyTampered = predicate.Funcs{
	CreateFunc: func(event.CreateEvent) bool { return false },
	DeleteFunc: func(e event.DeleteEvent) bool {
		return e.Object.GetLabels()[licensingv1alpha1.LabelSourceNamespace] != ""
	},
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		old, n := e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels()
		if old[licensingv1alpha1.LabelSourceNamespace] == "" && n[licensingv1alpha1.LabelSourceNamespace] == "" {
			return false
		}
		for _, k := range []string{licensingv1alpha1.LabelManaged, licensingv1alpha1.LabelSourceNamespace, licensingv1alpha1.LabelSourceLicensee, licensingv1alpha1.LabelSourceProduct} {
			if old[k] != n[k] {
				return true
			}
		}
		return copyDataHash(e.ObjectNew) != e.ObjectNew.GetAnnotations()[licensingv1alpha1.AnnotationDataHash]
	},
}

func copyDataHash(obj client.Object) string {
	switch v := obj.(type) {
	case *corev1.Secret:
		return dataHashOf(v)
	case *corev1.ConfigMap:
		return configMapDataHash(v.Data)
	}
	return ""
}

// secretDeleted lets through deletions only (of any Secret, from the metadata
// cache): a foreign Secret in a copy's way going away.
var secretDeleted = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// copyToLicensees maps an object where a copy is (or was, or is in the way of
// one) to the Licensees that want a copy of that name there now: those of the
// licensing namespace the namespace accepts from. A copy the controller
// removed itself is wanted by none, so its deletion wakes nobody.
func (r *LicenseeReconciler) copyToLicensees(isSecret bool) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		ns, err := r.namespace(ctx, obj.GetNamespace())
		if err != nil {
			log.FromContext(ctx).Error(err, "read the namespace of a copy", "namespace", obj.GetNamespace())
		}
		if ns == nil || ns.labels[licensingv1alpha1.LabelAcceptFrom] == "" {
			return nil
		}
		licensees := &licensingv1alpha1.LicenseeList{}
		if err := r.List(ctx, licensees, client.InNamespace(ns.labels[licensingv1alpha1.LabelAcceptFrom])); err != nil {
			log.FromContext(ctx).Error(err, "list Licensees of the licensing namespace", "namespace", ns.labels[licensingv1alpha1.LabelAcceptFrom])
			return nil
		}
		var reqs []reconcile.Request
		for i := range licensees.Items {
			l := &licensees.Items[i]
			name := licensingv1alpha1.PublicKeysConfigMapName(l.Spec.ProductRef.Name)
			if isSecret {
				name = l.LicenseSecretName()
			}
			if name == obj.GetName() && distributesTo(l, ns) {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(l)})
			}
		}
		return reqs
	}
}

// jwksToDistributingLicensees maps a Product's own JWKS ConfigMap to the
// Licensees of that Product that distribute it.
func (r *LicenseeReconciler) jwksToDistributingLicensees(ctx context.Context, obj client.Object) []reconcile.Request {
	product := obj.GetLabels()[licensingv1alpha1.LabelProduct]
	if product == "" || obj.GetLabels()[licensingv1alpha1.LabelSourceNamespace] != "" || obj.GetName() != licensingv1alpha1.PublicKeysConfigMapName(product) {
		return nil
	}
	licensees := &licensingv1alpha1.LicenseeList{}
	if err := r.List(ctx, licensees, client.InNamespace(obj.GetNamespace()), client.MatchingFields{indexProductRef: product}); err != nil {
		log.FromContext(ctx).Error(err, "list Licensees of Product", "product", product)
		return nil
	}
	var reqs []reconcile.Request
	for i := range licensees.Items {
		if licensees.Items[i].Spec.Distribution != nil {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&licensees.Items[i])})
		}
	}
	return reqs
}

// jwksChanged lets through a JWKS appearing, going, or changing its keys.
var jwksChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*corev1.ConfigMap)
		n, ok2 := e.ObjectNew.(*corev1.ConfigMap)
		return !ok1 || !ok2 || o.Data[licensingv1alpha1.JWKSKey] != n.Data[licensingv1alpha1.JWKSKey]
	},
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// deletionStarted lets through the update that marks a Licensee for deletion,
// which the finalizer waits on.
var deletionStarted = predicate.Funcs{
	CreateFunc: func(event.CreateEvent) bool { return false },
	DeleteFunc: func(event.DeleteEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp() == nil && e.ObjectNew.GetDeletionTimestamp() != nil
	},
	GenericFunc: func(event.GenericEvent) bool { return false },
}
