package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// leaseDuration is the e2e managers' --leader-elect-lease-duration.
const leaseDuration = 4 * time.Second

// replicaProcess is a manager started with its own license API and metrics addresses.
type replicaProcess struct {
	*process
	apiAddr, metricsAddr string
}

func startReplicaProcess(name string) *replicaProcess {
	GinkgoHelper()
	r := &replicaProcess{apiAddr: freeLocalAddr(), metricsAddr: freeLocalAddr()}
	r.process = startProcess(name, []string{"KUBECONFIG=" + managerKubeconfigPath}, managerBin,
		"--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address="+r.metricsAddr, "--metrics-secure=false",
		"--license-api-bind-address="+r.apiAddr, "--license-api-rate-per-address=1000", "--license-api-burst-per-address=2000",
		"--license-api-rate-per-licensee=1000", "--license-api-burst-per-licensee=2000",
		"--leader-elect", "--leader-elect-lease-duration="+leaseDuration.String(), "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s")
	return r
}

// metric sums the samples of the metric name whose labels match labelRE.
func (r *replicaProcess) metric(name, labelRE string) float64 {
	GinkgoHelper()
	resp, err := http.Get("http://" + r.metricsAddr + "/metrics")
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\{([^}]*)\} (\S+)$`)
	labels := regexp.MustCompile(labelRE)
	sum := 0.0
	for _, m := range re.FindAllStringSubmatch(string(data), -1) {
		if labels.MatchString(m[1]) {
			v, err := strconv.ParseFloat(m[2], 64)
			Expect(err).NotTo(HaveOccurred())
			sum += v
		}
	}
	return sum
}

func (r *replicaProcess) leads() bool {
	return strings.Contains(r.log(), "Successfully acquired lease")
}

var _ = Describe("two manager replicas", Ordered, func() {
	const (
		ns   = "ha"
		bulk = 300
	)

	It("fail over during a bulk issuance without a second token, while the survivor's license API keeps answering", func() {
		By("replacing the suite's manager with two replicas")
		manager.stop()
		first := startReplicaProcess("replica-1")
		Eventually(first.leads).Should(BeTrue())
		second := startReplicaProcess("replica-2")
		Eventually(func() error { return probeAPI(second.apiAddr) }).Should(Succeed())

		mustKubectl("create", "namespace", ns)
		mustKubectl("apply", "-n", ns, "-f", writeTemp("ha-objects.yaml", onlineObjects))
		mustKubectl("wait", "-n", ns, "--for=condition=Ready", "licensee/online-corp", "--timeout=60s")
		Expect(second.leads()).To(BeFalse())

		By("the standby reconciles nothing and writes nothing")
		Expect(first.metric("controller_runtime_reconcile_total", `controller="licensee"`)).To(BeNumerically(">", 0))
		Expect(second.metric("controller_runtime_reconcile_total", `.`)).To(BeZero())
		Expect(second.metric("rest_client_requests_total", `method="(POST|PUT|PATCH|DELETE)"`)).To(BeZero())

		By("validating on both replicas throughout, from a client of the license API")
		client := func(addr string) *license.Client {
			token := decodeBase64(mustKubectl("get", "secret", "-n", ns, "online-corp-license", "-o", `jsonpath={.data.license\.jwt}`))
			keys, err := license.ParseJWKS(decodeBase64(mustKubectl("get", "secret", "-n", ns, "online-corp-license", "-o", `jsonpath={.data.jwks\.json}`)))
			Expect(err).NotTo(HaveOccurred())
			ca := mustKubectl("get", "configmap", "-n", "kubelicense-system", "kubelicense-license-api-ca", "-o", `jsonpath={.data.ca\.crt}`)
			c, err := license.NewClient("https://"+addr, string(token), keys, license.WithCACertPEM([]byte(ca)))
			Expect(err).NotTo(HaveOccurred())
			return c
		}
		onFirst, onSecond := client(first.apiAddr), client(second.apiAddr)
		var firstFailed, secondFailed, secondCalls atomic.Int64
		probeCtx, stopProbes := context.WithCancel(context.Background())
		var probes sync.WaitGroup
		// Paced like an application checking often, not flat out: the bulk
		// issuance shares the two cores.
		probe := func(c *license.Client, calls, failed *atomic.Int64) {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-probeCtx.Done():
					return
				case <-tick.C:
				}
				ctx, cancel := context.WithTimeout(probeCtx, 5*time.Second)
				_, err := c.Validate(ctx, license.ValidateRequest{})
				cancel()
				if probeCtx.Err() != nil {
					return
				}
				calls.Add(1)
				if err != nil {
					failed.Add(1)
					if c == onSecond {
						fmt.Fprintf(GinkgoWriter, "validate on the survivor failed: %v\n", err)
					}
				}
			}
		}
		var firstCalls atomic.Int64
		probes.Go(func() { probe(onSecond, &secondCalls, &secondFailed) })
		probes.Go(func() { probe(onFirst, &firstCalls, &firstFailed) })
		DeferCleanup(func() { stopProbes(); probes.Wait() })

		By(fmt.Sprintf("creating %d Licensees and killing the leader while it issues them", bulk))
		var objects strings.Builder
		for n := range bulk {
			fmt.Fprintf(&objects, "---\napiVersion: licensing.kubelicense.io/v1alpha1\nkind: Licensee\nmetadata: {name: bulk-%03d}\nspec:\n  productRef: {name: acme-db}\n  licenses:\n  - {name: main, templateRef: {name: cluster}}\n", n)
		}
		// A watch, not kubectl polling, so the kill lands early in the issuance.
		w, err := clientset.CoreV1().Secrets(ns).Watch(context.Background(), metav1.ListOptions{LabelSelector: "licensing.kubelicense.io/licensee"})
		Expect(err).NotTo(HaveOccurred())
		defer w.Stop()
		bulkFile := writeTemp("ha-bulk.yaml", objects.String())
		applied := make(chan error, 1)
		go func() { _, err := kubectl("", "apply", "-n", ns, "-f", bulkFile); applied <- err }()
		for seen := 0; seen < 10; {
			e, ok := <-w.ResultChan()
			Expect(ok).To(BeTrue(), "the Secret watch ended")
			if e.Type == watch.Added {
				seen++
			}
		}
		first.kill()
		killedAt := time.Now()
		before := issuedSerials(ns)
		Expect(len(before)).To(BeNumerically("<", bulk+1), "the kill came during the issuance")
		fmt.Fprintf(GinkgoWriter, "killed the leader with %d of %d Secrets issued\n", len(before)-1, bulk)

		Eventually(second.leads).WithTimeout(3 * leaseDuration).WithPolling(50 * time.Millisecond).Should(BeTrue())
		tookOver := time.Since(killedAt)
		fmt.Fprintf(GinkgoWriter, "the standby took over %s after the kill (lease duration %s)\n", tookOver, leaseDuration)
		// The lease lapses leaseDuration after the leader's last renewal; the
		// standby takes it at its next try (every retry period of 1s, with
		// client-go's jitter up to 2.2s). The rest is this poll on a busy host.
		Expect(tookOver).To(BeNumerically("<", leaseDuration+3*time.Second), "within the lease duration and a retry")
		Expect(<-applied).To(Succeed())

		By("every Licensee ends Ready with one token; the ones issued before the kill keep theirs")
		mustKubectl("wait", "-n", ns, "--for=condition=Ready", "licensees", "--all", "--timeout=120s")
		after := issuedSerials(ns)
		Expect(after).To(HaveLen(bulk + 1))
		for name, serial := range before {
			Expect(after[name]).To(Equal(serial), "Licensee %s was re-issued after the failover", name)
		}
		for name, serial := range after {
			status := mustKubectl("get", "licensee", "-n", ns, name, "-o", "jsonpath={.status.serial}")
			Expect(status).To(Equal(serial), "Licensee %s: status names the token in its Secret", name)
		}

		stopProbes()
		probes.Wait()
		fmt.Fprintf(GinkgoWriter, "license API: %d calls on the survivor, %d failed; %d failed on the killed replica\n", secondCalls.Load(), secondFailed.Load(), firstFailed.Load())
		Expect(secondCalls.Load()).To(BeNumerically(">", 10))
		Expect(secondFailed.Load()).To(BeZero(), "the survivor answered throughout")
		Expect(firstFailed.Load()).To(BeNumerically(">", 0), "calls to the killed replica failed (the probe did run)")

		// The survivor serves the rest of the suite.
		manager, licenseAPIAddr = second.process, second.apiAddr
	})
})

// issuedSerials maps each Licensee of ns with a token to the serial its Secret carries.
func issuedSerials(ns string) map[string]string {
	GinkgoHelper()
	out := mustKubectl("get", "secrets", "-n", ns, "-l", "licensing.kubelicense.io/licensee", "-o",
		`jsonpath={range .items[*]}{.metadata.annotations.licensing\.kubelicense\.io/licensee}={.metadata.annotations.licensing\.kubelicense\.io/serial}{"\n"}{end}`)
	serials := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if name, serial, ok := strings.Cut(line, "="); ok && serial != "" {
			serials[name] = serial
		}
	}
	return serials
}

// probeAPI succeeds once something listens on addr.
func probeAPI(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

func writeTemp(name, content string) string {
	GinkgoHelper()
	path := filepath.Join(workDir, name)
	Expect(os.WriteFile(path, []byte(content), 0o644)).To(Succeed())
	return path
}
