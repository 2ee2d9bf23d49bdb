package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/controllers"
	"github.com/kubelicense/kubelicense/internal/licenseapi"
	"github.com/kubelicense/kubelicense/internal/testenv"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// apiClientQPS is the client-side limit of every Kubernetes client in the
// license API benchmarks, ours and the baselines': high enough never to throttle.
const (
	apiClientQPS   = 5000
	apiClientBurst = 10000
)

// benchLimit replaces the API's rate limits: one licensee calls from one
// address at thousands of requests per second here. The limiters still run,
// so their cost is measured.
var benchLimit = licenseapi.Limit{Rate: 1e6, Burst: 1e6}

// baselineNamespace holds the objects the baselines write.
const baselineNamespace = "bench-baseline"

// apiEnv is a local control plane, a manager running the controllers and the
// license API over TLS on 127.0.0.1, and a client for setting things up.
type apiEnv struct {
	env    *envtest.Environment
	cfg    *rest.Config
	c      client.Client
	tls    *tls.Config
	pool   *x509.CertPool
	server *licenseapi.Server
	// requests counts the manager's and the license API's requests.
	requests *testenv.RequestCounter
	stop     func()
}

func startAPIEnv(b *testing.B) *apiEnv {
	log.SetLogger(logr.Discard()) // logs would disturb the measurement
	env, err := testenv.New()
	must(b, err)
	cfg, err := testenv.Start(env)
	must(b, err)
	cfg.QPS, cfg.Burst = apiClientQPS, apiClientBurst
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	must(b, err)
	e := &apiEnv{env: env, cfg: cfg, c: c}
	controlPlaneProfile = func(ctx context.Context, d time.Duration) ([]byte, error) {
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			return nil, err
		}
		hc.Timeout = d + 30*time.Second
		url := strings.TrimSuffix(cfg.Host, "/") + fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Round(time.Second)/time.Second))
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer func() { _ = resp.Body.Close() }()
		data, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("kube-apiserver profile: %s: %.200s", resp.Status, data)
		}
		return data, err
	}
	e.tls, e.pool = benchTLS(b)

	e.requests = &testenv.RequestCounter{}
	mgrCfg := rest.CopyConfig(cfg)
	mgrCfg.Wrap(e.requests.Wrap)
	// The baselines' objects live in a namespace the manager does not cache:
	// their watch events would otherwise queue in its informer and delay
	// the cache in the next round of ours.
	must(b, c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: baselineNamespace}}))
	cacheOpts := controllers.CacheOptions()
	cacheOpts.ByObject[&licensingv1alpha1.SeatLease{}] = cache.ByObject{Field: fields.OneTermNotEqualSelector("metadata.namespace", baselineNamespace)}
	mgr, err := ctrl.NewManager(mgrCfg, ctrl.Options{
		Scheme: scheme.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, Cache: cacheOpts,
	})
	must(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	// Wired as cmd/manager does: one cache of parsed signing keys for the
	// controllers and the API, and a client of the API's own for its live
	// reads and writes (here with the same high limits as every client).
	signingKeys, err := controllers.NewSigningKeys(mgr, nil)
	must(b, err)
	must(b, controllers.SetupAll(ctx, mgr, controllers.Options{SigningKeys: signingKeys}))
	direct, err := client.New(rest.CopyConfig(mgrCfg), client.Options{Scheme: mgr.GetScheme()})
	must(b, err)
	e.server, err = licenseapi.Setup(ctx, mgr, licenseapi.Options{
		Addr: "127.0.0.1:0", TLS: e.tls, Live: direct, Writer: direct, Keys: signingKeys,
		PerLicensee: benchLimit, PerAddress: benchLimit,
	})
	must(b, err)
	stopped := make(chan struct{})
	go func() { _ = mgr.Start(ctx); close(stopped) }()
	e.stop = func() {
		cancel()
		<-stopped
		_ = env.Stop()
	}
	waitFor(b, time.Minute, func() bool { return e.server.Addr() != "" })
	return e
}

func (e *apiEnv) url() string { return "https://" + e.server.Addr() }

// grant is a Licensee the operator issued a token to.
type grant struct {
	ns, licensee string
	token        string
	jwks         []byte
}

