package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/keys"
	"github.com/kubelicense/kubelicense/internal/testenv"
	"github.com/kubelicense/kubelicense/internal/token"
	"github.com/kubelicense/kubelicense/pkg/license"
)

const (
	namespace     = "licensing"
	product       = "acme-db"
	keysConfigMap = "acme-db-license-keys"
	licensee      = "e2e-corp"
	licenseSecret = "e2e-corp-license" // the default <licensee>-license
	// tokenRefreshTimeout: the operator re-signs at once on a spec change; the
	// slack covers kubelet-style sync (1s), the agent's reload and a busy machine.
	tokenRefreshTimeout = 60 * time.Second
)

// e2eObjects is a Perpetual offer with one-minute tokens (the CRD minimum), so
// that the operator's periodic re-signing is visible within the suite.
const e2eObjects = `apiVersion: licensing.kubelicense.io/v1alpha1
kind: LicenseTemplate
metadata:
  name: e2e-perpetual
spec:
  productRef:
    name: acme-db
  displayName: Perpetual, one-minute tokens (e2e)
  type: Perpetual
  tokenTTL: 1m
  features: [replication]
---
apiVersion: licensing.kubelicense.io/v1alpha1
kind: Licensee
metadata:
  name: e2e-corp
spec:
  productRef:
    name: acme-db
  displayName: E2E Corp.
  externalID: crm-e2e-001
  licenses:
  - name: main
    templateRef:
      name: e2e-perpetual
`

