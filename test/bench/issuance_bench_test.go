// Package bench measures issuance throughput against a baseline controller that
// performs the same minimum writes per Licensee (one Secret create, one status
// update) with the same client settings, on the same local control plane. The
// baseline computes nothing: it replays the bytes kubelicense wrote for one
// sample Licensee, so the ratio is the cost of everything but the writes
// (reading caches, signing, the Secret watch that catches tampering, events).
//
// The baseline runs with 1, 2, 4 and 8 workers and the best of them is the
// baseline: a single-worker baseline measures a controller's latency, not
// what the API server can take. kubelicense runs with the same numbers of
// workers (--licensee-concurrency), each reported against the best baseline.
//
//	make bench                                          # N=1000, 3 rounds, issuance and expiry wave
//	BENCH_LICENSEES=200 BENCH_ROUNDS=1 make bench
//	BENCH_WORKERS=1,4 BENCH_QPS=50 BENCH_BURST=100 make bench
//	make bench-scale                                    # memory and restart, 10,000 + 1,000 Secrets of 512 KiB
package bench

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/controllers"
	"github.com/kubelicense/kubelicense/internal/testenv"
)

// clientQPS and clientBurst are the managers' client limits (BENCH_QPS,
// BENCH_BURST): by default high enough that client-side throttling does not
// hide the controllers' own cost; set them to the manager's defaults (50, 100)
// to measure those.
func clientQPS() float32 { return float32(envInt("BENCH_QPS", 500)) }
func clientBurst() int   { return envInt("BENCH_BURST", 1000) }

func licenseeCount() int { return envInt("BENCH_LICENSEES", 1000) }
func benchRounds() int   { return envInt("BENCH_ROUNDS", 3) }

// creators is how many clients create the Licensees side by side, as a
// platform team importing its customers would (BENCH_CLIENTS).
func creators() int { return envInt("BENCH_CLIENTS", 16) }

// workerCounts are the numbers of workers both controllers run with (BENCH_WORKERS).
func workerCounts(b *testing.B) []int {
	v := os.Getenv("BENCH_WORKERS")
	if v == "" {
		return []int{1, 2, 4, 8}
	}
	var ws []int
	for _, f := range strings.Split(v, ",") {
		w, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || w <= 0 {
			b.Fatalf("BENCH_WORKERS=%q: want positive integers separated by commas, e.g. 1,2,4,8", v)
		}
		ws = append(ws, w)
	}
	return ws
}

// setupFunc adds a controller with the given number of workers to mgr.
type setupFunc func(ctx context.Context, mgr ctrl.Manager, workers int) error

func ours(ctx context.Context, mgr ctrl.Manager, workers int) error {
	return controllers.SetupAll(ctx, mgr, controllers.Options{LicenseeConcurrency: workers})
}

// benchEnv is a local control plane with a client for setting things up.
type benchEnv struct {
	cfg *rest.Config
	c   client.WithWatch
	// baseline replays the writes of a sample Licensee issued by kubelicense.
	baseline setupFunc
}

func startBenchEnv(b *testing.B) (*benchEnv, func()) {
	// Controller logs would disturb the measurement; so would client-go's
	// complaints about the Events a stopped manager leaves unsent.
	log.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
	env, err := testenv.New()
	must(b, err)
	cfg, err := testenv.Start(env)
	must(b, err)
	cfg.QPS, cfg.Burst = 5000, 10000 // the bench's own client never throttles
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.Scheme})
	must(b, err)
	e := &benchEnv{cfg: cfg, c: c}
	// The baseline replays, byte for byte, the writes kubelicense made for one
	// sample Licensee: the same Secret data, labels and annotations, the same status.
	sample := e.run(b, 1, "sample", 1, ours, licenseeSpec(nil))
	base := &baselineReconciler{}
	must(b, c.Get(context.Background(), client.ObjectKey{Namespace: sample.namespace, Name: "licensee-00000-license"}, &base.secret))
	must(b, c.Get(context.Background(), client.ObjectKey{Namespace: sample.namespace, Name: "licensee-00000"}, &base.licensee))
	e.baseline = func(_ context.Context, mgr ctrl.Manager, workers int) error {
		r := &baselineReconciler{Client: mgr.GetClient(), secret: base.secret, licensee: base.licensee}
		return ctrl.NewControllerManagedBy(mgr).For(&licensingv1alpha1.Licensee{}).Named("baseline").
			WithOptions(controller.Options{MaxConcurrentReconciles: workers}).Complete(r)
	}
	return e, func() { _ = env.Stop() }
}

