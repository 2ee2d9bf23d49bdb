package e2e

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

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
})

func decodeBase64(s string) []byte {
	GinkgoHelper()
	b, err := base64.StdEncoding.DecodeString(s)
	Expect(err).NotTo(HaveOccurred())
	return b
}
