package servingcert_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/servingcert"
)

var _ = Describe("A generated certificate", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("is created once, with its CA published, and reused by a restart", func() {
		src := newSource(k8sClient, servingcert.Options{Namespace: ns})
		Expect(src.Ensure(ctx)).To(Succeed())

		secret := getSecret(ns)
		Expect(secret.Type).To(Equal(corev1.SecretTypeTLS))
		Expect(secret.Labels).To(HaveKeyWithValue(licensingv1alpha1.LabelManaged, "true"))
		Expect(secret.Data).To(HaveKey(servingcert.CAKeyKey))
		Expect(src.CAPEM()).To(Equal(secret.Data[servingcert.CACertKey]))
		cm := getConfigMap(ns)
		Expect(cm.Labels).To(HaveKeyWithValue(licensingv1alpha1.LabelManaged, "true"))
		Expect(cm.Data).To(HaveKeyWithValue(servingcert.CACertKey, string(src.CAPEM())))

		ca := parseCert(src.CAPEM())
		Expect(ca.IsCA).To(BeTrue())
		Expect(ca.PublicKeyAlgorithm).To(Equal(x509.ECDSA))
		leaf := servedLeaf(src)
		Expect(leaf.Raw).To(Equal(parseCert(secret.Data[corev1.TLSCertKey]).Raw))
		Expect(leaf.CheckSignatureFrom(ca)).To(Succeed())
		Expect(leaf.DNSNames).To(ConsistOf(servingcert.ServiceName, servingcert.ServiceName+"."+ns,
			servingcert.ServiceName+"."+ns+".svc", servingcert.ServiceName+"."+ns+".svc.cluster.local", "localhost"))
		Expect(ipStrings(leaf)).To(ConsistOf("127.0.0.1", "::1"))

		By("a restart: a new Source with another client")
		again := newSource(newClient(), servingcert.Options{Namespace: ns})
		Expect(again.Ensure(ctx)).To(Succeed())
		Expect(again.CAPEM()).To(Equal(src.CAPEM()))
		Expect(servedLeaf(again).Raw).To(Equal(leaf.Raw))
		Expect(getSecret(ns).ResourceVersion).To(Equal(secret.ResourceVersion), "a restart writes nothing")
		Expect(getConfigMap(ns).ResourceVersion).To(Equal(cm.ResourceVersion))

		By("Ensure again in the same process")
		Expect(src.Ensure(ctx)).To(Succeed())
		Expect(getSecret(ns).ResourceVersion).To(Equal(secret.ResourceVersion))
	})

	It("ends with one CA when replicas start together", func() {
		for round := range 5 {
			ns := newNamespace()
			const replicas = 4
			sources := make([]*servingcert.Source, replicas)
			for i := range sources {
				sources[i] = newSource(newClient(), servingcert.Options{Namespace: ns})
			}
			errs := make([]error, replicas)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, src := range sources {
				wg.Go(func() {
					<-start
					errs[i] = src.Ensure(ctx)
				})
			}
			close(start)
			wg.Wait()

			secret := getSecret(ns)
			for i, src := range sources {
				Expect(errs[i]).NotTo(HaveOccurred(), "round %d, replica %d", round, i)
				Expect(src.CAPEM()).To(Equal(secret.Data[servingcert.CACertKey]), "round %d, replica %d serves another CA", round, i)
				Expect(servedLeaf(src).Raw).To(Equal(parseCert(secret.Data[corev1.TLSCertKey]).Raw))
			}
			Expect(getConfigMap(ns).Data[servingcert.CACertKey]).To(Equal(string(secret.Data[servingcert.CACertKey])))
		}
	})

	It("re-issues the serving certificate from the same CA when a host is added", func() {
		first := newSource(k8sClient, servingcert.Options{Namespace: ns})
		Expect(first.Ensure(ctx)).To(Succeed())
		before := getSecret(ns)
		delete(before.Labels, licensingv1alpha1.LabelManaged)
		Expect(k8sClient.Update(ctx, before)).To(Succeed())

		wider := newSource(newClient(), servingcert.Options{Namespace: ns, Hosts: []string{"license.example.com", "10.1.2.3"}})
		Expect(wider.Ensure(ctx)).To(Succeed())
		after := getSecret(ns)
		Expect(after.ResourceVersion).NotTo(Equal(before.ResourceVersion))
		Expect(after.Data[servingcert.CACertKey]).To(Equal(before.Data[servingcert.CACertKey]), "the CA stays")
		Expect(after.Data[servingcert.CAKeyKey]).To(Equal(before.Data[servingcert.CAKeyKey]))
		Expect(after.Labels).To(HaveKeyWithValue(licensingv1alpha1.LabelManaged, "true"), "a write puts the label back")
		leaf := servedLeaf(wider)
		Expect(leaf.Raw).To(Equal(parseCert(after.Data[corev1.TLSCertKey]).Raw))
		roots := pool(wider.CAPEM())
		for _, name := range []string{"license.example.com", "10.1.2.3", "localhost", "127.0.0.1", servingcert.ServiceName + "." + ns + ".svc"} {
			_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name})
			Expect(err).NotTo(HaveOccurred(), name)
		}

		By("a replica still on the old flags keeps the wider certificate")
		old := newSource(newClient(), servingcert.Options{Namespace: ns})
		Expect(old.Ensure(ctx)).To(Succeed())
		Expect(getSecret(ns).ResourceVersion).To(Equal(after.ResourceVersion))
		Expect(servedLeaf(old).Raw).To(Equal(leaf.Raw))

		By("renewal names exactly the current hosts")
		clk := testingclock.NewFakePassiveClock(servingcert.RenewAtForTest(leaf).Add(time.Second))
		renewed := newSource(newClient(), servingcert.Options{Namespace: ns, Clock: clk})
		Expect(renewed.Ensure(ctx)).To(Succeed())
		Expect(servedLeaf(renewed).DNSNames).NotTo(ContainElement("license.example.com"))
		Expect(ipStrings(servedLeaf(renewed))).To(ConsistOf("127.0.0.1", "::1"))
		Expect(renewed.CAPEM()).To(Equal(before.Data[servingcert.CACertKey]))
	})

	It("settles on one certificate when replicas name different extra hosts", func() {
		a := newSource(k8sClient, servingcert.Options{Namespace: ns, Hosts: []string{"a.example.com"}})
		b := newSource(newClient(), servingcert.Options{Namespace: ns, Hosts: []string{"b.example.com"}})
		Expect(a.Ensure(ctx)).To(Succeed())
		Expect(b.Ensure(ctx)).To(Succeed())
		settled := getSecret(ns)
		Expect(servedLeaf(b).DNSNames).To(ContainElements("a.example.com", "b.example.com"))
		Expect(a.Ensure(ctx)).To(Succeed())
		Expect(b.Ensure(ctx)).To(Succeed())
		Expect(getSecret(ns).ResourceVersion).To(Equal(settled.ResourceVersion), "the replicas take turns re-issuing")
		Expect(servedLeaf(a).Raw).To(Equal(servedLeaf(b).Raw))
	})

	It("renews the serving certificate at two thirds of its life, from the same CA", func() {
		clk := testingclock.NewFakePassiveClock(time.Now())
		src := newSource(k8sClient, servingcert.Options{Namespace: ns, Clock: clk})
		Expect(src.Ensure(ctx)).To(Succeed())
		first := servedLeaf(src)
		caPEM := src.CAPEM()

		clk.SetTime(servingcert.RenewAtForTest(first).Add(-time.Second))
		Expect(src.Ensure(ctx)).To(Succeed())
		Expect(servedLeaf(src).Raw).To(Equal(first.Raw), "not due a second before two thirds")

		clk.SetTime(servingcert.RenewAtForTest(first))
		Expect(src.Ensure(ctx)).To(Succeed())
		renewed := servedLeaf(src)
		Expect(renewed.SerialNumber).NotTo(Equal(first.SerialNumber))
		Expect(renewed.NotAfter).To(BeTemporally(">", first.NotAfter))
		Expect(renewed.CheckSignatureFrom(parseCert(caPEM))).To(Succeed())
		Expect(src.CAPEM()).To(Equal(caPEM))
		Expect(parseCert(getSecret(ns).Data[corev1.TLSCertKey]).Raw).To(Equal(renewed.Raw))
	})

	It("is renewed by Start when due, and Start serves what another replica re-issued", func() {
		clk := testingclock.NewFakePassiveClock(time.Now())
		due := newSource(k8sClient, servingcert.Options{Namespace: ns, Clock: clk})
		Expect(due.Ensure(ctx)).To(Succeed())
		first := servedLeaf(due)
		other := newSource(newClient(), servingcert.Options{Namespace: ns, ResyncInterval: 20 * time.Millisecond})
		Expect(other.Ensure(ctx)).To(Succeed())
		Expect(servedLeaf(other).Raw).To(Equal(first.Raw))
		otherDone := start(other)

		clk.SetTime(servingcert.RenewAtForTest(first).Add(time.Second))
		dueDone := start(due)
		Eventually(func() []byte { return servedLeaf(due).Raw }).ShouldNot(Equal(first.Raw))
		renewed := servedLeaf(due)
		Expect(parseCert(getSecret(ns).Data[corev1.TLSCertKey]).Raw).To(Equal(renewed.Raw))
		Eventually(func() []byte { return servedLeaf(other).Raw }).Should(Equal(renewed.Raw))
		Expect(other.CAPEM()).To(Equal(due.CAPEM()))

		By("Start returns when its context ends")
		otherDone.stop()
		dueDone.stop()
	})

	DescribeTable("a Secret it cannot use is never replaced",
		func(edit func(d map[string][]byte), problem string) {
			src := newSource(k8sClient, servingcert.Options{Namespace: ns})
			Expect(src.Ensure(ctx)).To(Succeed())
			serving := servedLeaf(src)
			secret := getSecret(ns)
			keys := [][]byte{secret.Data[servingcert.CAKeyKey], secret.Data[corev1.TLSPrivateKeyKey]}
			edit(secret.Data)
			Expect(k8sClient.Update(ctx, secret)).To(Succeed())
			broken := getSecret(ns)

			for _, s := range []*servingcert.Source{src, newSource(newClient(), servingcert.Options{Namespace: ns})} {
				err := s.Ensure(ctx)
				Expect(err).To(HaveOccurred())
				var corrupt *servingcert.CorruptSecretError
				Expect(errors.As(err, &corrupt)).To(BeTrue())
				Expect(err.Error()).To(ContainSubstring(problem))
				Expect(err.Error()).To(ContainSubstring("Secret " + ns + "/" + servingcert.SecretName))
				Expect(err.Error()).To(ContainSubstring("delete it to generate a new CA"))
				Expect(leaksKey(err.Error(), keys...)).To(BeFalse(), "the error shows a private key: %v", err)
			}
			Expect(servedLeaf(src).Raw).To(Equal(serving.Raw), "a replica that had loaded keeps serving")
			Expect(start(newSource(newClient(), servingcert.Options{Namespace: ns})).err()).To(MatchError(ContainSubstring(problem)), "Start fails on a first load")

			after := getSecret(ns)
			Expect(after.ResourceVersion).To(Equal(broken.ResourceVersion))
			Expect(after.Data).To(Equal(broken.Data))
		},
		Entry("ca.crt not PEM", func(d map[string][]byte) { d[servingcert.CACertKey] = []byte("restored from a bad backup") }, "ca.crt is not PEM"),
		Entry("no ca.key", func(d map[string][]byte) { delete(d, servingcert.CAKeyKey) }, "ca.key is missing"),
		Entry("ca.crt not a CA", func(d map[string][]byte) {
			d[servingcert.CACertKey], d[servingcert.CAKeyKey] = d[corev1.TLSCertKey], d[corev1.TLSPrivateKeyKey]
		}, "ca.crt is not a CA certificate"),
		Entry("tls.key not the key of tls.crt", func(d map[string][]byte) { d[corev1.TLSPrivateKeyKey] = d[servingcert.CAKeyKey] }, "tls.key is not the private key of tls.crt"),
		Entry("ca.key not the key of ca.crt", func(d map[string][]byte) { d[servingcert.CAKeyKey] = d[corev1.TLSPrivateKeyKey] }, "ca.key is not the private key of ca.crt"),
	)

	It("re-creates and corrects the CA ConfigMap", func() {
		src := newSource(k8sClient, servingcert.Options{Namespace: ns})
		Expect(src.Ensure(ctx)).To(Succeed())
		Expect(k8sClient.Delete(ctx, getConfigMap(ns))).To(Succeed())
		Expect(src.Ensure(ctx)).To(Succeed())
		Expect(getConfigMap(ns).Data).To(HaveKeyWithValue(servingcert.CACertKey, string(src.CAPEM())))

		cm := getConfigMap(ns)
		cm.Data[servingcert.CACertKey] = "edited"
		cm.Data["note"] = "kept"
		delete(cm.Labels, licensingv1alpha1.LabelManaged)
		Expect(k8sClient.Update(ctx, cm)).To(Succeed())
		Expect(src.Ensure(ctx)).To(Succeed())
		cm = getConfigMap(ns)
		Expect(cm.Data).To(Equal(map[string]string{servingcert.CACertKey: string(src.CAPEM()), "note": "kept"}))
		Expect(cm.Labels).To(HaveKeyWithValue(licensingv1alpha1.LabelManaged, "true"))
	})

	It("makes a new CA once the Secret is deleted", func() {
		src := newSource(k8sClient, servingcert.Options{Namespace: ns})
		Expect(src.Ensure(ctx)).To(Succeed())
		old := src.CAPEM()
		Expect(k8sClient.Delete(ctx, getSecret(ns))).To(Succeed())
		Expect(src.Ensure(ctx)).To(Succeed())
		Expect(src.CAPEM()).NotTo(Equal(old))
		Expect(getConfigMap(ns).Data[servingcert.CACertKey]).To(Equal(string(src.CAPEM())))
	})

	It("serves TLS 1.2 or later over HTTP/1.1 to a client that pins the CA", func() {
		src := newSource(k8sClient, servingcert.Options{Namespace: ns})
		Expect(src.Ensure(ctx)).To(Succeed())
		addr := serve(src.TLSConfig())
		roots := pool(src.CAPEM())

		for _, name := range []string{"localhost", "127.0.0.1", "::1", servingcert.ServiceName + "." + ns + ".svc"} {
			state, err := handshake(addr, &tls.Config{RootCAs: roots, ServerName: name, NextProtos: []string{"h2", "http/1.1"}})
			Expect(err).NotTo(HaveOccurred(), name)
			Expect(state.NegotiatedProtocol).To(Equal("http/1.1"))
			Expect(state.Version).To(BeNumerically(">=", tls.VersionTLS12))
		}
		_, err := handshake(addr, &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12})
		Expect(err).NotTo(HaveOccurred(), "TLS 1.2")
		_, err = handshake(addr, &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		Expect(err).To(MatchError(ContainSubstring("protocol version")), "TLS 1.1 is refused")
		_, err = handshake(addr, &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{"h2"}})
		Expect(err).To(MatchError(ContainSubstring("no application protocol")), "HTTP/2 alone is refused")
		_, err = handshake(addr, &tls.Config{ServerName: "localhost"})
		Expect(err).To(MatchError(ContainSubstring("unknown authority")), "the system roots do not know the CA")
		_, err = handshake(addr, &tls.Config{RootCAs: roots, ServerName: "license.example.com"})
		Expect(err).To(MatchError(ContainSubstring("not license.example.com")))

		By("an HTTP client that would use HTTP/2 speaks HTTP/1.1")
		httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
		resp, err := httpClient.Get("https://" + addr + "/")
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.Body.Close()).To(Succeed())
		Expect(resp.StatusCode).To(Equal(http.StatusNoContent))
		Expect(resp.Proto).To(Equal("HTTP/1.1"))
	})

	It("rejects a bad extra host and a missing namespace", func() {
		_, err := servingcert.New(k8sClient, k8sClient, servingcert.Options{Namespace: ns, Hosts: []string{"https://license.example.com"}})
		Expect(err).To(MatchError(ContainSubstring(`"https://license.example.com" is neither an IP address nor a DNS name`)))
		_, err = servingcert.New(k8sClient, k8sClient, servingcert.Options{})
		Expect(err).To(MatchError(ContainSubstring("POD_NAMESPACE")))
	})
})

