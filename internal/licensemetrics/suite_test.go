package licensemetrics_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubelicense/kubelicense/controllers"
	"github.com/kubelicense/kubelicense/internal/licensemetrics"
	"github.com/kubelicense/kubelicense/internal/testenv"
)

// The suite runs the real manager (the controllers, and the collector behind
// the metrics server's /metrics, as cmd/manager installs it) against a real
// kube-apiserver and etcd, and scrapes controller-runtime's metrics server
// over HTTP.

var (
	env        *envtest.Environment
	k8sClient  client.Client
	ctx        context.Context
	cancel     context.CancelFunc
	clk        = &testenv.ShiftedClock{}
	metricsURL string
	// cacheReader is the manager's cache, which the collector reads.
	cacheReader client.Reader
	// restConfig and httpClient are the manager's, for a second metrics server.
	restConfig *rest.Config
	httpClient *http.Client
)

func TestLicenseMetrics(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "License metrics suite")
}

var _ = BeforeSuite(func() {
	ctx, cancel = context.WithCancel(context.Background())
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(GinkgoWriter)))

	var err error
	env, err = testenv.New()
	Expect(err).NotTo(HaveOccurred())
	cfg, err := testenv.Start(env)
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme.Scheme})
	Expect(err).NotTo(HaveOccurred())

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"}, // the server below, whose address the test can read
		Cache:   controllers.CacheOptions(),
	})
	Expect(err).NotTo(HaveOccurred())
	// The manager's own metrics server, on a free port, serving metrics.Registry
	// and the license gauges as cmd/manager does.
	cacheReader, restConfig, httpClient = mgr.GetCache(), cfg, mgr.GetHTTPClient()
	collector := licensemetrics.New(cacheReader)
	opts := metricsserver.Options{BindAddress: "127.0.0.1:0"}
	licensemetrics.Install(&opts, func() http.Handler { return collector.Handler(metrics.Registry, ctrl.Log.WithName("metrics")) })
	srv, err := metricsserver.NewServer(opts, cfg, mgr.GetHTTPClient())
	Expect(err).NotTo(HaveOccurred())
	Expect(mgr.Add(srv)).To(Succeed())
	Expect(controllers.SetupAll(ctx, mgr, controllers.Options{Clock: clk})).To(Succeed())
	metrics.Registry.MustRegister(licensemetrics.Counters()...)
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	addr := srv.(interface{ GetBindAddr() string })
	Eventually(addr.GetBindAddr).ShouldNot(BeEmpty())
	metricsURL = "http://" + addr.GetBindAddr() + "/metrics"
})

var _ = AfterSuite(func() {
	cancel()
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// scrape is one scrape of the metrics endpoint, by metric name.
type scrape map[string]*dto.MetricFamily

func scrapeNow() (scrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET %s: %s: %s", metricsURL, resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// series are the values of name whose labels include match, keyed by their
// full label set ("k=v,k=v" in name order).
func (s scrape) series(name string, match map[string]string) map[string]float64 {
	out := map[string]float64{}
	fam := s[name]
	if fam == nil {
		return out
	}
next:
	for _, m := range fam.Metric {
		labels := map[string]string{}
		key := ""
		for _, lp := range m.Label {
			labels[lp.GetName()] = lp.GetValue()
			if key != "" {
				key += ","
			}
			key += lp.GetName() + "=" + lp.GetValue()
		}
		for k, v := range match {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			out[key] = m.Gauge.GetValue()
		case m.Counter != nil:
			out[key] = m.Counter.GetValue()
		case m.Histogram != nil:
			out[key] = float64(m.Histogram.GetSampleCount())
		}
	}
	return out
}

// value polls the one series of name matching match; NaN while there is none
// (or more than one).
func value(name string, match map[string]string) func() (float64, error) {
	return func() (float64, error) {
		s, err := scrapeNow()
		if err != nil {
			return 0, err
		}
		got := s.series(name, match)
		if len(got) != 1 {
			return 0, fmt.Errorf("%s%v: want one series, got %v", name, match, got)
		}
		for _, v := range got {
			return v, nil
		}
		return 0, nil
	}
}

// count polls how many series of name match match.
func count(name string, match map[string]string) func() (int, error) {
	return func() (int, error) {
		s, err := scrapeNow()
		if err != nil {
			return 0, err
		}
		return len(s.series(name, match)), nil
	}
}
