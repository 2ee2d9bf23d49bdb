package controllers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/entitlement"
	"github.com/kubelicense/kubelicense/internal/issuance"
	"github.com/kubelicense/kubelicense/internal/usage"
	"github.com/kubelicense/kubelicense/internal/webhook"
)

// indexTemplateRef indexes Licensees by the templates their licenses use.
const indexTemplateRef = "spec.licenses.templateRef.name"

// indexSigningSecretRef indexes Products by their bring-your-own key Secret.
const indexSigningSecretRef = "spec.signing.secretRef.name"

// LicenseeReconciler issues each Licensee's signed token into its Secret and keeps
// it true as time passes. Phases are in licensee_controller_phases.go.
type LicenseeReconciler struct {
	client.Client
	// APIReader reads bring-your-own signing key Secrets, which the cache does not
	// hold, when SecretMetadata says they changed since they were last parsed.
	// SecretMetadata also tells when a foreign Secret in a copy's way goes.
	APIReader      client.Reader
	SecretMetadata cache.Cache
	Recorder       events.EventRecorder
	Clock          clock.PassiveClock
	// Rand feeds token serials; nil means crypto/rand. Shared by the workers, so
	// it must be safe for concurrent use.
	Rand io.Reader
	// Outbox records business events for webhooks; nil: none.
	Outbox *webhook.Outbox
	// MaxConcurrentReconciles is how many Licensees are reconciled at once (0: one).
	// controller-runtime never hands one Licensee to two workers at a time.
	MaxConcurrentReconciles int

	keys         *signingKeys
	statusWrites statusWrites // tells a cached copy older than our last status write
}

// licenseeScope carries one reconcile of one Licensee; phases fill it in order.
type licenseeScope struct {
	licensee *licensingv1alpha1.Licensee
	now      time.Time

	product  *licensingv1alpha1.Product // reconcileReferences; nil when missing
	inputs   []entitlement.LicenseInput // reconcileReferences
	problems []string                   // licenses that cannot be evaluated
	secret   *corev1.Secret             // reconcileReferences: the existing license Secret, nil if none
	digest   *issuance.Digest           // reconcileReferences: what secret's data holds, nil if no Secret
	result   entitlement.Result         // reconcileEntitlements
	notices  []entitlement.Notice       // summarizeLicenseeStatus: expiry notices status now records, to announce once it is written
	written  bool                       // reconcileSecret: the Secret now holds this run's content (a token or a revocation notice)
	issuedAt time.Time                  // reconcileSecret: iat of the token now in the Secret
	serial   string                     // reconcileSecret
	keyID    string                     // reconcileSecret
	reissued string                     // reconcileSecret: why a token was signed and written, empty if adopted
	usage    usage.Summary              // reconcileUsage: what the license API holds
	// leases: reconcileUsage, read-only; the holders of an exhausted license's seats.
	leases []licensingv1alpha1.SeatLease
	// distribution: reconcileDistribution; nil when the Licensee never distributed.
	distribution *distributionResult

	// stalled: issuing stopped until a person acts (reconcileReferences: the
	// Product is missing; reconcileReferences or reconcileSecret: the Secret name is taken).
	stalled *problem
	// waiting: issuing waits for the Product's signing key (reconcileSecret).
	waiting *problem
}

// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=licensees,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=licensees/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=licensees/finalizers,verbs=update
// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=products,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=licensetemplates,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile issues or adopts the token, then records status; it writes nothing
// when nothing changed, and requeues at the next transition.
func (r *LicenseeReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	licensee := &licensingv1alpha1.Licensee{}
	if err := r.Get(ctx, req.NamespacedName, licensee); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if r.statusWrites.stale(licensee) {
		return reconcile.Result{RequeueAfter: notYetCachedRetry}, nil
	}
	if licensee.DeletionTimestamp != nil && controllerutil.ContainsFinalizer(licensee, licensingv1alpha1.FinalizerDistribution) {
		// Only the copies are left to remove: the Secret goes with its owner.
		err := r.finalizeDistribution(ctx, licensee)
		if errors.Is(err, errNotYetCached) {
			return reconcile.Result{RequeueAfter: notYetCachedRetry}, nil
		}
		return reconcile.Result{}, err
	}
	original := licensee.DeepCopy()
	s := &licenseeScope{licensee: licensee, now: r.Clock.Now()}

	err := r.reconcilePhases(ctx, s)
	if errors.Is(err, errNotYetCached) {
		return reconcile.Result{RequeueAfter: notYetCachedRetry}, nil
	}
	next := r.summarizeLicenseeStatus(s, err)
	r.recordStateEvents(original, licensee, s)
	if perr := r.Outbox.Publish(ctx, licenseeWebhookEvents(original, licensee, s)...); perr != nil {
		return reconcile.Result{}, perr // status unwritten: the next run makes the same events
	}
	if !equality.Semantic.DeepEqual(original.Status, licensee.Status) {
		patch := client.MergeFrom(original)
		if len(s.notices) > 0 {
			// A notice is announced once: a run on a cached status older than
			// the one that recorded it must fail here, not announce it again.
			patch = client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{})
		}
		if perr := r.Status().Patch(ctx, licensee, patch); perr != nil {
			if apierrors.IsConflict(perr) && len(s.notices) > 0 {
				return reconcile.Result{RequeueAfter: notYetCachedRetry}, nil
			}
			return reconcile.Result{}, fmt.Errorf("update status of Licensee %s: %w", req.NamespacedName, perr)
		}
		r.statusWrites.patched(licensee, original.ResourceVersion)
	}
	// Only once status remembers them: a crash before loses a notice rather than repeating it.
	for _, n := range s.notices {
		r.noticeExpiringSoon(ctx, licensee, n)
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if d := s.distribution; !d.settled() {
		if d.err != nil {
			return reconcile.Result{}, d.err
		}
		return reconcile.Result{RequeueAfter: notYetCachedRetry}, nil
	}
	return requeueAt(r.Clock.Now(), next), nil
}

func (r *LicenseeReconciler) reconcilePhases(ctx context.Context, s *licenseeScope) error {
	if err := r.reconcileReferences(ctx, s); err != nil {
		return err
	}
	if s.product != nil {
		r.reconcileEntitlements(s)
		if err := r.reconcileUsage(ctx, s); err != nil {
			return err
		}
		if err := r.reconcileSecret(ctx, s); err != nil {
			return err
		}
	}
	// Copies follow what the licensing namespace holds, also while issuing is held up.
	r.reconcileDistribution(ctx, s)
	return nil
}

// SetupWithManager registers the indexes and watches: Licensees (spec and
// annotation changes, deletion), their Secrets, the Products and templates
// they use, and for distribution the Products' JWKS, the namespaces (metadata
// only), the copies, and foreign Secrets in a copy's way going away.
func (r *LicenseeReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.keys == nil {
		r.keys = newSigningKeys(mgr.GetClient(), r.APIReader, r.SecretMetadata)
	}
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		For(&licensingv1alpha1.Licensee{}, builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deletionStarted))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(secretToLicensee), builder.WithPredicates(licenseSecretTampered)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.copyToLicensees(true)), builder.WithPredicates(copyTampered)).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.copyToLicensees(false)), builder.WithPredicates(copyTampered)).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.jwksToDistributingLicensees), builder.WithPredicates(jwksChanged)).
		WatchesMetadata(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.namespaceToLicensees), builder.WithPredicates(namespaceChanged)).
		Watches(&licensingv1alpha1.Product{}, handler.EnqueueRequestsFromMapFunc(referrers(c, &licensingv1alpha1.LicenseeList{}, indexProductRef)),
			builder.WithPredicates(productChangedForLicensees)).
		Watches(&licensingv1alpha1.LicenseTemplate{}, handler.EnqueueRequestsFromMapFunc(referrers(c, &licensingv1alpha1.LicenseeList{}, indexTemplateRef))).
		Watches(&licensingv1alpha1.Activation{}, enqueueUsage, builder.WithPredicates(usageChanged)).
		Watches(&licensingv1alpha1.SeatLease{}, enqueueUsage, builder.WithPredicates(usageChanged)).
		WatchesRawSource(source.Kind[client.Object](r.SecretMetadata, secretMetadata(),
			handler.EnqueueRequestsFromMapFunc(r.copyToLicensees(true)), secretDeleted)).
		Named("licensee").
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}

