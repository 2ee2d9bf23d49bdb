package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// Reasons for LicenseTemplate (and Licensee) readiness.
const (
	ReasonProductNotFound = "ProductNotFound"
	ReasonUnknownFeature  = "UnknownFeature"
	ReasonUnknownQuota    = "UnknownQuota"
)

// indexProductRef indexes LicenseTemplates and Licensees by spec.productRef.name.
const indexProductRef = "spec.productRef.name"

// LicenseTemplateReconciler reports whether each template fits its Product.
type LicenseTemplateReconciler struct {
	client.Client
}

// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=licensetemplates,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=licensetemplates/status,verbs=get;update;patch

// Reconcile checks the template against its Product and records Ready.
func (r *LicenseTemplateReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	t := &licensingv1alpha1.LicenseTemplate{}
	if err := r.Get(ctx, req.NamespacedName, t); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	original := t.DeepCopy()

	product := &licensingv1alpha1.Product{}
	err := r.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: t.Spec.ProductRef.Name}, product)
	var reason, message string
	switch {
	case apierrors.IsNotFound(err):
		reason, message = ReasonProductNotFound, fmt.Sprintf("Product %s does not exist in namespace %s; create it or fix spec.productRef", t.Spec.ProductRef.Name, t.Namespace)
	case err != nil:
		return reconcile.Result{}, fmt.Errorf("get Product %s: %w", t.Spec.ProductRef.Name, err)
	default:
		reason, message = templateFitsProduct(&t.Spec, &product.Spec)
	}
	ready := reason == ""
	if ready {
		reason, message = ReasonReconciled, "the template fits Product "+product.Name
	}
	setCondition(&t.Status.Conditions, t.Generation, licensingv1alpha1.ConditionReady, ready, reason, message)
	if ready {
		removeCondition(&t.Status.Conditions, conditionStalled)
	} else {
		setCondition(&t.Status.Conditions, t.Generation, conditionStalled, true, reason, message)
	}
	t.Status.ObservedGeneration = t.Generation
	if !equality.Semantic.DeepEqual(original.Status, t.Status) {
		if err := r.Status().Patch(ctx, t, client.MergeFrom(original)); err != nil {
			return reconcile.Result{}, fmt.Errorf("update status of LicenseTemplate %s: %w", req.NamespacedName, err)
		}
	}
	return reconcile.Result{}, nil
}

// templateFitsProduct returns the first problem of the template against the
// Product's catalogue, or empty strings when it fits.
func templateFitsProduct(t *licensingv1alpha1.LicenseTemplateSpec, p *licensingv1alpha1.ProductSpec) (reason, message string) {
	if unknown := unknownFeatures(t.Features, p); len(unknown) > 0 {
		return ReasonUnknownFeature, fmt.Sprintf("spec.features names %s, not declared in Product spec.features; declare it there or remove it", quoteList(unknown))
	}
	if unknown := unknownQuotas(t.Quotas, p); len(unknown) > 0 {
		return ReasonUnknownQuota, fmt.Sprintf("spec.quotas names %s, not declared in Product spec.quotas; declare it there or remove it", quoteList(unknown))
	}
	return "", ""
}

func unknownFeatures(names []licensingv1alpha1.FeatureName, p *licensingv1alpha1.ProductSpec) []string {
	var unknown []string
	for _, n := range names {
		if !slices.ContainsFunc(p.Features, func(f licensingv1alpha1.FeatureDefinition) bool { return f.Name == n }) {
			unknown = append(unknown, string(n))
		}
	}
	return unknown
}

func unknownQuotas(quotas licensingv1alpha1.QuotaMap, p *licensingv1alpha1.ProductSpec) []string {
	var unknown []string
	for n := range quotas {
		if !slices.ContainsFunc(p.Quotas, func(q licensingv1alpha1.QuotaDefinition) bool { return string(q.Name) == n }) {
			unknown = append(unknown, n)
		}
	}
	slices.Sort(unknown)
	return unknown
}

func quoteList(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(quoted, ", ")
}

// SetupWithManager watches templates and the Products they refer to.
func (r *LicenseTemplateReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&licensingv1alpha1.LicenseTemplate{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&licensingv1alpha1.Product{}, handler.EnqueueRequestsFromMapFunc(referrers(mgr.GetClient(), &licensingv1alpha1.LicenseTemplateList{}, indexProductRef)),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("licensetemplate").
		Complete(r)
}

// referrers maps an object to the objects of list's kind in its namespace that
// name it, through the cache index (indexProductRef or indexTemplateRef).
func referrers(c client.Client, list client.ObjectList, index string) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		l := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, l, client.InNamespace(obj.GetNamespace()), client.MatchingFields{index: obj.GetName()}); err != nil {
			return nil
		}
		var reqs []reconcile.Request
		_ = meta.EachListItem(l, func(o runtime.Object) error {
			co := o.(client.Object)
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(co)})
			return nil
		})
		return reqs
	}
}
