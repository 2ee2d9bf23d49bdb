package controllers

import (
	"context"
	"fmt"

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
	"github.com/kubelicense/kubelicense/internal/entitlement"
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
	if reason, msg := entitlement.TemplateProblem(t, p); msg != "" {
		return newProblem(reason, "%s", msg)
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