var _ = Describe("A mounted certificate", func() {
	var dir string
	BeforeEach(func() { dir = GinkgoT().TempDir() })

	It("is served from --license-api-cert-dir and reloaded when it changes", func() {
		ca1, cert1, key1 := issue("localhost")
		writeFiles(dir, map[string][]byte{"ca.crt": ca1, "tls.crt": cert1, "tls.key": key1})
		src, err := servingcert.New(nil, nil, servingcert.Options{CertDir: dir})
		Expect(err).NotTo(HaveOccurred())
		Expect(src.Ensure(ctx)).To(Succeed())
		Expect(src.CAPEM()).To(Equal(ca1))
		addr := serve(src.TLSConfig())
		state, err := handshake(addr, &tls.Config{RootCAs: pool(ca1), ServerName: "localhost"})
		Expect(err).NotTo(HaveOccurred())
		Expect(state.PeerCertificates[0].Raw).To(Equal(parseCert(cert1).Raw))

		running := start(src)
		ca2, cert2, key2 := issue("localhost")
		writeFiles(dir, map[string][]byte{"ca.crt": ca2, "tls.key": key2, "tls.crt": cert2})
		Eventually(func() ([]byte, error) {
			state, err := handshake(addr, &tls.Config{RootCAs: pool(ca2), ServerName: "localhost"})
			if err != nil {
				return nil, err
			}
			return state.PeerCertificates[0].Raw, nil
		}).Should(Equal(parseCert(cert2).Raw))
		Eventually(src.CAPEM).Should(Equal(ca2))
		running.stop()
	})

	It("has no CA to publish without a ca.crt", func() {
		_, cert, key := issue("localhost")
		writeFiles(dir, map[string][]byte{"tls.crt": cert, "tls.key": key})
		src, err := servingcert.New(nil, nil, servingcert.Options{CertDir: dir})
		Expect(err).NotTo(HaveOccurred())
		Expect(src.Ensure(ctx)).To(Succeed())
		Expect(src.CAPEM()).To(BeNil())
	})

	It("says what to mount when tls.crt or tls.key is missing", func() {
		src, err := servingcert.New(nil, nil, servingcert.Options{CertDir: dir})
		Expect(err).NotTo(HaveOccurred())
		Expect(src.Ensure(ctx)).To(MatchError(And(ContainSubstring("tls.crt"), ContainSubstring("mount a kubernetes.io/tls Secret"))))
		Expect(start(src).err()).To(MatchError(ContainSubstring("tls.crt")), "Start fails too")

		_, cert, _ := issue("localhost")
		writeFiles(dir, map[string][]byte{"tls.crt": cert})
		Expect(src.Ensure(ctx)).To(MatchError(And(ContainSubstring("tls.key"), ContainSubstring("--license-api-cert-dir"))))
	})

	It("refuses a key that is not the certificate's, a bad ca.crt, and extra hosts", func() {
		_, cert, _ := issue("localhost")
		_, _, otherKey := issue("localhost")
		writeFiles(dir, map[string][]byte{"tls.crt": cert, "tls.key": otherKey})
		src, err := servingcert.New(nil, nil, servingcert.Options{CertDir: dir})
		Expect(err).NotTo(HaveOccurred())
		err = src.Ensure(ctx)
		Expect(err).To(MatchError(ContainSubstring("private key does not match public key")))
		Expect(leaksKey(err.Error(), otherKey)).To(BeFalse())

		ca, cert, key := issue("localhost")
		writeFiles(dir, map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": append(ca, "junk"...)})
		Expect(src.Ensure(ctx)).To(MatchError(ContainSubstring("ca.crt: data that is not PEM")))

		_, err = servingcert.New(nil, nil, servingcert.Options{CertDir: dir, Hosts: []string{"license.example.com"}})
		Expect(err).To(MatchError(ContainSubstring("--license-api-cert-hosts applies only to the generated certificate")))
	})
})

func newSource(c client.Client, opts servingcert.Options) *servingcert.Source {
	src, err := servingcert.New(c, c, opts)
	Expect(err).NotTo(HaveOccurred())
	return src
}

func getSecret(ns string) *corev1.Secret {
	var s corev1.Secret
	Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: servingcert.SecretName}, &s)).To(Succeed())
	return &s
}

