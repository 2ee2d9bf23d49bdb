// Package bench measures issuance throughput against a baseline controller that
// performs the same minimum writes per Licensee (one Secret create, one status
// update) with the same client settings, on the same local control plane. The
// baseline computes nothing: it replays the bytes kubelicense wrote for one
// sample Licensee, so the ratio is the cost of everything but the writes
// (reading caches, signing, the Secret watch that catches tampering, events).
//
//	make bench                                   # N=1000, 3 rounds
//	BENCH_LICENSEES=200 BENCH_ROUNDS=5 make bench
package bench

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/controllers"
	"github.com/kubelicense/kubelicense/internal/testenv"
)

// clientQPS and clientBurst are the same for both controllers and high enough
// that client-side throttling does not hide the controllers' own cost.
const (
	clientQPS   = 500
	clientBurst = 1000
)

func licenseeCount() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_LICENSEES")); err == nil && n > 0 {
		return n
	}
	return 1000
}

func BenchmarkIssuanceVsBaseline(b *testing.B) {
	// Controller logs would disturb the measurement.
	log.SetLogger(logr.Discard())
	env, err := testenv.New()
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := testenv.Start(env)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	n := licenseeCount()

	ours := func(ctx context.Context, mgr ctrl.Manager) error {
		return controllers.SetupAll(ctx, mgr, controllers.Options{})
	}
	// The baseline replays, byte for byte, the writes kubelicense made for one
	// sample Licensee: the same Secret data, labels and annotations, the same status.
	_, sampleNS := run(b, cfg, c, 1, "sample", ours)
	sample := &baselineReconciler{}
	must(b, c.Get(context.Background(), client.ObjectKey{Namespace: sampleNS, Name: "licensee-00000-license"}, &sample.secret))
	must(b, c.Get(context.Background(), client.ObjectKey{Namespace: sampleNS, Name: "licensee-00000"}, &sample.licensee))
	baseline := func(_ context.Context, mgr ctrl.Manager) error {
		r := &baselineReconciler{Client: mgr.GetClient(), secret: sample.secret, licensee: sample.licensee}
		return ctrl.NewControllerManagedBy(mgr).For(&licensingv1alpha1.Licensee{}).Named("baseline").Complete(r)
	}
	for b.Loop() {
		// Rounds alternate which controller goes first, on the same control plane,
		// and the median ratio is reported: the machine is shared and noisy.
		var ratios, baseRates, ourRates []float64
		for round := range benchRounds() {
			var base, our float64
			if round%2 == 0 {
				base, _ = run(b, cfg, c, n, "baseline", baseline)
				our, _ = run(b, cfg, c, n, "kubelicense", ours)
			} else {
				our, _ = run(b, cfg, c, n, "kubelicense", ours)
				base, _ = run(b, cfg, c, n, "baseline", baseline)
			}
			fmt.Printf("round %d: kubelicense %.1f/s, baseline %.1f/s, ratio %.2f\n", round+1, our, base, our/base)
			ratios, baseRates, ourRates = append(ratios, our/base), append(baseRates, base), append(ourRates, our)
		}
		ratio := median(ratios)
		b.ReportMetric(median(baseRates), "baseline-licensees/s")
		b.ReportMetric(median(ourRates), "licensees/s")
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("issuance of %d Licensees, median of %d rounds: kubelicense %.1f/s, baseline %.1f/s, ratio %.2f (target >= 0.80)\n",
			n, len(ratios), median(ourRates), median(baseRates), ratio)
	}
}