var _ = Describe("kubelicense with kubectl, the manager and the license-agent", Ordered, func() {
	var (
		volumes  *volumeSync
		realJWKS string // the pinned trust anchor: the mirrored ConfigMap's jwks.json
		agent    *agentProcess
		// serialAfterResume is the token serial the agent served once the
		// licensee was unsuspended; the refresh spec waits for a newer one.
		serialAfterResume string
	)

	BeforeAll(func() {
		By("creating the namespace and applying config/samples with kubectl")
		mustKubectl("create", "namespace", namespace)
		mustKubectl("apply", "-n", namespace, "-k", filepath.Join(testenv.RepoRoot(), "config", "samples"))

		By("applying a test licensee with one-minute tokens")
		objects := filepath.Join(workDir, "e2e-objects.yaml")
		Expect(os.WriteFile(objects, []byte(e2eObjects), 0o644)).To(Succeed())
		mustKubectl("apply", "-n", namespace, "-f", objects)

		By("waiting for every object to be Ready")
		for _, kind := range []string{"products", "licensetemplates", "licensees"} {
			mustKubectl("wait", "-n", namespace, "--for=condition=Ready", kind, "--all", "--timeout=90s")
		}

		By("projecting the license Secret and the keys ConfigMap like kubelet volumes")
		licenseVolume, err := newKubeletVolume(filepath.Join(workDir, "volumes", "license"))
		Expect(err).NotTo(HaveOccurred())
		keysVolume, err := newKubeletVolume(filepath.Join(workDir, "volumes", "license-keys"))
		Expect(err).NotTo(HaveOccurred())
		volumes = &volumeSync{
			clientset: clientset, namespace: namespace, secret: licenseSecret, configMap: keysConfigMap,
			license: licenseVolume, keys: keysVolume,
		}
		Expect(volumes.syncOnce(context.Background())).To(Succeed())
		realJWKS = filepath.Join(keysVolume.dir, v1alpha1.JWKSKey)
		Expect(filepath.Join(licenseVolume.dir, v1alpha1.LicenseTokenKey)).To(BeARegularFile())
		Expect(realJWKS).To(BeARegularFile())
		syncCtx, stopSync := context.WithCancel(context.Background())
		syncDone := make(chan struct{})
		go volumes.run(syncCtx, syncDone)
		DeferCleanup(func() { stopSync(); <-syncDone })

		By("starting the license-agent on the projected volumes")
		agent = startAgent("license-agent", "--license-dir="+licenseVolume.dir, "--jwks="+realJWKS)
	})

	It("lays the volumes out like kubelet's atomic writer", func() {
		for _, dir := range []string{volumes.license.dir, volumes.keys.dir} {
			data, err := os.Readlink(filepath.Join(dir, kubeletDataDir))
			Expect(err).NotTo(HaveOccurred(), "%s/..data must be a symlink", dir)
			Expect(data).To(HavePrefix("..20"), "..data points at a timestamped directory")
			Expect(filepath.Join(dir, kubeletDataTmpDir)).NotTo(BeAnExistingFile())
		}
		link, err := os.Readlink(filepath.Join(volumes.license.dir, v1alpha1.LicenseTokenKey))
		Expect(err).NotTo(HaveOccurred())
		Expect(link).To(Equal(filepath.Join(kubeletDataDir, v1alpha1.LicenseTokenKey)))
	})

	It("makes the agent ready and grants exactly the template's features", func() {
		Eventually(func(g Gomega) {
			status, ans := agent.get(g, "/readyz")
			g.Expect(status).To(Equal(http.StatusOK), ans.raw)
		}).Should(Succeed(), volumes.status)

		Eventually(func(g Gomega) {
			expectFeature(g, agent, "replication", http.StatusOK, license.CodeValid)
		}).Should(Succeed())
		// backup is in the Product's catalogue but not in this template;
		// teleportation is in no catalogue at all.
		expectFeature(Default, agent, "backup", http.StatusForbidden, license.CodeFeatureNotEntitled)
		expectFeature(Default, agent, "teleportation", http.StatusForbidden, license.CodeFeatureNotEntitled)
	})

	It("describes the licensee and the current token on /v1/license", func() {
		Eventually(func(g Gomega) {
			status, ans := agent.get(g, "/v1/license")
			g.Expect(status).To(Equal(http.StatusOK), ans.raw)
			g.Expect(ans.Valid).To(BeTrue(), ans.raw)
			g.Expect(ans.Code).To(Equal(license.CodeValid), ans.raw)
			g.Expect(ans.Licensee).To(Equal(&licenseeJSON{Name: licensee, DisplayName: "E2E Corp.", ExternalID: "crm-e2e-001"}), ans.raw)
			g.Expect(ans.Product).NotTo(BeNil(), ans.raw)
			g.Expect(ans.Product.Name).To(Equal(product), ans.raw)
			g.Expect(ans.Features).To(Equal([]string{"replication"}), ans.raw)
			// The agent serves the token the operator last issued.
			g.Expect(ans.Serial).To(Equal(licenseeSerial(g)), ans.raw)
			// tokenTTL: 1m bounds the token's own lifetime.
			g.Expect(ans.IssuedAt).NotTo(BeNil(), ans.raw)
			g.Expect(ans.TokenExpiresAt).NotTo(BeNil(), ans.raw)
			g.Expect(ans.TokenExpiresAt.Sub(*ans.IssuedAt)).To(And(BeNumerically(">", 0), BeNumerically("<=", time.Minute)), ans.raw)
		}).WithTimeout(tokenRefreshTimeout).Should(Succeed(), volumes.status)
	})

	It("refuses features while the licensee is suspended and grants them again after", func() {
		By("suspending the licensee with kubectl patch")
		mustKubectl("patch", "licensee", licensee, "-n", namespace, "--type", "merge", "-p", `{"spec":{"suspended":true}}`)
		Eventually(func(g Gomega) {
			expectFeature(g, agent, "replication", http.StatusForbidden, license.CodeSuspended)
		}).WithTimeout(tokenRefreshTimeout).Should(Succeed(), volumes.status)
		Eventually(func(g Gomega) {
			status, ans := agent.get(g, "/readyz")
			g.Expect(status).To(Equal(http.StatusServiceUnavailable), ans.raw)
			g.Expect(ans.Code).To(Equal(license.CodeSuspended), ans.raw)
		}).Should(Succeed())
		mustKubectl("wait", "-n", namespace, "--for=condition=Licensed=false", "licensee/"+licensee, "--timeout=30s")
		Expect(mustKubectl("get", "licensee", licensee, "-n", namespace,
			"-o", `jsonpath={.status.conditions[?(@.type=="Licensed")].reason}`)).To(Equal("Suspended"))

		By("lifting the suspension")
		mustKubectl("patch", "licensee", licensee, "-n", namespace, "--type", "merge", "-p", `{"spec":{"suspended":false}}`)
		Eventually(func(g Gomega) {
			expectFeature(g, agent, "replication", http.StatusOK, license.CodeValid)
			status, ans := agent.get(g, "/readyz")
			g.Expect(status).To(Equal(http.StatusOK), ans.raw)
		}).WithTimeout(tokenRefreshTimeout).Should(Succeed(), volumes.status)
		mustKubectl("wait", "-n", namespace, "--for=condition=Licensed=true", "licensee/"+licensee, "--timeout=30s")

		_, ans := agent.get(Default, "/v1/license")
		Expect(ans.Serial).NotTo(BeEmpty(), ans.raw)
		serialAfterResume = ans.Serial
	})

	Context("with a forged token", func() {
		var (
			realKid      string
			forged       forgery
			forgedVolume = func(name string, files map[string][]byte) string {
				GinkgoHelper()
				v, err := newKubeletVolume(filepath.Join(workDir, "volumes", name))
				Expect(err).NotTo(HaveOccurred())
				Expect(v.write(files)).To(Succeed())
				return v.dir
			}
		)

		BeforeAll(func() {
			secret, err := clientset.CoreV1().Secrets(namespace).Get(context.Background(), licenseSecret, metav1.GetOptions{})
			Expect(err).NotTo(HaveOccurred())
			var claims license.Claims
			realKid, claims = decodeToken(secret)
			forged = forge(claims, realKid)
		})

		It("refuses a token signed by another key under the real key id", func() {
			dir := forgedVolume("forged-same-kid", map[string][]byte{
				v1alpha1.LicenseTokenKey: []byte(forged.sameKidToken),
			})
			a := startAgent("license-agent-forged-same-kid", "--license-dir="+dir, "--jwks="+realJWKS)
			expectRefused(a, license.CodeSignatureInvalid)
		})

		It("refuses it even when the attacker's keys are shipped beside it", func() {
			dir := forgedVolume("forged-with-keys", map[string][]byte{
				v1alpha1.LicenseTokenKey: []byte(forged.sameKidToken),
				v1alpha1.JWKSKey:         forged.attackerJWKS,
			})
			a := startAgent("license-agent-forged-with-keys", "--license-dir="+dir, "--jwks="+realJWKS)
			expectRefused(a, license.CodeSignatureInvalid)

			// Control: the same forgery passes when the agent trusts the keys
			// beside the token, so the pinned --jwks is what stops it above.
			trusting := startAgent("license-agent-trusting-bundled-keys", "--license-dir="+dir, "--trust-bundled-keys")
			Eventually(func(g Gomega) {
				expectFeature(g, trusting, "backup", http.StatusOK, license.CodeValid)
			}).WithTimeout(10 * time.Second).Should(Succeed())
		})

		It("refuses a token signed by a key the trust anchor does not know", func() {
			dir := forgedVolume("forged-unknown-kid", map[string][]byte{
				v1alpha1.LicenseTokenKey: []byte(forged.ownKidToken),
			})
			a := startAgent("license-agent-forged-unknown-kid", "--license-dir="+dir, "--jwks="+realJWKS)
			expectRefused(a, license.CodeUnknownKey)
		})
	})

	It("follows the operator's re-signing before the one-minute token lapses", func() {
		Expect(serialAfterResume).NotTo(BeEmpty(), "the suspension spec records the serial to start from")
		// Tokens are re-signed at two thirds of tokenTTL, 40s after the resume;
		// the timeout leaves a minute for a busy machine.
		Eventually(func(g Gomega) {
			status, ans := agent.get(g, "/v1/license")
			g.Expect(status).To(Equal(http.StatusOK), ans.raw)
			g.Expect(ans.Code).To(Equal(license.CodeValid), ans.raw)
			g.Expect(ans.Serial).NotTo(Equal(serialAfterResume), "the agent still serves the token issued on resume")
			g.Expect(ans.Serial).To(Equal(licenseeSerial(g)), ans.raw)
		}).WithTimeout(100*time.Second).WithPolling(time.Second).Should(Succeed(), volumes.status)
		expectFeature(Default, agent, "replication", http.StatusOK, license.CodeValid)
	})
})

