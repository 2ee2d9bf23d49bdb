// Command manager runs the kubelicense controllers.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"hash/fnv"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/controllers"
	"github.com/kubelicense/kubelicense/internal/lazylog"
	"github.com/kubelicense/kubelicense/internal/licenseapi"
	"github.com/kubelicense/kubelicense/internal/licensemetrics"
	"github.com/kubelicense/kubelicense/internal/servingcert"
)

// settings are the manager's command-line settings.
type settings struct {
	metricsAddr, probeAddr string
	pprofAddr              string
	leaderElect, secure    bool
	// Leader election timings and the bound on a graceful shutdown.
	leaseDuration, renewDeadline, retryPeriod, shutdownTimeout time.Duration
	apiQPS, eventQPS                                           float64
	apiBurst, eventBurst                                       int
	licenseeConcurrency                                        int
	watchNamespaces                                            string
	licenseAPI                                                 licenseAPISettings
	// webhookAllowHTTP lets webhooks deliver to http:// URLs (tests).
	webhookAllowHTTP bool
}

// licenseAPISettings configure the license API (see docs/license-api.md).
type licenseAPISettings struct {
	addr, certDir, certHosts         string
	kubeQPS                          float64
	kubeBurst                        int
	perLicensee, perAddress, badAuth licenseapi.Limit
	seatTTL                          time.Duration
	maxInFlight                      int
}

func (l *licenseAPISettings) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&l.addr, "license-api-bind-address", ":9443", "Address of the license API (HTTPS); 0 disables it.")
	fs.StringVar(&l.certDir, "license-api-cert-dir", "", "Directory with tls.crt and tls.key for the license API, reloaded when they change (e.g. a cert-manager Certificate's Secret). Empty: the manager keeps its own CA and certificate in Secret kubelicense-license-api-tls.")
	fs.StringVar(&l.certHosts, "license-api-cert-hosts", "", "Comma-separated extra DNS names and IP addresses for the generated license API certificate.")
	fs.Float64Var(&l.kubeQPS, "license-api-kube-qps", 200, "Requests per second from the license API to the Kubernetes API server (activations, seat leases).")
	fs.IntVar(&l.kubeBurst, "license-api-kube-burst", 400, "Burst of requests from the license API to the Kubernetes API server.")
	fs.Float64Var(&l.perLicensee.Rate, "license-api-rate-per-licensee", licenseapi.DefaultPerLicensee.Rate, "License API requests per second per licensee.")
	fs.IntVar(&l.perLicensee.Burst, "license-api-burst-per-licensee", licenseapi.DefaultPerLicensee.Burst, "Burst of license API requests per licensee.")
	fs.Float64Var(&l.perAddress.Rate, "license-api-rate-per-address", licenseapi.DefaultPerAddress.Rate, "License API requests per second per client address.")
	fs.IntVar(&l.perAddress.Burst, "license-api-burst-per-address", licenseapi.DefaultPerAddress.Burst, "Burst of license API requests per client address.")
	fs.Float64Var(&l.badAuth.Rate, "license-api-rate-failed-auth", licenseapi.DefaultFailedAuth.Rate, "License API requests per second per client address whose token fails verification (brute force).")
	fs.IntVar(&l.badAuth.Burst, "license-api-burst-failed-auth", licenseapi.DefaultFailedAuth.Burst, "Burst of failed authentications per client address.")
	fs.IntVar(&l.maxInFlight, "license-api-max-in-flight", licenseapi.DefaultMaxInFlight, "License API requests served at once; past it the API answers 503 with Retry-After instead of queueing.")
	fs.DurationVar(&l.seatTTL, "license-api-default-seat-ttl", licenseapi.DefaultSeatTTL, "Seat lease TTL when a request names none (heartbeat every third of it).")
}

func (l *licenseAPISettings) check() error {
	for _, lim := range []licenseapi.Limit{l.perLicensee, l.perAddress, l.badAuth} {
		if lim.Rate <= 0 || lim.Burst <= 0 {
			return fmt.Errorf("the --license-api-rate-* and --license-api-burst-* flags must be positive")
		}
	}
	if l.maxInFlight <= 0 {
		return fmt.Errorf("--license-api-max-in-flight must be positive")
	}
	if l.kubeQPS <= 0 || l.kubeBurst <= 0 {
		return fmt.Errorf("--license-api-kube-qps and --license-api-kube-burst must be positive")
	}
	if l.seatTTL < licenseapi.DefaultMinSeatTTL || l.seatTTL > licenseapi.DefaultMaxSeatTTL {
		return fmt.Errorf("--license-api-default-seat-ttl %s is outside [%s, %s]", l.seatTTL, licenseapi.DefaultMinSeatTTL, licenseapi.DefaultMaxSeatTTL)
	}
	return nil
}

