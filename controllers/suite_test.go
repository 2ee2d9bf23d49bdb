package controllers_test

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubelicense/kubelicense/controllers"
	"github.com/kubelicense/kubelicense/internal/testenv"
)

// The suite runs the real manager (all three controllers) against a real
// kube-apiserver and etcd. Assertions use a separate, uncached client.

var (
	env       *envtest.Environment
	k8sClient client.Client
	ctx       context.Context
	cancel    context.CancelFunc
	clk       = &testenv.ShiftedClock{}
	requests  = &testenv.RequestCounter{} // the manager's API requests
	forbidden = &forbiddenReads{}         // the manager's live Secret reads that RBAC refuses
	logs      = &syncBuffer{}
	// The manager's caches, for tests of what they hold.
	managerCache, secretMetadataCache cache.Cache
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "Controllers suite")
}

var _ = BeforeSuite(func() {
	ctx, cancel = context.WithCancel(context.Background())
	// V(5) keeps controller-runtime's "Reconcile successful" lines, which tell
	// tests that a reconcile of an object ran (see reconciles).
	logOpts := zap.Options{Development: true, DestWriter: logs}
	logFlags := flag.NewFlagSet("zap", flag.ContinueOnError)
	logOpts.BindFlags(logFlags)
	Expect(logFlags.Parse([]string{"--zap-log-level=5"})).To(Succeed())
	logger := zap.New(zap.UseFlagOptions(&logOpts))
	ctrl.SetLogger(logger)

	var err error
	env, err = testenv.New()
	Expect(err).NotTo(HaveOccurred())
	cfg, err := testenv.Start(env)
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme.Scheme})
	Expect(err).NotTo(HaveOccurred())

	// The manager holds only the permissions the deployed one gets.
	mgrCfg, err := testenv.AsManager(ctx, cfg)
	Expect(err).NotTo(HaveOccurred())
	mgrCfg.Wrap(requests.Wrap)
	mgrCfg.Wrap(forbidden.Wrap)
	startManager = func() (stop func()) {
		mgrCtx, mgrCancel := context.WithCancel(ctx)
		mgr, err := ctrl.NewManager(mgrCfg, ctrl.Options{
			Scheme:  scheme.Scheme,
			Metrics: metricsserver.Options{BindAddress: "0"},
			Cache:   controllers.CacheOptions(),
			Logger:  logger,
			// A restarted manager registers the same controllers again in this process.
			Controller: config.Controller{SkipNameValidation: ptrTo(true)},
		})
		Expect(err).NotTo(HaveOccurred())
		signingKeys, err := controllers.NewSigningKeys(mgr, clk)
		Expect(err).NotTo(HaveOccurred())
		Expect(signingKeys.ReadsManagedKeysFromStore()).To(BeTrue())
		managerCache, secretMetadataCache = mgr.GetCache(), signingKeys.SecretMetadataCache()
		Expect(controllers.SetupAll(mgrCtx, mgr, controllers.Options{Clock: clk, SigningKeys: signingKeys})).To(Succeed())
		done := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			defer close(done)
			Expect(mgr.Start(mgrCtx)).To(Succeed())
		}()
		return func() { mgrCancel(); <-done }
	}
	stopManager = startManager()
})

var (
	// startManager starts a manager with all controllers; stopManager stops the running one.
	startManager func() (stop func())
	stopManager  func()
)

// restartManager replaces the manager by a new one, as a rollout or a crash
// does: only what the API server holds survives.
func restartManager() {
	stopManager()
	stopManager = startManager()
}

var _ = AfterSuite(func() {
	cancel()
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "licensing-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// On failure, show the manager's log lines about the failed spec's namespace.
var _ = JustAfterEach(func() {
	if !CurrentSpecReport().Failed() {
		return
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "ERROR") || strings.Contains(line, "conflict") || strings.Contains(line, "Conflict") {
			GinkgoWriter.Println(line)
		}
	}
})

// forbiddenReads makes the manager's reads of single Secrets in chosen
// namespaces fail as RBAC makes them fail: they are sent impersonating a user
// that holds no permissions, so the real API server answers 403 Forbidden. The
// cache lists and watches cluster-wide and is not affected.
type forbiddenReads struct {
	mu         sync.Mutex
	namespaces map[string]bool
}

func (f *forbiddenReads) set(ns string, forbid bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.namespaces == nil {
		f.namespaces = map[string]bool{}
	}
	f.namespaces[ns] = forbid
}

func (f *forbiddenReads) applies(req *http.Request) bool {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	// api/v1/namespaces/<ns>/secrets/<name>
	if req.Method != http.MethodGet || req.URL.Query().Get("watch") == "true" ||
		len(parts) != 6 || parts[0] != "api" || parts[2] != "namespaces" || parts[4] != "secrets" {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.namespaces[parts[3]]
}

func (f *forbiddenReads) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if f.applies(req) {
			req = req.Clone(req.Context())
			req.Header.Set("Impersonate-User", "kubelicense-test-no-permissions")
		}
		return rt.RoundTrip(req)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// reconciles counts the finished reconciles of obj by controller ("licensee",
// "product"), from controller-runtime's own log lines: a check that a reconcile
// wrote nothing proves something only once that reconcile is known to have run.
func reconciles(controller string, obj client.Object) func() int {
	return func() int {
		n := 0
		for _, line := range strings.Split(logs.String(), "\n") {
			if (strings.Contains(line, "Reconcile successful") || strings.Contains(line, "Reconcile done") || strings.Contains(line, "Reconciler error")) &&
				strings.Contains(line, `"controller": "`+controller+`"`) &&
				strings.Contains(line, `"namespace": "`+obj.GetNamespace()+`"`) &&
				strings.Contains(line, `"name": "`+obj.GetName()+`"`) {
				n++
			}
		}
		return n
	}
}

// settled waits until count stays the same over five polls in a row.
func settled(count func() int) {
	last := -1
	Eventually(func() bool {
		n := count()
		same := n == last
		last = n
		return same
	}).MustPassRepeatedly(5).Should(BeTrue())
}
