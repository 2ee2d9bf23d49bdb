package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// The vendor's licensing namespace distributes a two-seat license to the
// application namespace "shop", which opted in, and not to "elsewhere", which
// did not. Agents in "shop" run on kubelet-style projections of the copies.
const workloadObjects = `apiVersion: licensing.kubelicense.io/v1alpha1
kind: Product
metadata:
  name: acme-db
spec:
  displayName: Acme DB
  features: [{name: replication}]
---
apiVersion: licensing.kubelicense.io/v1alpha1
kind: LicenseTemplate
metadata:
  name: floating
spec:
  productRef: {name: acme-db}
  type: Floating
  seats: 2
  features: [replication]
---
apiVersion: licensing.kubelicense.io/v1alpha1
kind: Licensee
metadata:
  name: shop-corp
spec:
  productRef: {name: acme-db}
  licenses:
  - name: main
    templateRef: {name: floating}
  distribution:
    namespaces: [shop, elsewhere]
`

// seatAnswer is /readyz of an agent holding (or waiting for) a seat.
type seatAnswer struct {
	Ready        bool         `json:"ready"`
	Source       string       `json:"source"`
	OfflineSince *time.Time   `json:"offlineSince"`
	Code         license.Code `json:"code"`
	Seat         *struct {
		Held bool         `json:"held"`
		Code license.Code `json:"code"`
	} `json:"seat"`
}

