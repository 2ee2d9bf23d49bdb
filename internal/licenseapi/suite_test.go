package licenseapi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubelicense/kubelicense/controllers"
	"github.com/kubelicense/kubelicense/internal/licenseapi"
	"github.com/kubelicense/kubelicense/internal/testenv"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// The suite runs the real manager (controllers and license API) against a real
// kube-apiserver and etcd, plus a second manager that runs only the license API
// with its own cache and clients: two replicas on one state.

var (
	env        *envtest.Environment
	cfg        *rest.Config
	managerCfg *rest.Config // cfg as the manager's generated role
	k8sClient  client.Client
	ctx        context.Context
	cancel     context.CancelFunc
	clk        = &testenv.ShiftedClock{}
	serverTLS  *tls.Config
	caPool     *x509.CertPool
	apiA       *replica // with the controllers
	apiB       *replica // the license API alone
)

func TestLicenseAPI(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
	RunSpecs(t, "License API suite")
}

var _ = BeforeSuite(func() {
	ctx, cancel = context.WithCancel(context.Background())
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(GinkgoWriter)))

	var err error
	env, err = testenv.New()
	Expect(err).NotTo(HaveOccurred())
	cfg, err = testenv.Start(env)
	Expect(err).NotTo(HaveOccurred())
	cfg.QPS, cfg.Burst = 1000, 2000
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme.Scheme})
	Expect(err).NotTo(HaveOccurred())
	serverTLS, caPool = testTLS()
	// The replicas act with exactly the permissions the markers generate.
	managerCfg, err = testenv.AsManager(ctx, cfg)
	Expect(err).NotTo(HaveOccurred())

	apiA = startReplica(true, licenseapi.Options{})
	apiB = startReplica(false, licenseapi.Options{})
})

var _ = AfterSuite(func() {
	cancel()
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// replica is one manager process's worth of license API.
type replica struct {
	server *licenseapi.Server
	stop   context.CancelFunc
	done   chan struct{}
}

func (r *replica) url() string { return "https://" + r.server.Addr() }

// startReplica starts a manager with its own cache and clients, serving the
// license API on 127.0.0.1 (and the controllers, with controllers).
func startReplica(withControllers bool, o licenseapi.Options) *replica {
	mgr, err := ctrl.NewManager(rest.CopyConfig(managerCfg), ctrl.Options{
		Scheme:  scheme.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   controllers.CacheOptions(),
	})
	Expect(err).NotTo(HaveOccurred())
	mctx, stop := context.WithCancel(ctx)
	keys, err := controllers.NewSigningKeys(mgr, clk)
	Expect(err).NotTo(HaveOccurred())
	if withControllers {
		Expect(controllers.SetupAll(mctx, mgr, controllers.Options{Clock: clk, SigningKeys: keys})).To(Succeed())
	}
	o.Addr, o.TLS, o.Clock, o.Keys = "127.0.0.1:0", serverTLS, clk, keys
	server, err := licenseapi.Setup(mctx, mgr, o)
	Expect(err).NotTo(HaveOccurred())
	r := &replica{server: server, stop: stop, done: make(chan struct{})}
	go func() {
		defer GinkgoRecover()
		defer close(r.done)
		Expect(mgr.Start(mctx)).To(Succeed())
	}()
	Eventually(server.Addr).ShouldNot(BeEmpty())
	return r
}

// shutdown stops the replica's manager and waits for it.
func (r *replica) shutdown() {
	r.stop()
	Eventually(r.done).Should(BeClosed())
}

// testTLS is a self-signed serving certificate for 127.0.0.1 and the pool trusting it.
func testTLS() (*tls.Config, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "license-api-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	Expect(err).NotTo(HaveOccurred())
	cert, err := x509.ParseCertificate(der)
	Expect(err).NotTo(HaveOccurred())
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
	}, pool
}

// answer is what the API said: status, headers and the exact body.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) decode(v any) {
	ExpectWithOffset(1, json.Unmarshal(a.body, v)).To(Succeed(), string(a.body))
}

func (a answer) problem() license.Problem {
	var p license.Problem
	ExpectWithOffset(1, json.Unmarshal(a.body, &p)).To(Succeed(), string(a.body))
	return p
}

// call sends one request to r with the bearer token (none when empty).
func call(r *replica, method, path, token string, body any) answer {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.url()+path, rd)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := trustingClient().Do(req)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return answer{status: resp.StatusCode, header: resp.Header, body: data}
}

// trustingClient is made once, on first use: specs call the API from several
// goroutines at once (go test -race caught a lazy init without a lock).
var trustingClient = sync.OnceValue(func() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: caPool},
		MaxIdleConnsPerHost: 256,
	}}
})

func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "licensing-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}
