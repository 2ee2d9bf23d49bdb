// Command manager runs the kubelicense controllers.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/controllers"
)

// settings are the manager's command-line settings.
type settings struct {
	metricsAddr, probeAddr string
	leaderElect, secure    bool
	apiQPS, eventQPS       float64
	apiBurst, eventBurst   int
}

func main() {
	var s settings
	flag.StringVar(&s.metricsAddr, "metrics-bind-address", "0", "Address of the metrics endpoint, e.g. :8443 (HTTPS) or :8080 with --metrics-secure=false; 0 disables it.")
	flag.StringVar(&s.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes.")
	flag.BoolVar(&s.leaderElect, "leader-elect", false, "Elect a leader, so that only one replica reconciles at a time.")
	flag.BoolVar(&s.secure, "metrics-secure", true, "Serve metrics over HTTPS, with authentication and authorization by the API server.")
	flag.Float64Var(&s.apiQPS, "kube-api-qps", 50, "Requests per second to the API server (issuing, status).")
	flag.IntVar(&s.apiBurst, "kube-api-burst", 100, "Burst of requests to the API server.")
	flag.Float64Var(&s.eventQPS, "event-qps", 10, "Events per second; Events have their own client so they trail a burst of issuances instead of slowing it.")
	flag.IntVar(&s.eventBurst, "event-burst", 25, "Burst of Events.")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))

	if err := run(s); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

func run(s settings) error {
	if s.apiQPS <= 0 || s.apiBurst <= 0 || s.eventQPS <= 0 || s.eventBurst <= 0 {
		return fmt.Errorf("--kube-api-qps, --kube-api-burst, --event-qps and --event-burst must be positive")
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(licensingv1alpha1.AddToScheme(scheme))

	metricsOpts := metricsserver.Options{
		BindAddress:   s.metricsAddr,
		SecureServing: s.secure,
		// HTTP/2 is off: it is exposed to the HTTP/2 Rapid Reset and Stream Cancellation CVEs.
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
	if s.secure {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("find the cluster: %w (set KUBECONFIG or run in a Pod)", err)
	}
	cfg.QPS, cfg.Burst = float32(s.apiQPS), s.apiBurst
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsOpts,
		HealthProbeBindAddress: s.probeAddr,
		LeaderElection:         s.leaderElect,
		LeaderElectionID:       "kubelicense.licensing.kubelicense.io",
		Cache:                  controllers.CacheOptions(),
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	if err := controllers.SetupAll(ctx, mgr, controllers.Options{EventQPS: float32(s.eventQPS), EventBurst: s.eventBurst}); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add ready check: %w", err)
	}
	ctrl.Log.WithName("setup").Info("starting manager")
	return mgr.Start(ctx)
}
