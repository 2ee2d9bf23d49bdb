package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/webhook"
)

// LicenseWebhookReconciler reports whether each webhook can be delivered to
// (Ready) and how many events it has pending. The delivery controller writes
// lastSuccessAt and lastFailure.
type LicenseWebhookReconciler struct {
	client.Client
	// APIReader reads the signing and URL Secrets, which the cache (managed
	// Secrets only) does not hold; SecretMetadata tells when they change.
	APIReader      client.Reader
	SecretMetadata cache.Cache
	AllowHTTP      bool
}

// webhookTarget is a webhook resolved for delivery.
type webhookTarget struct {
	url      string
	key      []byte
	caBundle []byte
}

// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=licensewebhooks,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=licensewebhooks/status,verbs=get;update;patch

// Reconcile sets Ready and the pending count.
func (r *LicenseWebhookReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	w := &licensingv1alpha1.LicenseWebhook{}
	if err := r.Get(ctx, req.NamespacedName, w); err != nil {
		if apierrors.IsNotFound(err) {
			webhook.Pending.DeleteLabelValues(req.Namespace, req.Name)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	original := w.DeepCopy()
	_, p, err := resolveWebhook(ctx, r.APIReader, w, r.AllowHTTP)
	setWebhookReadyCondition(w, p, err)
	pending, lerr := pendingEvents(ctx, r.Client, w)
	if lerr != nil && err == nil {
		err = lerr
	}
	if lerr == nil {
		w.Status.Pending = pending
		webhook.Pending.WithLabelValues(w.Namespace, w.Name).Set(float64(pending))
	}
	if err == nil {
		w.Status.ObservedGeneration = w.Generation
	}
	if !equality.Semantic.DeepEqual(original.Status, w.Status) {
		if perr := r.Status().Patch(ctx, w, client.MergeFrom(original)); perr != nil {
			return reconcile.Result{}, fmt.Errorf("update status of LicenseWebhook %s: %w", req.NamespacedName, perr)
		}
	}
	return reconcile.Result{}, err
}

// setWebhookReadyCondition: True when the URL, signing secret and CA bundle
// are usable, else False with what to fix, or the error of the failed run.
func setWebhookReadyCondition(w *licensingv1alpha1.LicenseWebhook, p *problem, err error) {
	switch {
	case err != nil:
		setCondition(&w.Status.Conditions, w.Generation, licensingv1alpha1.ConditionReady, false, licensingv1alpha1.ReasonReconcileError, err.Error())
	case p != nil:
		setProblemCondition(&w.Status.Conditions, w.Generation, licensingv1alpha1.ConditionReady, false, p)
	default:
		setCondition(&w.Status.Conditions, w.Generation, licensingv1alpha1.ConditionReady, true, licensingv1alpha1.ReasonReconciled, "events are delivered signed to the configured URL")
	}
}

// pendingEvents counts the events of w's namespace that w is to receive and
// has neither received nor given up on.
func pendingEvents(ctx context.Context, c client.Reader, w *licensingv1alpha1.LicenseWebhook) (int32, error) {
	events := &licensingv1alpha1.LicenseEventList{}
	if err := c.List(ctx, events, client.InNamespace(w.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return 0, fmt.Errorf("list LicenseEvents in %s: %w", w.Namespace, err)
	}
	var n int32
	for i := range events.Items {
		e := &events.Items[i]
		if d := e.Delivery(w.Name); webhook.Wants(w, e) && (d == nil || !d.Done()) {
			n++
		}
	}
	return n, nil
}

// resolveWebhook reads what delivering to w takes: the URL, the decoded
// signing key and the CA bundle. A problem is something to fix in w or its
// Secrets; an error is an API failure.
func resolveWebhook(ctx context.Context, reader client.Reader, w *licensingv1alpha1.LicenseWebhook, allowHTTP bool) (*webhookTarget, *problem, error) {
	t := &webhookTarget{url: w.Spec.URL, caBundle: w.Spec.CABundle}
	if ref := w.Spec.URLSecretRef; ref != nil {
		value, p, err := secretValue(ctx, reader, w.Namespace, ref, "spec.urlSecretRef")
		if p != nil || err != nil {
			return nil, p, err
		}
		t.url = string(value)
	}
	if reason, msg := webhook.URLProblem(t.url, allowHTTP); reason != "" {
		return nil, newProblem(reason, "%s", msg), nil
	}
	value, p, err := secretValue(ctx, reader, w.Namespace, &w.Spec.SigningSecretRef, "spec.signingSecretRef")
	if p != nil || err != nil {
		return nil, p, err
	}
	if t.key, err = webhook.ParseSigningSecret(value); err != nil {
		return nil, newProblem(licensingv1alpha1.ReasonInvalidSigningSecret, "Secret %s key %s: %v", w.Spec.SigningSecretRef.Name, w.Spec.SigningSecretRef.Key, err), nil
	}
	if err := webhook.CheckCABundle(w.Spec.CABundle); err != nil {
		return nil, newProblem(licensingv1alpha1.ReasonInvalidCABundle, "%v", err), nil
	}
	return t, nil, nil
}

func secretValue(ctx context.Context, reader client.Reader, namespace string, ref *licensingv1alpha1.SecretKeySelector, field string) ([]byte, *problem, error) {
	secret := &corev1.Secret{}
	err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, secret)
	switch {
	case apierrors.IsNotFound(err):
		return nil, newProblem(licensingv1alpha1.ReasonSecretNotFound, "%s names Secret %s, which does not exist in namespace %s; create it", field, ref.Name, namespace), nil
	case err != nil:
		return nil, nil, fmt.Errorf("get Secret %s (%s): %w", ref.Name, field, err)
	}
	value, ok := secret.Data[ref.Key]
	if !ok || len(value) == 0 {
		return nil, newProblem(licensingv1alpha1.ReasonSecretNotFound, "Secret %s has no key %s (%s); add it or fix the key", ref.Name, ref.Key, field), nil
	}
	return value, nil, nil
}

// SetupWithManager watches webhooks, the events of their namespace (for the
// pending count) and Secrets (metadata only) that webhooks may name.
func (r *LicenseWebhookReconciler) SetupWithManager(mgr ctrl.Manager) error {
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		For(&licensingv1alpha1.LicenseWebhook{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&licensingv1alpha1.LicenseEvent{}, handler.EnqueueRequestsFromMapFunc(webhooksInNamespace(c))).
		WatchesRawSource(source.Kind[client.Object](r.SecretMetadata, secretMetadata(), handler.EnqueueRequestsFromMapFunc(webhooksNamingSecret(c)))).
		Named("licensewebhook").
		Complete(r)
}

func webhooksInNamespace(c client.Reader) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		return listWebhooks(ctx, c, o.GetNamespace(), func(*licensingv1alpha1.LicenseWebhook) bool { return true })
	}
}

func webhooksNamingSecret(c client.Reader) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		return listWebhooks(ctx, c, o.GetNamespace(), func(w *licensingv1alpha1.LicenseWebhook) bool {
			return w.Spec.SigningSecretRef.Name == o.GetName() || (w.Spec.URLSecretRef != nil && w.Spec.URLSecretRef.Name == o.GetName())
		})
	}
}

func listWebhooks(ctx context.Context, c client.Reader, namespace string, keep func(*licensingv1alpha1.LicenseWebhook) bool) []reconcile.Request {
	list := &licensingv1alpha1.LicenseWebhookList{}
	if err := c.List(ctx, list, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "list LicenseWebhooks", "namespace", namespace)
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if keep(&list.Items[i]) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// webhookReadyChanged lets through a webhook becoming usable or changing, so
// the events waiting for it are tried at once.
func webhookReady(w *licensingv1alpha1.LicenseWebhook) bool {
	return meta.IsStatusConditionTrue(w.Status.Conditions, licensingv1alpha1.ConditionReady)
}