func BenchmarkIssuanceVsBaseline(b *testing.B) {
	e, stop := startBenchEnv(b)
	defer stop()
	n, workers := licenseeCount(), workerCounts(b)
	for b.Loop() {
		// Rounds alternate which controller goes first, on the same control plane,
		// and medians are reported: the machine is shared and noisy.
		baseRates, ourRates := map[int][]float64{}, map[int][]float64{}
		for round := range benchRounds() {
			sweep := func(name string, setup setupFunc, rates map[int][]float64) {
				for _, w := range workers {
					r := e.run(b, n, name, w, setup, licenseeSpec(nil))
					rates[w] = append(rates[w], r.rate())
					fmt.Printf("round %d: %s with %d workers: %.1f Licensees/s\n", round+1, name, w, r.rate())
				}
			}
			if round%2 == 0 {
				sweep("baseline", e.baseline, baseRates)
				sweep("kubelicense", ours, ourRates)
			} else {
				sweep("kubelicense", ours, ourRates)
				sweep("baseline", e.baseline, baseRates)
			}
		}
		bestW, best := bestOf(baseRates)
		fmt.Printf("issuance of %d Licensees, medians of %d rounds; best baseline: %d workers, %.1f/s\n", n, benchRounds(), bestW, best)
		b.ReportMetric(best, "baseline-licensees/s")
		for _, w := range workers {
			base, our := median(baseRates[w]), median(ourRates[w])
			fmt.Printf("  %d workers: baseline %.1f/s, kubelicense %.1f/s, ratio to the best baseline %.2f (target >= 0.80)\n", w, base, our, our/best)
			b.ReportMetric(our, fmt.Sprintf("licensees/s-w%d", w))
			b.ReportMetric(our/best, fmt.Sprintf("ratio-w%d", w))
		}
		oursW, oursBest := bestOf(ourRates)
		b.ReportMetric(oursBest/best, "ratio")
		fmt.Printf("best kubelicense: %d workers, %.1f/s, ratio %.2f\n", oursW, oursBest, oursBest/best)
	}
}

// bestOf is the number of workers with the highest median rate, and that median.
func bestOf(rates map[int][]float64) (int, float64) {
	bestW, best := 0, 0.0
	for _, w := range slices.Sorted(maps.Keys(rates)) {
		if m := median(rates[w]); m > best {
			bestW, best = w, m
		}
	}
	return bestW, best
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// licenseSpec is the license each Licensee of a run holds; nil: one license
// from the run's template, without an end of its own.
type licenseSpecFunc func(i int) licensingv1alpha1.LicenseSpec

func licenseeSpec(f licenseSpecFunc) licenseSpecFunc {
	if f != nil {
		return f
	}
	return func(int) licensingv1alpha1.LicenseSpec {
		return licensingv1alpha1.LicenseSpec{Name: "main", TemplateRef: licensingv1alpha1.LocalObjectReference{Name: "annual"}}
	}
}

// runResult is one run: n Licensees issued in elapsed.
type runResult struct {
	namespace string
	n         int
	elapsed   time.Duration
}

func (r runResult) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

// run starts a manager with setup and the given number of workers in a fresh
// namespace, creates the Product, a template and n Licensees, and measures the
// time until all of them are issued. Everything but the sample is deleted
// afterwards, so later runs do not list and watch what earlier ones left.
func (e *benchEnv) run(b *testing.B, n int, name string, workers int, setup setupFunc, spec licenseSpecFunc) runResult {
	r, stop := e.start(b, n, name, workers, setup, spec, nil)
	stop()
	return r
}

// start is run, but leaves the manager running until stop is called; template,
// if not nil, changes the run's license template.
func (e *benchEnv) start(b *testing.B, n int, name string, workers int, setup setupFunc, spec licenseSpecFunc, template func(*licensingv1alpha1.LicenseTemplateSpec)) (runResult, func()) {
	c, spec := e.c, licenseeSpec(spec)
	ctx, cancel := context.WithCancel(context.Background())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-" + name + "-"}}
	must(b, c.Create(ctx, ns))

	requests := &testenv.RequestCounter{}
	mgrCfg := rest.CopyConfig(e.cfg)
	mgrCfg.QPS, mgrCfg.Burst = clientQPS(), clientBurst()
	mgrCfg.Wrap(requests.Wrap)
	cacheOpts := controllers.CacheOptions()
	cacheOpts.DefaultNamespaces = map[string]cache.Config{ns.Name: {}}
	mgr, err := ctrl.NewManager(mgrCfg, ctrl.Options{
		Scheme: scheme.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, Cache: cacheOpts,
		// Each round starts new managers in this process; their controllers reuse names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	must(b, err)
	must(b, setup(ctx, mgr, workers))
	stopped := make(chan struct{})
	go func() { _ = mgr.Start(ctx); close(stopped) }()
	stop := func() {
		cancel()
		<-stopped
		if name != "sample" {
			cleanup(b, c, ns.Name)
		}
	}
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		b.Fatal("cache did not sync")
	}

	must(b, c.Create(ctx, &licensingv1alpha1.Product{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "acme-db"},
		Spec:       licensingv1alpha1.ProductSpec{Features: []licensingv1alpha1.FeatureDefinition{{Name: "replication"}}},
	}))
	duration := licensingv1alpha1.Duration("8760h")
	tpl := licensingv1alpha1.LicenseTemplateSpec{
		ProductRef: licensingv1alpha1.LocalObjectReference{Name: "acme-db"}, Type: licensingv1alpha1.LicenseTypeSubscription,
		Duration: &duration, Features: []licensingv1alpha1.FeatureName{"replication"},
	}
	if template != nil {
		template(&tpl)
	}
	must(b, c.Create(ctx, &licensingv1alpha1.LicenseTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "annual"}, Spec: tpl}))
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
	createLicensees(ctx, b, c, ns.Name, n, spec)
	waitAll(ctx, b, c, watcher, ns.Name, n)
	elapsed := time.Since(start)
	secrets := &corev1.SecretList{}
	must(b, c.List(ctx, secrets, client.InNamespace(ns.Name), client.HasLabels{licensingv1alpha1.LabelLicensee}))
	if len(secrets.Items) != n {
		b.Fatalf("%s: %d Secrets for %d Licensees", name, len(secrets.Items), n)
	}
	fmt.Printf("%s (%d workers): %d Licensees Ready with their Secret in %s; API requests: %s, reads (GET and LIST)=%d\n",
		name, workers, n, elapsed.Round(time.Millisecond), requests, requests.Reads())
	return runResult{namespace: ns.Name, n: n, elapsed: elapsed}, stop
}