func main() {
	var s settings
	flag.StringVar(&s.metricsAddr, "metrics-bind-address", "0", "Address of the metrics endpoint, e.g. :8443 (HTTPS) or :8080 with --metrics-secure=false; 0 disables it.")
	flag.StringVar(&s.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes.")
	flag.StringVar(&s.pprofAddr, "pprof-bind-address", "0", "Address of Go's /debug/pprof endpoints, for profiling (0: off; bind it to 127.0.0.1 only).")
	flag.BoolVar(&s.leaderElect, "leader-elect", false, "Elect a leader, so that only one replica reconciles at a time (every replica serves the license API).")
	flag.DurationVar(&s.leaseDuration, "leader-elect-lease-duration", 15*time.Second, "How long a standby waits after the leader's last renewal before taking over (a leader that shuts down releases at once).")
	flag.DurationVar(&s.renewDeadline, "leader-elect-renew-deadline", 10*time.Second, "How long the leader keeps trying to renew before it gives up leadership.")
	flag.DurationVar(&s.retryPeriod, "leader-elect-retry-period", 2*time.Second, "How often candidates try to acquire or renew leadership.")
	flag.DurationVar(&s.shutdownTimeout, "graceful-shutdown-timeout", 30*time.Second, "On SIGTERM, how long the manager waits for reconciles and license API requests in flight before it exits.")
	flag.BoolVar(&s.secure, "metrics-secure", true, "Serve metrics over HTTPS, with authentication and authorization by the API server.")
	flag.Float64Var(&s.apiQPS, "kube-api-qps", 100, "Requests per second to the API server (issuing, status); 100 imports 1000 Licensees at about 0.9 of the unthrottled rate (docs/performance.md).")
	flag.IntVar(&s.apiBurst, "kube-api-burst", 200, "Burst of requests to the API server.")
	flag.Float64Var(&s.eventQPS, "event-qps", 10, "Events per second; Events have their own client and a queue of at most 1000 (then dropped, counted in kubelicense_events_dropped_total), so they trail a burst of issuances instead of slowing it.")
	flag.IntVar(&s.eventBurst, "event-burst", 25, "Burst of Events.")
	flag.BoolVar(&s.webhookAllowHTTP, "webhook-allow-http", false, "Let LicenseWebhooks deliver to plain http:// URLs (tests only: events and their signatures travel in clear).")
	flag.StringVar(&s.watchNamespaces, "watch-namespaces", "", "Comma-separated namespaces this manager reconciles and caches; empty: all. One shard per manager, each with its own leader election (see docs/performance.md).")
	flag.IntVar(&s.licenseeConcurrency, "licensee-concurrency", controllers.DefaultLicenseeConcurrency, "Licensees reconciled at once (one Licensee is never reconciled by two workers at a time).")
	s.licenseAPI.bindFlags(flag.CommandLine)
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	// Values are encoded when a line is written: a reconcile that logs
	// nothing no longer pays for its logger (internal/lazylog).
	ctrl.SetLogger(lazylog.New(zap.New(zap.UseFlagOptions(&opts))))

	if err := run(s); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

func run(s settings) error {
	if s.apiQPS <= 0 || s.apiBurst <= 0 || s.eventQPS <= 0 || s.eventBurst <= 0 {
		return fmt.Errorf("--kube-api-qps, --kube-api-burst, --event-qps and --event-burst must be positive")
	}
	if s.licenseeConcurrency <= 0 {
		return fmt.Errorf("--licensee-concurrency must be positive")
	}
	namespaces, err := parseNamespaces(s.watchNamespaces)
	if err != nil {
		return err
	}
	if err := s.licenseAPI.check(); err != nil {
		return err
	}
	if s.retryPeriod <= 0 || s.renewDeadline <= s.retryPeriod || s.leaseDuration <= s.renewDeadline {
		return fmt.Errorf("leader election needs 0 < --leader-elect-retry-period < --leader-elect-renew-deadline < --leader-elect-lease-duration (got %s, %s, %s)", s.retryPeriod, s.renewDeadline, s.leaseDuration)
	}
	if s.shutdownTimeout <= 0 {
		return fmt.Errorf("--graceful-shutdown-timeout must be positive")
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
	// /metrics writes the license gauges family by family instead of
	// gathering them all first (internal/licensemetrics, stream.go); the
	// collector reads the manager's cache, set below before the server starts.
	var licenseMetrics *licensemetrics.Collector
	licensemetrics.Install(&metricsOpts, func() http.Handler {
		return licenseMetrics.Handler(metrics.Registry, ctrl.Log.WithName("metrics"))
	})
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("find the cluster: %w (set KUBECONFIG or run in a Pod)", err)
	}
	cfg.QPS, cfg.Burst = float32(s.apiQPS), s.apiBurst
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsOpts,
		HealthProbeBindAddress: s.probeAddr,
		PprofBindAddress:       s.pprofAddr,
		LeaderElection:         s.leaderElect,
		LeaderElectionID:       leaderElectionID(namespaces),
		// The manager's own namespace, in a cluster and out of one.
		LeaderElectionNamespace: servingcert.Namespace(),
		// A leader that stops (SIGTERM, a rollout) hands over at once instead
		// of making the standby wait a whole lease duration.
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &s.leaseDuration,
		RenewDeadline:                 &s.renewDeadline,
		RetryPeriod:                   &s.retryPeriod,
		GracefulShutdownTimeout:       &s.shutdownTimeout,
		Cache:                         controllers.CacheOptions(namespaces...),
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	signingKeys, err := controllers.NewSigningKeys(mgr, nil, namespaces...)
	if err != nil {
		return err
	}
	if err := controllers.SetupAll(ctx, mgr, controllers.Options{
		EventQPS: float32(s.eventQPS), EventBurst: s.eventBurst, SigningKeys: signingKeys, LicenseeConcurrency: s.licenseeConcurrency,
		Webhooks: controllers.WebhookOptions{AllowHTTP: s.webhookAllowHTTP},
	}); err != nil {
		return err
	}
	if s.licenseAPI.addr != "0" {
		// In-flight license API requests get two thirds of the grace period,
		// so the API is done before the manager stops waiting for it.
		if err := setupLicenseAPI(ctx, mgr, s.licenseAPI, signingKeys, s.shutdownTimeout*2/3); err != nil {
			return err
		}
	}
	licenseMetrics = licensemetrics.New(mgr.GetCache())
	metrics.Registry.MustRegister(licensemetrics.Counters()...)
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add ready check: %w", err)
	}
	if limit, err := applyMemoryLimit(); err != nil {
		return err
	} else if limit > 0 {
		ctrl.Log.WithName("setup").Info("soft memory limit from the container's", "bytes", limit)
	}
	if p := applyGCPercent(); p > 0 {
		ctrl.Log.WithName("setup").Info("GC percent (GOGC unset)", "percent", p)
	}
	ctrl.Log.WithName("setup").Info("starting manager", "leaderElectionID", leaderElectionID(namespaces))
	return mgr.Start(ctx)
}

// parseNamespaces reads --watch-namespaces.
func parseNamespaces(flagValue string) ([]string, error) {
	var namespaces []string
	for _, ns := range strings.Split(flagValue, ",") {
		if ns = strings.TrimSpace(ns); ns == "" {
			continue
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("--watch-namespaces: %q is not a namespace name: %s", ns, strings.Join(errs, "; "))
		}
		namespaces = append(namespaces, ns)
	}
	slices.Sort(namespaces)
	return slices.Compact(namespaces), nil
}

// defaultLeaderElectionID is the Lease of an unsharded manager; the
// leader-election Role in config/rbac names it (test/config checks).
const defaultLeaderElectionID = "kubelicense.licensing.kubelicense.io"

// leaderElectionID is the Lease the replicas of one shard elect their leader
// with: shards watching different namespaces each need a leader of their own.
func leaderElectionID(namespaces []string) string {
	if len(namespaces) == 0 {
		return defaultLeaderElectionID
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(strings.Join(namespaces, ",")))
	return fmt.Sprintf("kubelicense-%08x.licensing.kubelicense.io", h.Sum32())
}

// setupLicenseAPI adds the license API and its TLS source to mgr: every replica
// serves it. The certificate is loaded (or created once for all replicas)
// before the manager starts, so a replica never serves without one.
func setupLicenseAPI(ctx context.Context, mgr ctrl.Manager, l licenseAPISettings, keys *controllers.SigningKeys, shutdownTimeout time.Duration) error {
	cfg := rest.CopyConfig(mgr.GetConfig())
	cfg.QPS, cfg.Burst = float32(l.kubeQPS), l.kubeBurst
	direct, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return fmt.Errorf("license API client: %w", err)
	}
	var hosts []string
	for _, h := range strings.Split(l.certHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	namespace := servingcert.Namespace()
	certs, err := servingcert.New(direct, direct, servingcert.Options{CertDir: l.certDir, Namespace: namespace, Hosts: hosts})
	if err != nil {
		return fmt.Errorf("license API TLS: %w", err)
	}
	if err := certs.Ensure(ctx); err != nil {
		return fmt.Errorf("license API TLS (namespace %s; set POD_NAMESPACE, or create it when running outside the cluster): %w", namespace, err)
	}
	if err := mgr.Add(certs); err != nil {
		return fmt.Errorf("add license API TLS: %w", err)
	}
	_, err = licenseapi.Setup(ctx, mgr, licenseapi.Options{
		Addr: l.addr, TLS: certs.TLSConfig(), Live: direct, Writer: direct, Keys: keys,
		PerLicensee: l.perLicensee, PerAddress: l.perAddress, FailedAuth: l.badAuth,
		DefaultSeatTTL: l.seatTTL, ShutdownTimeout: shutdownTimeout, MaxInFlight: l.maxInFlight,
	})
	return err
}
