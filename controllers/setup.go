package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/keys"
	"github.com/kubelicense/kubelicense/internal/webhook"
)

// CacheOptions limits the manager's cache of Secrets and ConfigMaps to the ones
// the operator manages, so it neither holds every Secret of the cluster in memory
// nor needs to list them all. Namespaces are only ever read as metadata (for
// distribution). No cached object keeps its managed fields: at 10,000
// Licensees they would be a large part of the cache, and nothing reads them.
// License Secrets are cached with a digest in place of their data
// (slimLicenseSecrets), and the strings many objects repeat are shared
// (intern.go).
// namespaces, when given, restrict every namespaced object to them: one
// shard of a cluster's Licensees per manager (--watch-namespaces).
func CacheOptions(namespaces ...string) cache.Options {
	managed := labels.SelectorFromSet(labels.Set{licensingv1alpha1.LabelManaged: "true"})
	return cache.Options{
		DefaultNamespaces: namespaceConfigs(namespaces),
		DefaultTransform:  slimObject,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:    {Label: managed, Transform: slimLicenseSecrets},
			&corev1.ConfigMap{}: {Label: managed},
		},
	}
}

// namespaceConfigs is a cache's DefaultNamespaces for namespaces; nil: all.
func namespaceConfigs(namespaces []string) map[string]cache.Config {
	if len(namespaces) == 0 {
		return nil
	}
	out := make(map[string]cache.Config, len(namespaces))
	for _, ns := range namespaces {
		out[ns] = cache.Config{}
	}
	return out
}

// Options are what the controllers share.
type Options struct {
	// Clock is injected so tests can move time; nil means the real clock.
	Clock clock.PassiveClock
	// EventQPS and EventBurst pace the Events sent (0: 10 and 25), from a
	// queue of at most maxQueuedEvents.
	// Events have their own client so a burst of issuances is not slowed down by
	// its own diagnostics: they trail the work instead of competing with it.
	EventQPS   float32
	EventBurst int
	// SigningKeys is the source of Products' signing keys, shared with the
	// license API, which signs its answers with them; nil: SetupAll makes one.
	SigningKeys *SigningKeys
	// Webhooks configures the delivery of LicenseEvents.
	Webhooks WebhookOptions
	// LicenseeConcurrency is how many Licensees are reconciled at once (0:
	// DefaultLicenseeConcurrency). One worker leaves the API server idle while
	// it signs; see docs/performance.md.
	LicenseeConcurrency int
}

// WebhookOptions configure webhook delivery; zero values take the defaults.
type WebhookOptions struct {
	// AllowHTTP lets webhooks use plain http URLs (tests, never production).
	AllowHTTP bool
	// RetryBase is the first wait after a failed attempt (it doubles); Retention
	// how long a delivered event is kept; Concurrency the events reconciled at once.
	RetryBase, Retention time.Duration
	Concurrency          int
}

// DefaultLicenseeConcurrency is the Licensee controller's default number of
// workers: 8 issued a 1000-Licensee import fastest, at 0.87 of a do-nothing
// controller at its best (docs/performance.md, make bench).
const DefaultLicenseeConcurrency = 8

// newEventRecorders starts an events.k8s.io broadcaster with its own client and
// returns one recorder per controller name, all behind one bounded queue that
// sends at most opts.EventQPS Events a second (burst opts.EventBurst).
func newEventRecorders(ctx context.Context, mgr ctrl.Manager, opts Options, names ...string) (map[string]events.EventRecorder, error) {
	qps, burst := opts.EventQPS, opts.EventBurst
	if qps <= 0 {
		qps = 10
	}
	if burst <= 0 {
		burst = 25
	}
	// The queue paces the Events; the client's own limit, above it, only
	// keeps a bug from flooding the API server.
	cfg := rest.CopyConfig(mgr.GetConfig())
	cfg.QPS, cfg.Burst = 2*qps, 2*burst
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create events client: %w", err)
	}
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: clientset.EventsV1()})
	if err := broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		return nil, fmt.Errorf("start events broadcaster: %w", err)
	}
	queue := newEventQueue(mgr.GetScheme(), qps, burst)
	go queue.run(ctx)
	go func() { <-ctx.Done(); broadcaster.Shutdown() }()
	recorders := map[string]events.EventRecorder{}
	for _, name := range names {
		recorders[name] = queue.recorder(broadcaster.NewRecorder(mgr.GetScheme(), name))
	}
	return recorders, nil
}

// SetupAll registers the cache indexes and the three controllers with mgr.
func SetupAll(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.LicenseeConcurrency <= 0 {
		opts.LicenseeConcurrency = DefaultLicenseeConcurrency
	}
	if err := IndexFields(ctx, mgr); err != nil {
		return err
	}
	recorders, err := newEventRecorders(ctx, mgr, opts, "kubelicense-product", "kubelicense-licensee")
	if err != nil {
		return err
	}
	if opts.SigningKeys == nil {
		if opts.SigningKeys, err = NewSigningKeys(mgr, opts.Clock); err != nil {
			return err
		}
	}
	secretMetadata := opts.SigningKeys.metadataCache
	outbox := &webhook.Outbox{Client: mgr.GetClient(), Webhooks: mgr.GetCache()}
	if err := (&ProductReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), SecretMetadata: secretMetadata, Scheme: mgr.GetScheme(),
		Recorder: recorders["kubelicense-product"], Clock: opts.Clock, Outbox: outbox,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up Product controller: %w", err)
	}
	if err := (&LicenseTemplateReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up LicenseTemplate controller: %w", err)
	}
	if err := (&LicenseeReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), SecretMetadata: secretMetadata,
		Recorder: recorders["kubelicense-licensee"], Clock: opts.Clock, keys: opts.SigningKeys.keys, Outbox: outbox,
		MaxConcurrentReconciles: opts.LicenseeConcurrency,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up Licensee controller: %w", err)
	}
	return setupWebhooks(mgr, opts, secretMetadata)
}

