package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kubelicense/kubelicense/pkg/license"
)

const onlineObjects = `apiVersion: licensing.kubelicense.io/v1alpha1
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
  name: cluster
spec:
  productRef: {name: acme-db}
  type: Subscription
  duration: 8760h
  seats: 2
  maxActivations: 2
  features: [replication]
---
apiVersion: licensing.kubelicense.io/v1alpha1
kind: Licensee
metadata:
  name: online-corp
spec:
  productRef: {name: acme-db}
  licenses:
  - name: main
    templateRef: {name: cluster}
`

// apiCall is one run of the apiclient binary: what it printed and its code.
type apiCall struct {
	out  string
	code license.Code
	ok   bool
}

var _ = Describe("the license API of the manager binary, called from another process", Ordered, func() {
	const ns = "online"
	var files string // the client's token, JWKS and CA

	client := func(args ...string) apiCall {
		GinkgoHelper()
		cmd := exec.Command(apiClientBin, append([]string{
			"-url", "https://" + licenseAPIAddr,
			"-token", filepath.Join(files, "license.jwt"),
			"-jwks", filepath.Join(files, "jwks.json"),
			"-ca", filepath.Join(files, "ca.crt"),
		}, args...)...)
		out, err := cmd.Output()
		call := apiCall{out: string(out), ok: err == nil}
		var answer struct {
			Code license.Code `json:"code"`
		}
		if json.Unmarshal(out, &answer) == nil {
			call.code = answer.Code
		}
		return call
	}
	leaseID := func(c apiCall) string {
		GinkgoHelper()
		var a license.SeatAnswer
		Expect(json.Unmarshal([]byte(c.out), &a)).To(Succeed(), c.out)
		Expect(a.Lease).NotTo(BeNil(), c.out)
		return a.Lease.ID
	}

	BeforeAll(func() {
		mustKubectl("create", "namespace", ns)
		objects := filepath.Join(workDir, "online-objects.yaml")
		Expect(os.WriteFile(objects, []byte(onlineObjects), 0o644)).To(Succeed())
		mustKubectl("apply", "-n", ns, "-f", objects)
		mustKubectl("wait", "-n", ns, "--for=condition=Ready", "licensees", "--all", "--timeout=90s")

		files = filepath.Join(workDir, "online-client")
		Expect(os.MkdirAll(files, 0o755)).To(Succeed())
		for key, file := range map[string]string{`license\.jwt`: "license.jwt", `jwks\.json`: "jwks.json"} {
			b64 := mustKubectl("get", "secret", "-n", ns, "online-corp-license", "-o", "jsonpath={.data."+key+"}")
			Expect(os.WriteFile(filepath.Join(files, file), decodeBase64(b64), 0o600)).To(Succeed())
		}
		ca := mustKubectl("get", "configmap", "-n", "kubelicense-system", "kubelicense-license-api-ca", "-o", `jsonpath={.data.ca\.crt}`)
		Expect(ca).To(ContainSubstring("BEGIN CERTIFICATE"))
		Expect(os.WriteFile(filepath.Join(files, "ca.crt"), []byte(ca), 0o600)).To(Succeed())
	})

	var leases []string

	It("validates, activates to the limit and takes seats to the limit", func() {
		Eventually(func() license.Code { return client("validate").code }).Should(Equal(license.CodeValid))

		Expect(client("activate", "machine-1").ok).To(BeTrue())
		Expect(client("activate", "machine-2").ok).To(BeTrue())
		refused := client("activate", "machine-3")
		Expect(refused.ok).To(BeFalse())
		Expect(refused.code).To(Equal(license.CodeTooManyActivations), refused.out)

		for _, holder := range []string{"pod-1", "pod-2"} {
			c := client("seat", holder)
			Expect(c.ok).To(BeTrue(), c.out)
			leases = append(leases, leaseID(c))
		}
		refused = client("seat", "pod-3")
		Expect(refused.ok).To(BeFalse())
		Expect(refused.code).To(Equal(license.CodeNoSeatsAvailable), refused.out)
	})

	It("keeps every activation and lease when the manager is killed and restarted", func() {
		manager.kill()
		manager = startManager("manager-restarted")

		Eventually(func() license.Code { return client("validate").code }).Should(Equal(license.CodeValid))
		var list license.ActivationList
		c := client("activations")
		Expect(json.Unmarshal([]byte(c.out), &list)).To(Succeed(), c.out)
		Expect(list.Activations).To(HaveLen(2))
		for _, id := range leases {
			hb := client("heartbeat", id)
			Expect(hb.ok).To(BeTrue(), "heartbeat of %s after the restart: %s", id, hb.out)
		}
		Expect(client("seat", "pod-3").code).To(Equal(license.CodeNoSeatsAvailable))
		Expect(client("activate", "machine-1").ok).To(BeTrue(), "an activated fingerprint is still active")

		out := mustKubectl("get", "activations,seatleases", "-n", ns)
		Expect(strings.Count(out, "online-corp.main.")).To(Equal(4), out)
	})

	It("finishes a license API request in flight, releases leadership at once and exits 0", func() {
		// (Another spec may have killed and restarted the manager: wait until
		// this one leads, not its predecessor's lease.)
		Eventually(manager.log).Should(ContainSubstring("Successfully acquired lease"), "the manager is the leader")

		By("a request whose body is not sent yet: the server waits in the handler")
		conn, reader, body := requestInFlight()
		defer conn.Close()

		Expect(manager.cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
		Eventually(func() error { // the listener closes: no new connections
			c, err := net.Dial("tcp", licenseAPIAddr)
			if err == nil {
				c.Close()
				return fmt.Errorf("still accepting connections")
			}
			return nil
		}).Should(Succeed())

		_, err := io.WriteString(conn, body)
		Expect(err).NotTo(HaveOccurred())
		resp, err := http.ReadResponse(reader, nil)
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK), "the request in flight is answered")
		Expect(resp.Header.Get(license.HeaderSignature)).NotTo(BeEmpty())

		Eventually(manager.done).WithTimeout(30 * time.Second).Should(BeClosed())
		Expect(manager.waitErr).NotTo(HaveOccurred(), "exit status 0")
		out := mustKubectl("get", "lease", "-n", "kubelicense-system", "kubelicense.licensing.kubelicense.io", "-o", "jsonpath={.spec.holderIdentity}")
		Expect(out).To(BeEmpty(), "leadership released on the way out")
		Expect(manager.log()).NotTo(ContainSubstring("ERROR"))

		manager = startManager("manager-after-sigterm")
		Eventually(manager.log).WithTimeout(10*time.Second).Should(ContainSubstring("Successfully acquired lease"),
			"released, so the next manager leads without waiting out the lease")
	})

	It("cuts a request that outlasts the shutdown bound, and exits", func() {
		manager.stop()
		// The license API's bound is two thirds of the timeout: 2s, well within
		// the server's 10s read timeout, which would otherwise answer the request.
		manager = startManager("manager-short-shutdown", "--graceful-shutdown-timeout=3s")
		Eventually(manager.log).Should(ContainSubstring("serving the license API"))

		conn, reader, _ := requestInFlight() // its body never comes
		defer conn.Close()
		Expect(manager.cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
		Eventually(manager.done).Should(BeClosed(), "the manager exits with the request still in flight")
		Expect(manager.log()).To(ContainSubstring("license API: shut down: context deadline exceeded"))
		fmt.Fprintf(GinkgoWriter, "the manager %s\n", manager.state())
		_, err := http.ReadResponse(reader, nil)
		Expect(err).To(HaveOccurred(), "the request was cut, not answered")

		manager = startManager("manager-after-bound")
		Eventually(manager.log).Should(ContainSubstring("Successfully acquired lease"))
	})
})

