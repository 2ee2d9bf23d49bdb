package licensemetrics_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/licensemetrics"
)

// The installation serves metrics over HTTPS behind the API server's
// authentication and authorization (cmd/manager --metrics-secure); the scrape
// handler sits inside that filter.
var _ = Describe("the scrape handler behind --metrics-secure", func() {
	It("answers only a caller the API server lets get /metrics", func() {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "secure-"}}
		Expect(k8sClient.Create(ctx, n)).To(Succeed())
		ns := n.Name
		readyProduct(ns, "acme-db")
		readyTemplate(ns, "perpetual")
		l := create(licensee(ns, "globex", licenseFrom("main", "perpetual")))
		Eventually(condition(l, licensingv1alpha1.ConditionReady)).Should(Equal("True/Issued"))

		opts := metricsserver.Options{BindAddress: "127.0.0.1:0", SecureServing: true, CertDir: GinkgoT().TempDir(),
			FilterProvider: filters.WithAuthenticationAndAuthorization}
		collector := licensemetrics.New(cacheReader)
		licensemetrics.Install(&opts, func() http.Handler { return collector.Handler(metrics.Registry, ctrl.Log.WithName("metrics")) })
		srv, err := metricsserver.NewServer(opts, restConfig, httpClient)
		Expect(err).NotTo(HaveOccurred())
		srvCtx, stop := context.WithCancel(ctx)
		DeferCleanup(stop)
		go func() {
			defer GinkgoRecover()
			Expect(srv.Start(srvCtx)).To(Succeed())
		}()
		addr := srv.(interface{ GetBindAddr() string })
		Eventually(addr.GetBindAddr).ShouldNot(BeEmpty())
		url := "https://" + addr.GetBindAddr() + "/metrics"

		By("a ServiceAccount allowed to get /metrics, and its token")
		sa := create(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "prometheus"}})
		role := create(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{GenerateName: "metrics-reader-"},
			Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}})
		create(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{GenerateName: "metrics-reader-"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: sa.Name}}})
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, role) })
		clientset, err := kubernetes.NewForConfig(restConfig)
		Expect(err).NotTo(HaveOccurred())
		tr, err := clientset.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())

		// The server's certificate is self-signed, as controller-runtime makes it.
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		get := func(token string) (int, string, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return 0, "", err
			}
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				return 0, "", err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body), err
		}

		By("no token: 401, nothing of the licenses")
		Eventually(func() (int, error) { code, _, err := get(""); return code, err }).Should(Equal(http.StatusUnauthorized))
		_, body, err := get("")
		Expect(err).NotTo(HaveOccurred())
		Expect(body).NotTo(ContainSubstring("kubelicense_license_state"))

		By("the ServiceAccount's token: the license gauges and the registry's metrics")
		Eventually(func(g Gomega) {
			code, body, err := get(tr.Status.Token)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(code).To(Equal(http.StatusOK), body)
			g.Expect(body).To(ContainSubstring(`kubelicense_license_state{license="main",licensee="globex",namespace="` + ns + `",product="acme-db",state="Valid"} 1`))
			g.Expect(strings.Count(body, "# TYPE kubelicense_license_state gauge")).To(Equal(1))
			g.Expect(body).To(ContainSubstring("# TYPE go_goroutines gauge"))
		}).Should(Succeed())
	})
})