// setupWebhooks registers the LicenseWebhook status controller and the
// delivery controller (both leader-elected, as every controller).
func setupWebhooks(mgr ctrl.Manager, opts Options, secretMetadata cache.Cache) error {
	w := opts.Webhooks
	if err := (&LicenseWebhookReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), SecretMetadata: secretMetadata, AllowHTTP: w.AllowHTTP,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up LicenseWebhook controller: %w", err)
	}
	if w.Concurrency <= 0 {
		w.Concurrency = 4
	}
	if err := (&LicenseEventReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clock: opts.Clock,
		AllowHTTP: w.AllowHTTP, RetryBase: w.RetryBase, Retention: w.Retention,
	}).SetupWithManager(mgr, w.Concurrency); err != nil {
		return fmt.Errorf("set up LicenseEvent delivery controller: %w", err)
	}
	return nil
}

// SigningKeys gives the key each Product signs with now: the Licensee
// controller signs tokens with it and the license API its answers, from one
// cache of parsed keys.
type SigningKeys struct {
	keys          *signingKeys
	metadataCache cache.Cache
	clock         clock.PassiveClock
}

// NewSigningKeys starts, with mgr, the metadata cache of Secrets it reads
// bring-your-own keys' versions from: of namespaces only, when given (as
// for CacheOptions). clk may be nil for the real clock.
func NewSigningKeys(mgr ctrl.Manager, clk clock.PassiveClock, namespaces ...string) (*SigningKeys, error) {
	if clk == nil {
		clk = clock.RealClock{}
	}
	metadata, err := newSecretMetadataCache(mgr, namespaces)
	if err != nil {
		return nil, err
	}
	k := &SigningKeys{
		keys:          newSigningKeys(mgr.GetClient(), mgr.GetAPIReader(), metadata),
		metadataCache: metadata,
		clock:         clk,
	}
	// The operator's own key Secrets, from the store of the manager's Secret
	// informer (which the controllers start anyway).
	if err := k.keys.managed.Wire(context.Background(), mgr.GetCache()); err != nil {
		return nil, err
	}
	return k, nil
}

// Current is the key p signs with now, or an error saying why it has none.
func (k *SigningKeys) Current(ctx context.Context, p *licensingv1alpha1.Product) (*keys.SigningKey, error) {
	return k.keys.current(ctx, p, k.clock.Now())
}

// newSecretMetadataCache starts, with mgr, a cache of the metadata of every
// Secret the operator does not manage. Bring-your-own signing key Secrets
// carry no operator label, so the manager's cache (managed Secrets only)
// never sees them; this one tells the
// controllers when such a Secret changes (its resourceVersion) without holding
// any Secret's data, private keys included, in memory. cert-manager keeps the
// same kind of cache for the same reason.
func newSecretMetadataCache(mgr ctrl.Manager, namespaces []string) (cache.Cache, error) {
	opts := secretMetadataCacheOptions(namespaces)
	opts.HTTPClient, opts.Scheme, opts.Mapper = mgr.GetHTTPClient(), mgr.GetScheme(), mgr.GetRESTMapper()
	c, err := cache.New(mgr.GetConfig(), opts)
	if err != nil {
		return nil, fmt.Errorf("create Secret metadata cache: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return nil, fmt.Errorf("start Secret metadata cache: %w", err)
	}
	return c, nil
}

// secretMetadataCacheOptions: Secrets the operator manages are left out, as
// the manager's cache holds them already (10,000 license Secrets twice cost
// about 6 MB at 10,000 Licensees).
func secretMetadataCacheOptions(namespaces []string) cache.Options {
	return cache.Options{
		DefaultNamespaces: namespaceConfigs(namespaces), DefaultTransform: stripSecretMetadata,
		DefaultLabelSelector: labels.NewSelector().Add(notManaged),
	}
}

var notManaged = func() labels.Requirement {
	r, err := labels.NewRequirement(licensingv1alpha1.LabelManaged, selection.NotEquals, []string{"true"})
	if err != nil {
		panic(err)
	}
	return *r
}()

// stripSecretMetadata drops what the Secret metadata cache never reads: managed
// fields, and annotations, where kubectl apply keeps a Secret's whole data
// (last-applied-configuration, up to 256 KiB per Secret).
func stripSecretMetadata(in any) (any, error) {
	if obj, ok := in.(metav1.Object); ok {
		obj.SetManagedFields(nil)
		obj.SetAnnotations(nil)
	}
	return in, nil
}

// secretMetadata is the object the Secret metadata cache is asked for.
func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}