var _ = Describe("licenses where the workloads run", Ordered, func() {
	const (
		vendor  = "vendor"
		shop    = "shop"
		seatTTL = 10 * time.Second // the license API's minimum: lapses within the spec
	)
	var (
		licenseDir, keysDir, caFile string
		agents                      = map[string]*agentProcess{}
	)

	readyz := func(g Gomega, a *agentProcess) (int, seatAnswer) {
		resp, err := agentHTTP.Get(a.baseURL + "/readyz")
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		var ans seatAnswer
		g.Expect(decodeJSON(resp.Body, &ans)).To(Succeed())
		return resp.StatusCode, ans
	}
	holding := func(a *agentProcess) func(g Gomega) {
		return func(g Gomega) {
			status, ans := readyz(g, a)
			g.Expect(status).To(Equal(http.StatusOK), "%s: %+v", a.name, ans)
			g.Expect(ans.Seat).NotTo(BeNil())
			g.Expect(ans.Seat.Held).To(BeTrue())
		}
	}
	waiting := func(a *agentProcess) func(g Gomega) {
		return func(g Gomega) {
			status, ans := readyz(g, a)
			g.Expect(status).To(Equal(http.StatusServiceUnavailable), "%s: %+v", a.name, ans)
			g.Expect(ans.Seat).NotTo(BeNil())
			g.Expect(ans.Seat.Held).To(BeFalse())
			g.Expect(ans.Seat.Code).To(Equal(license.CodeNoSeatsAvailable))
		}
	}
	startSeatAgent := func(name string, extra ...string) *agentProcess {
		a := startAgent(name, append([]string{
			"--license-dir=" + licenseDir, "--jwks=" + filepath.Join(keysDir, "jwks.json"),
			"--license-api=https://" + licenseAPIAddr, "--license-api-ca=" + caFile,
			"--seat=main", "--holder=" + name, "--seat-ttl=" + seatTTL.String(),
			"--online-interval=200ms",
		}, extra...)...)
		agents[name] = a
		return a
	}

	BeforeAll(func() {
		mustKubectl("create", "namespace", vendor)
		mustKubectl("create", "namespace", shop)
		mustKubectl("label", "namespace", shop, "licensing.kubelicense.io/accept-from="+vendor)
		mustKubectl("create", "namespace", "elsewhere") // did not opt in
		mustKubectl("apply", "-n", vendor, "-f", writeTemp("workload-objects.yaml", workloadObjects))
		mustKubectl("wait", "-n", vendor, "--for=condition=Ready", "licensee/shop-corp", "--timeout=60s")
		DeferCleanup(func() {
			for _, a := range agents {
				a.stop()
			}
		})
	})

	It("copies the license into the namespace that opted in, and not into the one that did not", func() {
		Eventually(func() error {
			_, err := kubectl("", "get", "secret", "-n", shop, "shop-corp-license")
			return err
		}).Should(Succeed())
		mustKubectl("get", "configmap", "-n", shop, "acme-db-license-keys")
		_, err := kubectl("", "get", "secret", "-n", "elsewhere", "shop-corp-license")
		Expect(err).To(HaveOccurred(), "no copy where nobody asked for one")
		Eventually(func() string {
			return mustKubectl("get", "licensee", "-n", vendor, "shop-corp", "-o",
				`jsonpath={range .status.distribution[*]}{.namespace}={.current}/{.reason};{end}`)
		}).Should(And(ContainSubstring("shop=true/"), ContainSubstring("elsewhere=false/NamespaceNotOptedIn")))

		By("projecting the copies in the application namespace like kubelet volumes")
		licenseVolume, err := newKubeletVolume(filepath.Join(workDir, "volumes", "shop-license"))
		Expect(err).NotTo(HaveOccurred())
		keysVolume, err := newKubeletVolume(filepath.Join(workDir, "volumes", "shop-keys"))
		Expect(err).NotTo(HaveOccurred())
		volumes := &volumeSync{clientset: clientset, namespace: shop, secret: "shop-corp-license", configMap: "acme-db-license-keys",
			license: licenseVolume, keys: keysVolume}
		Expect(volumes.syncOnce(context.Background())).To(Succeed())
		syncCtx, stopSync := context.WithCancel(context.Background())
		syncDone := make(chan struct{})
		go volumes.run(syncCtx, syncDone)
		DeferCleanup(func() { stopSync(); <-syncDone })
		licenseDir, keysDir = licenseVolume.dir, keysVolume.dir

		ca := mustKubectl("get", "configmap", "-n", "kubelicense-system", "kubelicense-license-api-ca", "-o", `jsonpath={.data.ca\.crt}`)
		caFile = filepath.Join(workDir, "license-api-ca.crt")
		Expect(os.WriteFile(caFile, []byte(ca), 0o600)).To(Succeed())
	})

	It("caps ready pods at the seats: two agents ready, the third waits with NO_SEATS_AVAILABLE", func() {
		first, second := startSeatAgent("agent-1"), startSeatAgent("agent-2")
		Eventually(holding(first)).Should(Succeed())
		Eventually(holding(second)).Should(Succeed())
		third := startSeatAgent("agent-3")
		Eventually(waiting(third)).Should(Succeed())
		Consistently(waiting(third)).WithTimeout(2 * time.Second).Should(Succeed())
	})

	It("gives a released seat to the waiting agent within one heartbeat interval", func() {
		Expect(agents["agent-1"].cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
		Eventually(agents["agent-1"].done).Should(BeClosed())
		Expect(agents["agent-1"].log()).To(ContainSubstring("seat released"))
		releasedAt := time.Now()
		Eventually(holding(agents["agent-3"])).WithTimeout(seatTTL / 3).WithPolling(100 * time.Millisecond).Should(Succeed())
		fmt.Fprintf(GinkgoWriter, "the waiting agent held the seat %s after the release\n", time.Since(releasedAt))
	})

	It("lets a killed agent's seat lapse after its TTL, and the waiting agent takes it", func() {
		fourth := startSeatAgent("agent-4")
		Eventually(waiting(fourth)).Should(Succeed())
		_ = agents["agent-2"].cmd.Process.Kill()
		<-agents["agent-2"].done
		killedAt := time.Now()
		Consistently(waiting(fourth)).WithTimeout(seatTTL/2).Should(Succeed(), "the seat is not free before its TTL")
		Eventually(holding(fourth)).WithTimeout(seatTTL + seatTTL/3 + 5*time.Second).Should(Succeed())
		fmt.Fprintf(GinkgoWriter, "the waiting agent held the killed agent's seat %s after the kill (TTL %s)\n", time.Since(killedAt), seatTTL)
	})

	It("answers SUSPENDED within a second of the Licensee's suspension", func() {
		mustKubectl("patch", "licensee", "-n", vendor, "shop-corp", "--type=merge", "-p", `{"spec":{"suspended":true}}`)
		patchedAt := time.Now()
		for _, name := range []string{"agent-3", "agent-4"} {
			Eventually(func(g Gomega) {
				expectFeature(g, agents[name], "replication", http.StatusForbidden, license.CodeSuspended)
			}).WithTimeout(time.Second-time.Since(patchedAt)).WithPolling(50*time.Millisecond).Should(Succeed(), name)
		}
		fmt.Fprintf(GinkgoWriter, "both agents answered SUSPENDED %s after the patch\n", time.Since(patchedAt))
		mustKubectl("patch", "licensee", "-n", vendor, "shop-corp", "--type=merge", "-p", `{"spec":{"suspended":false}}`)
		Eventually(func(g Gomega) {
			expectFeature(g, agents["agent-3"], "replication", http.StatusOK, license.CodeValid)
		}).Should(Succeed())
	})

	It("answers from the offline token while the manager is down, says so, and fails closed after the grace", func() {
		const grace = 8 * time.Second
		offline := startAgent("agent-offline", "--license-dir="+licenseDir, "--jwks="+filepath.Join(keysDir, "jwks.json"),
			"--license-api=https://"+licenseAPIAddr, "--license-api-ca="+caFile, "--online-interval=200ms", "--offline-grace="+grace.String())
		agents["agent-offline"] = offline
		Eventually(func(g Gomega) {
			_, ans := readyz(g, offline)
			g.Expect(ans.Source).To(Equal("online"))
		}).Should(Succeed())

		stoppingAt := time.Now()
		manager.stop()
		stoppedAt := time.Now()
		DeferCleanup(func() {
			if manager.exited() {
				manager = startManager("manager-after-offline")
			}
		})
		// The grace runs from the agent's last online verdict, which came
		// before the manager stopped answering: somewhere between one poll
		// before the SIGTERM and the manager's exit.
		var offlineSince time.Time
		Eventually(func(g Gomega) {
			status, ans := readyz(g, offline)
			g.Expect(status).To(Equal(http.StatusOK))
			g.Expect(ans.Source).To(Equal("offline"), "it says it answers from the token")
			g.Expect(ans.OfflineSince).NotTo(BeNil(), "it says since when")
			offlineSince = *ans.OfflineSince
			expectFeature(g, offline, "replication", http.StatusOK, license.CodeValid)
		}).Should(Succeed())
		Expect(time.Since(stoppedAt)).To(BeNumerically("<", grace), "the offline answer came within the grace")
		// One poll (200ms, more on a busy machine) before the SIGTERM at most.
		Expect(offlineSince).To(BeTemporally(">=", stoppingAt.Add(-2*time.Second)), "offline since its last verdict before the stop")
		Expect(offlineSince).To(BeTemporally("<=", stoppedAt.Add(time.Second)))

		Eventually(func(g Gomega) {
			status, ans := readyz(g, offline)
			g.Expect(status).To(Equal(http.StatusServiceUnavailable))
			expectFeature(g, offline, "replication", http.StatusForbidden, license.CodeUnavailable)
			g.Expect(ans.Source).To(Equal("none"))
		}).WithTimeout(grace + 10*time.Second).Should(Succeed())
		Expect(time.Now()).To(BeTemporally(">=", offlineSince.Add(grace)), "not before the grace ran out")
		Expect(offline.log()).To(ContainSubstring("offline grace exceeded"))

		manager = startManager("manager-after-offline")
		Eventually(func(g Gomega) {
			_, ans := readyz(g, offline)
			g.Expect(ans.Source).To(Equal("online"))
		}).WithTimeout(60*time.Second).Should(Succeed(), "back online once the manager is back")
	})
})

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