func getConfigMap(ns string) *corev1.ConfigMap {
	var cm corev1.ConfigMap
	Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: servingcert.ConfigMapName}, &cm)).To(Succeed())
	return &cm
}

func parseCert(data []byte) *x509.Certificate {
	block, _ := pem.Decode(data)
	Expect(block).NotTo(BeNil())
	c, err := x509.ParseCertificate(block.Bytes)
	Expect(err).NotTo(HaveOccurred())
	return c
}

func pool(caPEM []byte) *x509.CertPool {
	p := x509.NewCertPool()
	Expect(p.AppendCertsFromPEM(caPEM)).To(BeTrue())
	return p
}

func ipStrings(c *x509.Certificate) []string {
	var out []string
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// servedLeaf is the certificate src's TLS config presents now.
func servedLeaf(src *servingcert.Source) *x509.Certificate {
	c, err := src.TLSConfig().GetCertificate(&tls.ClientHelloInfo{})
	Expect(err).NotTo(HaveOccurred())
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	Expect(err).NotTo(HaveOccurred())
	return leaf
}

// serve runs an HTTPS server as the license API does, on 127.0.0.1.
func serve(cfg *tls.Config) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(GinkgoWriter, "", 0), // handshakes the specs expect to fail
	}
	go func() { _ = srv.Serve(tls.NewListener(ln, cfg)) }()
	DeferCleanup(srv.Close)
	return ln.Addr().String()
}