func (g grant) keySet(b *testing.B) *license.KeySet {
	ks, err := license.ParseJWKS(g.jwks)
	must(b, err)
	return ks
}

// issue creates, in a fresh namespace, a Product, a Perpetual template with
// seats (0: none) and Licensee "globex" holding license "main", and waits for
// its token.
func (e *apiEnv) issue(b *testing.B, name string, seats int32) grant {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-" + name + "-"}}
	must(b, e.c.Create(ctx, ns))
	must(b, e.c.Create(ctx, &licensingv1alpha1.Product{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "acme-db"},
		Spec: licensingv1alpha1.ProductSpec{
			DisplayName: "Acme DB",
			Features:    []licensingv1alpha1.FeatureDefinition{{Name: "replication"}, {Name: "backup"}},
			Quotas:      []licensingv1alpha1.QuotaDefinition{{Name: "nodes"}},
		},
	}))
	t := &licensingv1alpha1.LicenseTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "standard"},
		Spec: licensingv1alpha1.LicenseTemplateSpec{
			ProductRef: licensingv1alpha1.LocalObjectReference{Name: "acme-db"},
			Type:       licensingv1alpha1.LicenseTypePerpetual,
			Features:   []licensingv1alpha1.FeatureName{"replication"},
			Quotas:     licensingv1alpha1.QuotaMap{"nodes": 3},
		},
	}
	if seats > 0 {
		t.Spec.Seats = ptr.To(seats)
	}
	must(b, e.c.Create(ctx, t))
	must(b, e.c.Create(ctx, &licensingv1alpha1.Licensee{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "globex"},
		Spec: licensingv1alpha1.LicenseeSpec{
			ProductRef: licensingv1alpha1.LocalObjectReference{Name: "acme-db"},
			Licenses:   []licensingv1alpha1.LicenseSpec{{Name: "main", TemplateRef: licensingv1alpha1.LocalObjectReference{Name: "standard"}}},
		},
	}))
	secret := &corev1.Secret{}
	waitFor(b, time.Minute, func() bool {
		return e.c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "globex-license"}, secret) == nil &&
			len(secret.Data[licensingv1alpha1.LicenseTokenKey]) > 0
	})
	return grant{
		ns: ns.Name, licensee: "globex",
		token: string(secret.Data[licensingv1alpha1.LicenseTokenKey]),
		jwks:  secret.Data[licensingv1alpha1.JWKSKey],
	}
}

// benchTLS is a self-signed ECDSA P-256 serving certificate for 127.0.0.1 and
// the pool trusting it, HTTP/1.1 only (as the license API serves).
func benchTLS(b *testing.B) (*tls.Config, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(b, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "license-api-bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(b, err)
	cert, err := x509.ParseCertificate(der)
	must(b, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
	}, pool
}

// keepAliveClient is the HTTP client every throughput round uses, ours and
// the baseline's: keep-alive TLS connections, one per worker.
func keepAliveClient(pool *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool},
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// newNonce is what a client sends with every request: 16 random bytes.
func newNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// cpuTimes is the CPU time used so far by this process (client, manager,
// license API) and by its children (kube-apiserver, etcd), from /proc; ok is
// false where there is no /proc.
type cpuTimes struct {
	self, controlPlane time.Duration
	ok                 bool
}

func sampleCPU() cpuTimes {
	self, ok := procCPU("self")
	if !ok {
		return cpuTimes{}
	}
	t := cpuTimes{self: self, ok: true}
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range tasks {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, pid := range strings.Fields(string(data)) {
			if d, ok := procCPU(pid); ok {
				t.controlPlane += d
			}
		}
	}
	return t
}

// procCPU is utime+stime of a process, from /proc/<pid>/stat (USER_HZ = 100).
func procCPU(pid string) (time.Duration, bool) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name is in parentheses and may hold spaces: count from after it.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * (time.Second / 100), true
}

func (t cpuTimes) sub(o cpuTimes) cpuTimes {
	return cpuTimes{self: t.self - o.self, controlPlane: t.controlPlane - o.controlPlane, ok: t.ok && o.ok}
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func envString(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInts(name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return def
		}
		out = append(out, n)
	}
	return out
}
