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
	var prob *problem
	switch err := r.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: t.Spec.ProductRef.Name}, product); {
	case apierrors.IsNotFound(err):
		prob = newProblem(licensingv1alpha1.ReasonProductNotFound, "Product %s does not exist in namespace %s; create it or fix spec.productRef", t.Spec.ProductRef.Name, t.Namespace)
	case err != nil:
		return reconcile.Result{}, fmt.Errorf("get Product %s: %w", t.Spec.ProductRef.Name, err)
	default:
		prob = templateFitsProduct(&t.Spec, &product.Spec)
	}
	setTemplateReadyCondition(t, prob)
	setTemplateStalledCondition(t, prob)
	t.Status.ObservedGeneration = t.Generation
	if !equality.Semantic.DeepEqual(original.Status, t.Status) {
		if err := r.Status().Patch(ctx, t, client.MergeFrom(original)); err != nil {
			return reconcile.Result{}, fmt.Errorf("update status of LicenseTemplate %s: %w", req.NamespacedName, err)
		}
	}
	return reconcile.Result{}, nil
}

// templateFitsProduct is the first problem of the template against the
// Product's catalogue, or nil when it fits.
func templateFitsProduct(t *licensingv1alpha1.LicenseTemplateSpec, p *licensingv1alpha1.ProductSpec) *problem {
	if unknown := unknownFeatures(t.Features, p); len(unknown) > 0 {
		return newProblem(licensingv1alpha1.ReasonUnknownFeature, "spec.features names %s, not declared in Product spec.features; declare it there or remove it", quoteList(unknown))
	}
	if unknown := unknownQuotas(t.Quotas, p); len(unknown) > 0 {
		return newProblem(licensingv1alpha1.ReasonUnknownQuota, "spec.quotas names %s, not declared in Product spec.quotas; declare it there or remove it", quoteList(unknown))
	}
	return nil
}

// setTemplateReadyCondition: True when the template fits its Product, else
// False with the problem.
func setTemplateReadyCondition(t *licensingv1alpha1.LicenseTemplate, prob *problem) {
	if prob != nil {
		setProblemCondition(&t.Status.Conditions, t.Generation, licensingv1alpha1.ConditionReady, false, prob)
		return
	}
	setCondition(&t.Status.Conditions, t.Generation, licensingv1alpha1.ConditionReady, true, licensingv1alpha1.ReasonReconciled, "the template fits Product "+t.Spec.ProductRef.Name)
}

// setTemplateStalledCondition: every problem of a template needs a person.
func setTemplateStalledCondition(t *licensingv1alpha1.LicenseTemplate, prob *problem) {
	if prob != nil {
		setProblemCondition(&t.Status.Conditions, t.Generation, licensingv1alpha1.ConditionStalled, true, prob)
		return
	}
	removeCondition(&t.Status.Conditions, licensingv1alpha1.ConditionStalled)
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