// licenseeSerial is the serial of the token the operator last issued, from the
// Licensee's status as kubectl shows it.
func licenseeSerial(g Gomega) string {
	out, err := kubectl("", "get", "licensee", licensee, "-n", namespace, "-o", "jsonpath={.status.serial}")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).NotTo(BeEmpty(), "licensee %s has no status.serial", licensee)
	return out
}

// agentProcess is a running license-agent and its HTTP address.
type agentProcess struct {
	*process
	baseURL string
}

// agentHTTP talks only to the agents on 127.0.0.1; the timeout bounds a hung agent.
var agentHTTP = &http.Client{Timeout: 5 * time.Second}

// startAgent starts a license-agent on a free loopback port and waits until it
// serves /healthz. An agent that exits (bad flags, missing files) fails at once
// with its log.
func startAgent(name string, args ...string) *agentProcess {
	GinkgoHelper()
	addr := freeLocalAddr()
	p := startProcess(name, nil, agentBin, append([]string{"--listen=" + addr}, args...)...)
	a := &agentProcess{process: p, baseURL: "http://" + addr}
	Eventually(func(g Gomega) {
		if p.exited() {
			StopTrying(fmt.Sprintf("%s %s:\n%s", name, p.state(), p.log())).Now()
		}
		status, ans := a.get(g, "/healthz")
		g.Expect(status).To(Equal(http.StatusOK), ans.raw)
	}).WithTimeout(20*time.Second).Should(Succeed(), "%s did not come up", name)
	return a
}

