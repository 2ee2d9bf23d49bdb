package controllers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/keys"
	"github.com/kubelicense/kubelicense/internal/webhook"
)

// ProductReconciler keeps each Product's signing key and the JWKS that publishes
// its public keys. Phases are in product_controller_phases.go.
type ProductReconciler struct {
	client.Client
	// APIReader reads Secrets outside the manager's label-filtered cache: the
	// bring-your-own key Secrets named by spec.signing.secretRef.
	APIReader client.Reader
	// SecretMetadata holds the metadata of every Secret, so a change to a
	// bring-your-own key Secret brings its Products back.
	SecretMetadata cache.Cache
	Scheme         *runtime.Scheme
	Recorder       events.EventRecorder
	Clock          clock.PassiveClock
	// Rand feeds key generation; nil means crypto/rand.
	Rand io.Reader
	// Outbox records key rotations and losses for webhooks; nil: none.
	Outbox *webhook.Outbox

	// statusWrites tells a cached copy older than our last status write: from
	// it, a rotation already handled would run again and drop its new key.
	statusWrites statusWrites
}

// productScope carries one reconcile of one Product; phases fill it in order.
type productScope struct {
	product *licensingv1alpha1.Product
	now     time.Time
	// key is the usable signing key (set by reconcileSigningKey), nil when unavailable.
	key *keys.SigningKey
	// published are the public keys to publish, newest first (set by reconcileKeyHistory).
	published []keys.PublicKey
	// keyProblem: no usable signing key until a person acts (reconcileSigningKey).
	keyProblem *problem
	// publishProblem: the public keys cannot be published until a person acts (reconcileJWKS).
	publishProblem *problem
	// next is when the controller must act again on its own.
	next *time.Time
}

// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=products,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=products/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=products/finalizers,verbs=update
// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=licensetemplates,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one Product's key, JWKS and status in line with its spec and the clock.
func (r *ProductReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	product := &licensingv1alpha1.Product{}
	if err := r.Get(ctx, req.NamespacedName, product); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if r.statusWrites.stale(product) {
		return reconcile.Result{RequeueAfter: notYetCachedRetry}, nil
	}
	original := product.DeepCopy()
	// Whole seconds: status times are stored to the second, and instants derived
	// from them (removeAt, the rotation due time) must agree with what is stored.
	s := &productScope{product: product, now: r.Clock.Now().Truncate(time.Second)}

	err := r.reconcilePhases(ctx, s)
	if errors.Is(err, errNotYetCached) {
		return reconcile.Result{RequeueAfter: notYetCachedRetry}, nil
	}
	r.summarizeProductStatus(s, err)
	if !equality.Semantic.DeepEqual(original.Status, product.Status) {
		if perr := r.Status().Patch(ctx, product, client.MergeFrom(original)); perr != nil {
			return reconcile.Result{}, fmt.Errorf("update status of Product %s: %w", req.NamespacedName, perr)
		}
		r.statusWrites.patched(product, original.ResourceVersion)
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	return requeueAt(s.now, s.next), nil
}

// reconcilePhases runs the steps in order; a step that leaves no usable key stops the rest
// but not the status report.
func (r *ProductReconciler) reconcilePhases(ctx context.Context, s *productScope) error {
	phases := []func(context.Context, *productScope) error{
		r.reconcileSigningKey,
		r.reconcileKeyHistory,
		r.reconcileJWKS,
	}
	for _, phase := range phases {
		if err := phase(ctx, s); err != nil {
			return err
		}
		if s.key == nil {
			return nil
		}
	}
	return nil
}

// requeueAt turns "act again at next" into a result; the delay is always positive.
func requeueAt(now time.Time, next *time.Time) reconcile.Result {
	if next == nil {
		return reconcile.Result{}
	}
	delay := next.Sub(now)
	if delay < time.Second {
		delay = time.Second
	}
	return reconcile.Result{RequeueAfter: delay}
}

// SetupWithManager watches Products, the Secrets and ConfigMaps they own, the
// bring-your-own key Secrets they name, and the LicenseTemplates whose token
// lifetimes decide when retired keys may go.
func (r *ProductReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&licensingv1alpha1.Product{}).
		// By label, not owner reference: a key Secret restored from a backup may come
		// back without its owner reference and must still heal the Product.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(productOfLabelled(licensingv1alpha1.SecretTypeSigningKey))).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(productOfLabelled(""))).
		Watches(&licensingv1alpha1.LicenseTemplate{}, handler.EnqueueRequestsFromMapFunc(templateToProduct)).
		WatchesRawSource(source.Kind[client.Object](r.SecretMetadata, secretMetadata(),
			handler.EnqueueRequestsFromMapFunc(referrers(r.Client, &licensingv1alpha1.ProductList{}, indexSigningSecretRef)))).
		Named("product").
		Complete(r)
}

// productOfLabelled maps a managed Secret (of the given type) or ConfigMap to the
// Product in its label.
func productOfLabelled(secretType corev1.SecretType) handler.MapFunc {
	return func(_ context.Context, obj client.Object) []reconcile.Request {
		if s, ok := obj.(*corev1.Secret); ok && s.Type != secretType {
			return nil
		}
		name := obj.GetLabels()[licensingv1alpha1.LabelProduct]
		if name == "" || obj.GetLabels()[licensingv1alpha1.LabelLicensee] != "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: obj.GetNamespace(), Name: name}}}
	}
}

func templateToProduct(_ context.Context, obj client.Object) []reconcile.Request {
	t, ok := obj.(*licensingv1alpha1.LicenseTemplate)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: t.Namespace, Name: t.Spec.ProductRef.Name}}}
}