// createLicensees creates licensee-00000 ... in namespace from creators() clients at once.
func createLicensees(ctx context.Context, b *testing.B, c client.Client, namespace string, n int, spec licenseSpecFunc) {
	createInParallel(ctx, b, c, n, func(i int) client.Object {
		return &licensingv1alpha1.Licensee{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("licensee-%05d", i)},
			Spec: licensingv1alpha1.LicenseeSpec{
				ProductRef: licensingv1alpha1.LocalObjectReference{Name: "acme-db"},
				Licenses:   []licensingv1alpha1.LicenseSpec{spec(i)},
			},
		}
	})
}

// createInParallel creates object(0) ... object(n-1) from creators() clients
// at once, as a platform team's import would; the first error fails b.
func createInParallel(ctx context.Context, b *testing.B, c client.Client, n int, object func(i int) client.Object) {
	var wg sync.WaitGroup
	errs := make(chan error, creators())
	next := make(chan int)
	for range creators() {
		wg.Go(func() {
			for i := range next {
				if err := c.Create(ctx, object(i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// cleanup deletes what a run created in namespace. envtest runs neither the
// garbage collector nor the namespace controller, so nothing goes by itself.
func cleanup(b *testing.B, c client.Client, namespace string) {
	ctx := context.Background()
	in := client.InNamespace(namespace)
	for _, obj := range []client.Object{&licensingv1alpha1.Licensee{}, &corev1.Secret{}, &corev1.ConfigMap{}, &corev1.Event{},
		&licensingv1alpha1.LicenseTemplate{}, &licensingv1alpha1.Product{}} {
		if err := c.DeleteAllOf(ctx, obj, in); err != nil && !apierrors.IsNotFound(err) {
			b.Fatalf("clean up %s: %v", namespace, err)
		}
	}
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

// waitAll reads w until all n Licensees of namespace are issued. A watch the
// API server closes (it drops a watcher that falls behind, as the bench's own
// process can under a 10,000-Licensee import) is replaced: the Licensees are
// listed, and a new watch starts from that list.
func waitAll(ctx context.Context, b *testing.B, c client.WithWatch, w watch.Interface, namespace string, n int) {
	finished := make(map[string]bool, n)
	timeout := time.After(20 * time.Minute)
	for len(finished) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				list := &licensingv1alpha1.LicenseeList{}
				must(b, c.List(ctx, list, client.InNamespace(namespace)))
				for i := range list.Items {
					if isIssued(&list.Items[i]) {
						finished[list.Items[i].Name] = true
					}
				}
				b.Logf("%s: watch closed by the API server with %d of %d Licensees done; watching again", namespace, len(finished), n)
				next, err := c.Watch(ctx, &licensingv1alpha1.LicenseeList{}, client.InNamespace(namespace),
					&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
				must(b, err)
				defer next.Stop()
				w = next
				continue
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