func handshake(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer func() { _ = conn.Close() }()
	return conn.ConnectionState(), nil
}

// running is a Start in a goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(src *servingcert.Source) *running {
	runCtx, cancel := context.WithCancel(ctx)
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Start(runCtx) }()
	DeferCleanup(cancel)
	return r
}

// stop ends Start and expects it to return nil.
func (r *running) stop() {
	r.cancel()
	Eventually(r.done).Should(Receive(BeNil()))
}

// err is what a Start that fails at once returns.
func (r *running) err() error {
	var err error
	Eventually(r.done).Should(Receive(&err))
	return err
}

func issue(hosts ...string) (caPEM, certPEM, keyPEM []byte) {
	caPEM, certPEM, keyPEM, err := servingcert.IssueForTest(time.Now(), hosts...)
	Expect(err).NotTo(HaveOccurred())
	return caPEM, certPEM, keyPEM
}

// writeFiles writes files into dir in a stable order: ca.crt, tls.key, tls.crt
// (the certificate last, as its change triggers the reload).
func writeFiles(dir string, files map[string][]byte) {
	for _, name := range []string{"ca.crt", "tls.key", "tls.crt"} {
		if data, ok := files[name]; ok {
			Expect(os.WriteFile(filepath.Join(dir, name), data, 0o600)).To(Succeed())
		}
	}
}

var leaksKey = servingcert.LeaksKeyForTest