// IndexFields registers the cache indexes the controllers look up referrers by.
func IndexFields(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	productRef := func(o client.Object) []string {
		switch v := o.(type) {
		case *licensingv1alpha1.Licensee:
			return []string{v.Spec.ProductRef.Name}
		case *licensingv1alpha1.LicenseTemplate:
			return []string{v.Spec.ProductRef.Name}
		}
		return nil
	}
	if err := idx.IndexField(ctx, &licensingv1alpha1.Licensee{}, indexProductRef, productRef); err != nil {
		return fmt.Errorf("index Licensees by product: %w", err)
	}
	if err := idx.IndexField(ctx, &licensingv1alpha1.LicenseTemplate{}, indexProductRef, productRef); err != nil {
		return fmt.Errorf("index LicenseTemplates by product: %w", err)
	}
	if err := idx.IndexField(ctx, &licensingv1alpha1.Product{}, indexSigningSecretRef, func(o client.Object) []string {
		if ref := o.(*licensingv1alpha1.Product).Spec.Signing.SecretRef; ref != nil {
			return []string{ref.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index Products by signing key Secret: %w", err)
	}
	if err := idx.IndexField(ctx, &licensingv1alpha1.Licensee{}, indexTemplateRef, func(o client.Object) []string {
		var names []string
		for _, l := range o.(*licensingv1alpha1.Licensee).Spec.Licenses {
			names = append(names, l.TemplateRef.Name)
		}
		return names
	}); err != nil {
		return fmt.Errorf("index Licensees by template: %w", err)
	}
	if err := idx.IndexField(ctx, &licensingv1alpha1.Licensee{}, indexDistributionNamespaces, indexDistributedNamespaces); err != nil {
		return fmt.Errorf("index Licensees by distribution namespace: %w", err)
	}
	return nil
}

// licenseSecretTampered lets through only the Secret events that need the
// controller: a deletion, or an update that leaves the data disagreeing with its
// hash annotation or changes the operator's labels or the owner references (a
// wrong owner UID gets the Secret garbage-collected). The controller's own writes
// (a create, a re-sign) are consistent and would only cost a no-op reconcile
// against a cache that may not have caught up yet.
var licenseSecretTampered = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return true },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		s, ok := e.ObjectNew.(*corev1.Secret)
		if !ok {
			return false
		}
		old := e.ObjectOld.GetLabels()
		return s.Annotations[licensingv1alpha1.AnnotationDataHash] != dataHashOf(s) ||
			old[licensingv1alpha1.LabelManaged] != s.Labels[licensingv1alpha1.LabelManaged] ||
			old[licensingv1alpha1.LabelLicensee] != s.Labels[licensingv1alpha1.LabelLicensee] ||
			!equality.Semantic.DeepEqual(e.ObjectOld.GetOwnerReferences(), s.OwnerReferences)
	},
}

// productChangedForLicensees lets through the Product updates a Licensee acts
// on: a new generation (catalogue, display name, key source), another signing
// key or set of published keys, KeyAvailable turning. Any other status write,
// or metadata that GitOps tools write, would wake every Licensee of the
// Product for nothing.
var productChangedForLicensees = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		old, okOld := e.ObjectOld.(*licensingv1alpha1.Product)
		p, okNew := e.ObjectNew.(*licensingv1alpha1.Product)
		if !okOld || !okNew {
			return true
		}
		return old.Generation != p.Generation ||
			old.Status.SigningKeyID != p.Status.SigningKeyID ||
			conditionTrue(old.Status.Conditions, licensingv1alpha1.ConditionKeyAvailable) != conditionTrue(p.Status.Conditions, licensingv1alpha1.ConditionKeyAvailable) ||
			!slices.Equal(verificationKeyIDs(old), verificationKeyIDs(p))
	},
}

func verificationKeyIDs(p *licensingv1alpha1.Product) []string {
	ids := make([]string, 0, len(p.Status.VerificationKeys))
	for _, v := range p.Status.VerificationKeys {
		ids = append(ids, v.KeyID)
	}
	return ids
}

// secretToLicensee maps a license Secret to the Licensee named in its label.
func secretToLicensee(_ context.Context, obj client.Object) []reconcile.Request {
	name := obj.GetLabels()[licensingv1alpha1.LabelLicensee]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: obj.GetNamespace(), Name: name}}}
}