// agentAnswer is the union of the agent's JSON answers that the specs read.
type agentAnswer struct {
	Feature        string                 `json:"feature"`
	Entitled       bool                   `json:"entitled"`
	Ready          bool                   `json:"ready"`
	Valid          bool                   `json:"valid"`
	Code           license.Code           `json:"code"`
	Message        string                 `json:"message"`
	Licensee       *licenseeJSON          `json:"licensee"`
	Product        *struct{ Name string } `json:"product"`
	Features       []string               `json:"features"`
	Serial         string                 `json:"serial"`
	IssuedAt       *time.Time             `json:"issuedAt"`
	TokenExpiresAt *time.Time             `json:"tokenExpiresAt"`

	raw string
}

type licenseeJSON struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	ExternalID  string `json:"externalID"`
}

// get asks the agent and decodes its JSON answer; raw keeps the body for messages.
func (a *agentProcess) get(g Gomega, path string) (int, agentAnswer) {
	resp, err := agentHTTP.Get(a.baseURL + path)
	g.Expect(err).NotTo(HaveOccurred(), "GET %s from %s (%s)", path, a.name, a.state())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	ans := agentAnswer{raw: fmt.Sprintf("%s GET %s: %d %s", a.name, path, resp.StatusCode, body)}
	g.Expect(resp.Header.Get("Content-Type")).To(HavePrefix("application/json"), ans.raw)
	g.Expect(json.Unmarshal(body, &ans)).To(Succeed(), ans.raw)
	return resp.StatusCode, ans
}