func benchRounds() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 3
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// run starts a manager with setup in a fresh namespace, creates the Product, a
// template and n Licensees, and returns Licensees per second until all of them
// are issued, and the namespace.
func run(b *testing.B, cfg *rest.Config, c client.WithWatch, n int, name string, setup func(context.Context, ctrl.Manager) error) (float64, string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-" + name + "-"}}
	must(b, c.Create(ctx, ns))

	requests := &testenv.RequestCounter{}
	mgrCfg := rest.CopyConfig(cfg)
	mgrCfg.Wrap(requests.Wrap)
	cacheOpts := controllers.CacheOptions()
	cacheOpts.DefaultNamespaces = map[string]cache.Config{ns.Name: {}}
	mgr, err := ctrl.NewManager(mgrCfg, ctrl.Options{
		Scheme: scheme.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, Cache: cacheOpts,
		// Each round starts new managers in this process; their controllers reuse names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	must(b, err)
	must(b, setup(ctx, mgr))
	stopped := make(chan struct{})
	go func() { _ = mgr.Start(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		b.Fatal("cache did not sync")
	}

	must(b, c.Create(ctx, &licensingv1alpha1.Product{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "acme-db"},
		Spec:       licensingv1alpha1.ProductSpec{Features: []licensingv1alpha1.FeatureDefinition{{Name: "replication"}}},
	}))
	duration := licensingv1alpha1.Duration("8760h")
	must(b, c.Create(ctx, &licensingv1alpha1.LicenseTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "annual"},
		Spec: licensingv1alpha1.LicenseTemplateSpec{
			ProductRef: licensingv1alpha1.LocalObjectReference{Name: "acme-db"}, Type: licensingv1alpha1.LicenseTypeSubscription,
			Duration: &duration, Features: []licensingv1alpha1.FeatureName{"replication"},
		},
	}))
	// Let the Product get its key first: both runs then measure issuance alone.
	waitFor(b, 60*time.Second, func() bool {
		p := &licensingv1alpha1.Product{}
		return c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "acme-db"}, p) == nil &&
			(name == "baseline" || meta.IsStatusConditionTrue(p.Status.Conditions, licensingv1alpha1.ConditionReady))
	})

	// Watch instead of polling: listing 1000 Licensees every few hundred
	// milliseconds loads the API server under test more than the controllers do.
	watcher, err := c.Watch(ctx, &licensingv1alpha1.LicenseeList{}, client.InNamespace(ns.Name))
	must(b, err)
	defer watcher.Stop()

	start := time.Now()
	for i := range n {
		must(b, c.Create(ctx, &licensingv1alpha1.Licensee{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: fmt.Sprintf("licensee-%05d", i)},
			Spec: licensingv1alpha1.LicenseeSpec{
				ProductRef: licensingv1alpha1.LocalObjectReference{Name: "acme-db"},
				Licenses:   []licensingv1alpha1.LicenseSpec{{Name: "main", TemplateRef: licensingv1alpha1.LocalObjectReference{Name: "annual"}}},
			},
		}))
	}
	waitAll(ctx, b, watcher, ns.Name, n)
	elapsed := time.Since(start)
	secrets := &corev1.SecretList{}
	must(b, c.List(ctx, secrets, client.InNamespace(ns.Name), client.HasLabels{licensingv1alpha1.LabelLicensee}))
	if len(secrets.Items) != n {
		b.Fatalf("%s: %d Secrets for %d Licensees", name, len(secrets.Items), n)
	}
	fmt.Printf("%s: %d Licensees Ready with their Secret in %s; API requests: %s, reads (GET and LIST)=%d\n", name, n, elapsed.Round(time.Millisecond), requests, requests.Reads())
	return float64(n) / elapsed.Seconds(), ns.Name
}

func isIssued(l *licensingv1alpha1.Licensee) bool {
	c := meta.FindStatusCondition(l.Status.Conditions, licensingv1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.Reason == licensingv1alpha1.ReasonIssued && l.Status.Serial != ""
}

// baselineReconciler does nothing but the writes kubelicense makes for a new
// Licensee: one Secret create and one status patch, with the bytes of a sample.
type baselineReconciler struct {
	client.Client
	secret   corev1.Secret
	licensee licensingv1alpha1.Licensee
}

func (r *baselineReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	l := &licensingv1alpha1.Licensee{}
	if err := r.Get(ctx, req.NamespacedName, l); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if l.Status.ObservedGeneration == l.Generation {
		return reconcile.Result{}, nil
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: l.Namespace, Name: l.Name + "-license",
			Labels: maps.Clone(r.secret.Labels), Annotations: maps.Clone(r.secret.Annotations),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(l, licensingv1alpha1.GroupVersion.WithKind("Licensee"))},
		},
		Type: r.secret.Type, Data: r.secret.Data,
	}
	secret.Labels[licensingv1alpha1.LabelLicensee] = l.Name
	secret.Annotations[licensingv1alpha1.AnnotationLicensee] = l.Name
	if err := r.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return reconcile.Result{}, err
	}
	original := l.DeepCopy()
	r.licensee.Status.DeepCopyInto(&l.Status)
	l.Status.ObservedGeneration = l.Generation
	for i := range l.Status.Conditions {
		l.Status.Conditions[i].ObservedGeneration = l.Generation
	}
	return reconcile.Result{}, r.Status().Patch(ctx, l, client.MergeFrom(original))
}

func waitAll(ctx context.Context, b *testing.B, w watch.Interface, namespace string, n int) {
	finished := make(map[string]bool, n)
	timeout := time.After(20 * time.Minute)
	for len(finished) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				b.Fatalf("%s: watch closed with %d of %d Licensees done", namespace, len(finished), n)
			}
			if l, isLicensee := ev.Object.(*licensingv1alpha1.Licensee); isLicensee && isIssued(l) {
				finished[l.Name] = true
			}
		case <-timeout:
			b.Fatalf("%s: timed out with %d of %d Licensees done", namespace, len(finished), n)
		case <-ctx.Done():
			b.Fatal(ctx.Err())
		}
	}
}

func waitFor(b *testing.B, timeout time.Duration, cond func() bool) {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out after %s", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