// requestInFlight opens a connection to the license API and sends a validate
// request whose body it withholds: once the server says 100 Continue, the
// handler waits for the body, the request in flight. It returns the
// connection, its reader and the body to send.
func requestInFlight() (*tls.Conn, *bufio.Reader, string) {
	GinkgoHelper()
	files := filepath.Join(workDir, "online-client")
	token, err := os.ReadFile(filepath.Join(files, "license.jwt"))
	Expect(err).NotTo(HaveOccurred())
	ca, err := os.ReadFile(filepath.Join(files, "ca.crt"))
	Expect(err).NotTo(HaveOccurred())
	pool := x509.NewCertPool()
	Expect(pool.AppendCertsFromPEM(ca)).To(BeTrue())
	conn, err := tls.Dial("tcp", licenseAPIAddr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	Expect(err).NotTo(HaveOccurred())
	body := `{"nonce":"in-flight"}`
	_, err = fmt.Fprintf(conn, "POST /v1/validate HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
		licenseAPIAddr, token, len(body))
	Expect(err).NotTo(HaveOccurred())
	reader := bufio.NewReader(conn)
	line, err := reader.ReadString('\n')
	Expect(err).NotTo(HaveOccurred())
	Expect(line).To(HavePrefix("HTTP/1.1 100"))
	_, err = reader.ReadString('\n') // the blank line after it
	Expect(err).NotTo(HaveOccurred())
	return conn, reader, body
}

func decodeBase64(s string) []byte {
	GinkgoHelper()
	b, err := base64.StdEncoding.DecodeString(s)
	Expect(err).NotTo(HaveOccurred())
	return b
}