// expectFeature checks one /v1/features answer: status, code, and entitled
// exactly when the status is 200.
func expectFeature(g Gomega, a *agentProcess, feature string, status int, code license.Code) {
	got, ans := a.get(g, "/v1/features/"+feature)
	g.Expect(got).To(Equal(status), ans.raw)
	g.Expect(ans.Code).To(Equal(code), ans.raw)
	g.Expect(ans.Feature).To(Equal(feature), ans.raw)
	g.Expect(ans.Entitled).To(Equal(status == http.StatusOK), ans.raw)
}

// expectRefused checks that an agent holding a forged token entitles nothing
// and says why with code.
func expectRefused(a *agentProcess, code license.Code) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		status, ans := a.get(g, "/v1/license")
		g.Expect(status).To(Equal(http.StatusOK), ans.raw)
		g.Expect(ans.Code).To(Equal(code), ans.raw)
		g.Expect(ans.Valid).To(BeFalse(), ans.raw)
		g.Expect(ans.Licensee).To(BeNil(), "a refused token must not be described: %s", ans.raw)
		g.Expect(ans.Features).To(BeEmpty(), ans.raw)
	}).WithTimeout(10 * time.Second).Should(Succeed())
	for _, feature := range []string{"replication", "backup"} {
		expectFeature(Default, a, feature, http.StatusForbidden, code)
	}
	status, ans := a.get(Default, "/readyz")
	Expect(status).To(Equal(http.StatusServiceUnavailable), ans.raw)
}

// decodeToken returns the kid and the claims of the token in a license Secret.
// It does not verify: it is the attacker's view of a token they can read.
func decodeToken(secret *corev1.Secret) (string, license.Claims) {
	GinkgoHelper()
	parts := strings.Split(string(secret.Data[v1alpha1.LicenseTokenKey]), ".")
	Expect(parts).To(HaveLen(3), "Secret %s must hold a compact JWS", secret.Name)
	var header struct {
		KeyID string `json:"kid"`
	}
	var claims license.Claims
	for i, into := range []any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(raw, into)).To(Succeed())
	}
	Expect(header.KeyID).NotTo(BeEmpty())
	Expect(claims.Licensee.Name).To(Equal(licensee))
	return header.KeyID, claims
}

// forgery is what an attacker who can write the license Secret (but not the
// Product's signing key) makes: a token granting every feature for an hour.
type forgery struct {
	// sameKidToken is signed by the attacker's key, with the real key's id in the header.
	sameKidToken string
	// ownKidToken is signed by the attacker's key under its own id.
	ownKidToken string
	// attackerJWKS publishes the attacker's public key under the real key's id.
	attackerJWKS []byte
}

func forge(real license.Claims, realKid string) forgery {
	GinkgoHelper()
	attacker, err := keys.Generate(keys.Ed25519, time.Now(), nil)
	Expect(err).NotTo(HaveOccurred())
	serial, err := token.NewSerial(nil)
	Expect(err).NotTo(HaveOccurred())

	everything := []string{"analytics", "backup", "replication"}
	now := time.Now().Unix()
	claims := real
	claims.ID = serial
	claims.IssuedAt, claims.Expiry = now, now+3600
	if claims.NotBefore != 0 {
		claims.NotBefore = now
	}
	claims.Licensee.Suspended = false
	claims.Features = everything
	claims.Licenses = slices.Clone(real.Licenses)
	for i := range claims.Licenses {
		claims.Licenses[i].Features = everything
		claims.Licenses[i].Suspended = false
	}
	Expect(claims.Licenses).NotTo(BeEmpty())

	impostor := *attacker
	impostor.ID = realKid
	var f forgery
	f.sameKidToken, err = token.Sign(&claims, &impostor)
	Expect(err).NotTo(HaveOccurred())
	f.ownKidToken, err = token.Sign(&claims, attacker)
	Expect(err).NotTo(HaveOccurred())
	f.attackerJWKS, err = keys.MarshalJWKS([]keys.PublicKey{{ID: realKid, Algorithm: keys.Ed25519, Key: attacker.Signer.Public()}})
	Expect(err).NotTo(HaveOccurred())
	return f
}
