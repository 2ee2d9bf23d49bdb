package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/issuance"
	"github.com/kubelicense/kubelicense/internal/keys"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// fixture is one namespace with the objects the operator would have written.
type fixture struct {
	namespace string
	key       *keys.SigningKey
}

func newFixture() *fixture {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "plugin-"}}
	Expect(k8sClient.Create(suiteCtx, ns)).To(Succeed())
	return &fixture{namespace: ns.Name, key: testKey(1)}
}

// createProduct creates a Product with the status the controller writes and its
// published JWKS ConfigMap.
func (f *fixture) createProduct(name string) *licensingv1alpha1.Product {
	p := &licensingv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Namespace: f.namespace, Name: name}}
	Expect(k8sClient.Create(suiteCtx, p)).To(Succeed())
	p.Status = licensingv1alpha1.ProductStatus{
		Conditions: []metav1.Condition{
			condition(licensingv1alpha1.ConditionReady, metav1.ConditionTrue, "Reconciled", "keys published"),
			condition(licensingv1alpha1.ConditionKeyAvailable, metav1.ConditionTrue, "KeyReady", "signing key "+f.key.ID),
		},
		SigningKeyID: f.key.ID,
		VerificationKeys: []licensingv1alpha1.VerificationKey{
			{KeyID: f.key.ID, Algorithm: licensingv1alpha1.SigningAlgorithmEd25519, CreatedAt: metav1.NewTime(f.key.CreatedAt)},
		},
		PublicKeysConfigMap: name + "-license-keys",
	}
	Expect(k8sClient.Status().Update(suiteCtx, p)).To(Succeed())
	Expect(k8sClient.Create(suiteCtx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.namespace, Name: name + "-license-keys"},
		Data:       map[string]string{licensingv1alpha1.JWKSKey: string(jwksOf(f.key))},
	})).To(Succeed())
	return p
}

// createLicensee creates a Licensee with status and, unless token is empty,
// its license Secret. secretJWKS is the Secret's convenience copy of the keys.
func (f *fixture) createLicensee(name, product string, status licensingv1alpha1.LicenseeStatus, token string, secretJWKS []byte) *licensingv1alpha1.Licensee {
	l := licenseeObject(f.namespace, name, product)
	for _, ls := range status.Licenses {
		l.Spec.Licenses = append(l.Spec.Licenses, licensingv1alpha1.LicenseSpec{
			Name: ls.Name, TemplateRef: licensingv1alpha1.LocalObjectReference{Name: "enterprise-annual"},
		})
	}
	Expect(k8sClient.Create(suiteCtx, l)).To(Succeed())
	status.ObservedGeneration = l.Generation
	status.SecretName = name + "-license"
	l.Status = status
	Expect(k8sClient.Status().Update(suiteCtx, l)).To(Succeed())
	if token != "" {
		Expect(k8sClient.Create(suiteCtx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: f.namespace, Name: name + "-license"},
			Type:       licensingv1alpha1.SecretTypeLicense,
			Data: map[string][]byte{
				licensingv1alpha1.LicenseTokenKey: []byte(token),
				licensingv1alpha1.LicenseJSONKey:  []byte(`{"note":"for people only"}`),
				licensingv1alpha1.JWKSKey:         secretJWKS,
			},
		})).To(Succeed())
	}
	return l
}

// issue signs the sample claims for licensee with the fixture's product key.
func (f *fixture) issue(licensee, product string) string {
	return sign(sampleClaims(f.namespace, product, licensee, testNow), f.key)
}

var _ = Describe("kubectl license", func() {
	var f *fixture

	BeforeEach(func() {
		f = newFixture()
		f.createProduct("acme-db")
	})

	Describe("status", func() {
		BeforeEach(func() {
			f.createLicensee("globex", "acme-db", validStatus("0123456789abcdef"), f.issue("globex", "acme-db"), jwksOf(f.key))
			f.createLicensee("initech", "acme-db", expiredStatus(), "", nil)
		})

		It("prints a table of the licensees in the namespace", func() {
			r := kubectlLicense("status", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(Equal(
				"LICENSEE   PRODUCT   LICENSED          LICENSES                    EXPIRES                          SEATS   ACTIVATIONS   READY\n" +
					"globex     acme-db   True (Valid)      main=Valid, trial=Expired   in 364d (2027-11-30T12:00:00Z)   -       -             True\n" +
					"initech    acme-db   False (Expired)   main=Expired                -                                -       -             False (SecretConflict)\n"))
		})

		It("adds the namespace with -A and columns with -o wide", func() {
			r := kubectlLicense("status", "-A", "-o", "wide")
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(HavePrefix("NAMESPACE "))
			Expect(r.stdout).To(MatchRegexp(`(?m)^%s\s+globex\s+acme-db\s+True \(Valid\).*0123456789abcdef\s+k-20261123-5030d178e665\s+60m ago\s+in 364d\s+globex-license\s+-$`, f.namespace))
			Expect(r.stdout).To(ContainSubstring("secret initech-license is owned by another writer"))
		})

		It("prints JSON for scripts", func() {
			r := kubectlLicense("status", "globex", "-n", f.namespace, "-o", "json")
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			var list summaryList
			Expect(json.Unmarshal([]byte(r.stdout), &list)).To(Succeed(), r.stdout)
			Expect(list.Items).To(HaveLen(1))
			Expect(list.Items[0].Name).To(Equal("globex"))
			Expect(list.Items[0].Licensed.Reason).To(Equal("Valid"))
			Expect(list.Items[0].UpToDate).To(BeTrue())
			Expect(list.Items[0].Licenses).To(HaveLen(2))
		})

		It("prints YAML", func() {
			r := kubectlLicense("status", "initech", "-n", f.namespace, "-o", "yaml")
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(ContainSubstring("reason: SecretConflict"))
		})

		It("prints the licensees it finds and fails for the ones it does not", func() {
			r := kubectlLicense("status", "globex", "nobody", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitUsage))
			Expect(r.stdout).To(ContainSubstring("globex"))
			Expect(r.stderr).To(ContainSubstring(`licensee "nobody" not found in namespace "%s"`, f.namespace))
		})

		It("says so when a namespace has no licensees", func() {
			empty := newFixture()
			r := kubectlLicense("status", "-n", empty.namespace)
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(BeEmpty())
			Expect(r.stderr).To(Equal("No licensees found in namespace " + empty.namespace + ".\n"))
		})
	})

	Describe("inspect and verify", func() {
		It("verify the Secret's token against the product's ConfigMap", func() {
			f.createLicensee("globex", "acme-db", validStatus("0123456789abcdef0123456789abcdef"), f.issue("globex", "acme-db"), jwksOf(f.key))

			r := kubectlLicense("verify", "globex", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(Equal("VALID: licensee globex, product acme-db: valid until 2027-11-30T12:00:00Z (in 364d), then in the grace period until 2027-12-07T12:00:00Z (in 371d)\n"))

			r = kubectlLicense("verify", "globex", "-n", f.namespace, "--feature", "replication")
			Expect(r.code).To(Equal(ExitOK), r.stdout)
			r = kubectlLicense("verify", "globex", "-n", f.namespace, "--feature", "analytics")
			Expect(r.code).To(Equal(ExitNotEntitled), r.stdout)
			Expect(r.stdout).To(HavePrefix("FEATURE_NOT_ENTITLED: "))

			r = kubectlLicense("inspect", "globex", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(ContainSubstring("Token:        secret %s/globex-license, key license.jwt\n", f.namespace))
			Expect(r.stdout).To(ContainSubstring("Trust anchor: configmap %s/acme-db-license-keys, key jwks.json (keys %s)\n", f.namespace, f.key.ID))
			Expect(r.stdout).To(ContainSubstring("Result:       VALID (valid: true)\n"))
			Expect(r.stdout).To(ContainSubstring("Issuer:       licensing.kubelicense.io/%s/acme-db\n", f.namespace))
			Expect(r.stdout).To(MatchRegexp(`(?m)^  trial\s+EXPIRED\s+Trial`))
			Expect(r.stdout).NotTo(ContainSubstring("Note:"))

			r = kubectlLicense("inspect", "globex", "-n", f.namespace, "-o", "json")
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			var report inspectReport
			Expect(json.Unmarshal([]byte(r.stdout), &report)).To(Succeed(), r.stdout)
			Expect(report.Result.Code).To(Equal(license.CodeValid))
			Expect(report.Claims.Subject).To(Equal("globex"))
		})

		It("refuse a forged token, whatever keys the Secret carries", func() {
			attacker := testKey(2)
			forged := sign(sampleClaims(f.namespace, "acme-db", "globex", testNow), attacker)
			// The Secret's jwks.json is a convenience copy: the forger's key in it must not count.
			f.createLicensee("globex", "acme-db", validStatus("x"), forged, jwksOf(attacker))

			r := kubectlLicense("verify", "globex", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitVerifyFailed))
			Expect(r.stdout).To(HavePrefix(`UNKNOWN_KEY: token signed with key "` + attacker.ID + `"`))

			r = kubectlLicense("inspect", "globex", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitVerifyFailed))
			Expect(r.stdout).To(ContainSubstring("Result:       UNKNOWN_KEY (valid: false)"))
			Expect(r.stdout).To(ContainSubstring("Claims are not shown"))
		})

		It("refuse a token whose claims were altered", func() {
			extended := sampleClaims(f.namespace, "acme-db", "globex", testNow)
			extended.Licenses[0].ValidUntil = testNow.Add(10 * 365 * day).Unix()
			f.createLicensee("globex", "acme-db", validStatus("x"), withPayload(f.issue("globex", "acme-db"), extended), jwksOf(f.key))

			r := kubectlLicense("verify", "globex", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitVerifyFailed))
			Expect(r.stdout).To(HavePrefix("SIGNATURE_INVALID: "))
		})

		It("refuse another product's token in the licensee's Secret", func() {
			other := sign(sampleClaims(f.namespace, "other-db", "globex", testNow), f.key)
			f.createLicensee("globex", "acme-db", validStatus("x"), other, jwksOf(f.key))

			r := kubectlLicense("verify", "globex", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitVerifyFailed))
			Expect(r.stdout).To(HavePrefix("MALFORMED: token issuer is"))
		})

		It("use --jwks instead of the ConfigMap when given", func() {
			f.createLicensee("globex", "acme-db", validStatus("x"), f.issue("globex", "acme-db"), jwksOf(f.key))
			otherAnchor := filepath.Join(GinkgoT().TempDir(), "jwks.json")
			Expect(os.WriteFile(otherAnchor, jwksOf(testKey(3)), 0o600)).To(Succeed())

			r := kubectlLicense("verify", "globex", "-n", f.namespace, "--jwks", otherAnchor)
			Expect(r.code).To(Equal(ExitVerifyFailed))
			Expect(r.stdout).To(HavePrefix("UNKNOWN_KEY: "))
		})

		It("report a revoked license, with the operator's reason, as REVOKED", func() {
			l := f.createLicensee("globex", "acme-db", validStatus(""), "", nil)
			reason := "License main expired on 2026-11-30 and onExpiry is Revoke"
			content := must(issuance.RevokedContent(issuance.Desired{
				Claims: *sampleClaims(f.namespace, "acme-db", "globex", testNow), Revoke: true, RevokeReason: reason, Now: testNow.Add(-time.Hour),
			}, jwksOf(f.key)))
			Expect(k8sClient.Create(suiteCtx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: f.namespace, Name: l.Name + "-license"},
				Type:       licensingv1alpha1.SecretTypeLicense,
				Data:       content.Data,
			})).To(Succeed())
			want := `REVOKED: the license of licensee "globex" for product "acme-db" was revoked at 2026-12-01T11:00:00Z: ` + reason

			r := kubectlLicense("verify", "globex", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitRevoked), r.stderr)
			Expect(r.stdout).To(HavePrefix(want))
			Expect(r.stderr).To(BeEmpty())

			r = kubectlLicense("inspect", "globex", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitRevoked), r.stderr)
			Expect(r.stdout).To(ContainSubstring("Result:       REVOKED (valid: false)\n"))
			Expect(r.stdout).To(ContainSubstring("Revoked at:   2026-12-01T11:00:00Z (60m ago)\n"))
			Expect(r.stdout).To(ContainSubstring("Reason:       " + reason + "\n"))
			Expect(r.stdout).To(ContainSubstring("The Secret holds no token: the operator removed it"))

			r = kubectlLicense("inspect", "globex", "-n", f.namespace, "-o", "json")
			Expect(r.code).To(Equal(ExitRevoked), r.stderr)
			var report inspectReport
			Expect(json.Unmarshal([]byte(r.stdout), &report)).To(Succeed(), r.stdout)
			Expect(report.Result.Code).To(Equal(license.CodeRevoked))
			Expect(report.Revocation).NotTo(BeNil())
			Expect(report.Revocation.Reason).To(Equal(reason))
			Expect(report.Revocation.RevokedAt).To(Equal(testNow.Add(-time.Hour)))

			bundlePath := filepath.Join(GinkgoT().TempDir(), "globex.license.json")
			r = kubectlLicense("export", "globex", "-n", f.namespace, "-o", bundlePath)
			Expect(r.code).To(Equal(ExitRevoked))
			Expect(r.stderr).To(ContainSubstring("no token to export"))
			Expect(bundlePath).NotTo(BeAnExistingFile())
		})

		It("say why a Secret without a token is not a revocation", func() {
			l := f.createLicensee("globex", "acme-db", validStatus(""), "", nil)
			Expect(k8sClient.Create(suiteCtx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: f.namespace, Name: l.Name + "-license"},
				Data:       map[string][]byte{licensingv1alpha1.LicenseJSONKey: []byte(`{"revoked":false}`)},
			})).To(Succeed())
			r := kubectlLicense("verify", "globex", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitUsage))
			Expect(r.stderr).To(ContainSubstring(`has no key "license.jwt" and its license.json is not a revocation notice`))
			Expect(r.stderr).To(ContainSubstring(`"revoked" is not true`))
		})

		It("say what is missing", func() {
			f.createLicensee("pending", "acme-db", licensingv1alpha1.LicenseeStatus{}, "", nil)
			f.createLicensee("orphan", "no-such-product", validStatus("x"), f.issue("orphan", "no-such-product"), nil)
			bare := f.createProduct("bare-db")
			Expect(k8sClient.Delete(suiteCtx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: f.namespace, Name: bare.Status.PublicKeysConfigMap}})).To(Succeed())
			f.createLicensee("unanchored", "bare-db", validStatus("x"), f.issue("unanchored", "bare-db"), nil)

			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"verify", "nobody"}, `licensee "nobody" not found in namespace "` + f.namespace + `"`},
				{[]string{"verify", "pending"}, `secret "pending-license" not found in namespace "` + f.namespace + `"; licensee pending has no license Secret yet`},
				{[]string{"inspect", "orphan"}, `product "no-such-product" not found in namespace "` + f.namespace + `"; licensee orphan references it in spec.productRef`},
				{[]string{"verify", "unanchored"}, `configmap "bare-db-license-keys" not found`},
				{[]string{"export", "pending"}, `secret "pending-license" not found`},
				{[]string{"renew", "nobody"}, `licensee "nobody" not found`},
				{[]string{"rotate-key", "nothing"}, `product "nothing" not found`},
			} {
				r := kubectlLicense(append(tc.args, "-n", f.namespace)...)
				Expect(r.code).To(Equal(ExitUsage), "%v: %s", tc.args, r.stdout)
				Expect(r.stderr).To(HavePrefix("error: "+tc.want), "%v", tc.args)
			}
		})
	})

	Describe("renew", func() {
		It("sets the renew annotation and waits for the controller to handle it", func() {
			l := f.createLicensee("globex", "acme-db", validStatus("old-serial"), f.issue("globex", "acme-db"), jwksOf(f.key))
			want := testNow.Format(time.RFC3339)

			handled := make(chan struct{})
			go func() { // the controller
				defer GinkgoRecover()
				defer close(handled)
				Eventually(func(g Gomega) {
					var cur licensingv1alpha1.Licensee
					g.Expect(k8sClient.Get(suiteCtx, client.ObjectKeyFromObject(l), &cur)).To(Succeed())
					g.Expect(cur.Annotations).To(HaveKeyWithValue(licensingv1alpha1.AnnotationRenew, want))
					cur.Status.LastHandledRenewAt = cur.Annotations[licensingv1alpha1.AnnotationRenew]
					cur.Status.Serial = "new-serial"
					g.Expect(k8sClient.Status().Update(suiteCtx, &cur)).To(Succeed())
				}).WithTimeout(20 * time.Second).WithPolling(20 * time.Millisecond).Should(Succeed())
			}()

			r := kubectlLicense("renew", "globex", "-n", f.namespace, "--timeout", "30s")
			Eventually(handled).Should(BeClosed())
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(Equal(
				"licensee " + f.namespace + "/globex: renewal requested (licensing.kubelicense.io/renew=" + want + ")\n" +
					"licensee " + f.namespace + "/globex: renewed; serial old-serial -> new-serial, licensed True (Valid), expires in 364d (2027-11-30T12:00:00Z)\n"))
		})

		It("only sets the annotation with --wait=false", func() {
			l := f.createLicensee("globex", "acme-db", validStatus("s"), "", nil)
			r := kubectlLicense("renew", "globex", "-n", f.namespace, "--wait=false")
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(ContainSubstring("not waiting"))
			var cur licensingv1alpha1.Licensee
			Expect(k8sClient.Get(suiteCtx, client.ObjectKeyFromObject(l), &cur)).To(Succeed())
			Expect(cur.Annotations).To(HaveKeyWithValue(licensingv1alpha1.AnnotationRenew, testNow.Format(time.RFC3339)))
		})

		It("times out with advice when no controller handles the request", func() {
			f.createLicensee("globex", "acme-db", validStatus("s"), "", nil)
			r := kubectlLicense("renew", "globex", "-n", f.namespace, "--timeout", "300ms")
			Expect(r.code).To(Equal(ExitUsage))
			Expect(r.stderr).To(ContainSubstring("timed out after 300ms waiting for the controller"))
			Expect(r.stderr).To(ContainSubstring(`status.lastHandledRenewAt is ""`))
		})
	})

	Describe("rotate-key", func() {
		It("sets the rotate-key annotation and waits for the new key", func() {
			key := client.ObjectKey{Namespace: f.namespace, Name: "acme-db"}
			want := testNow.Format(time.RFC3339)
			handled := make(chan struct{})
			go func() { // the controller
				defer GinkgoRecover()
				defer close(handled)
				Eventually(func(g Gomega) {
					var cur licensingv1alpha1.Product
					g.Expect(k8sClient.Get(suiteCtx, key, &cur)).To(Succeed())
					g.Expect(cur.Annotations).To(HaveKeyWithValue(licensingv1alpha1.AnnotationRotateKey, want))
					cur.Status.LastHandledRotateKey = want
					cur.Status.SigningKeyID = "k-new"
					g.Expect(k8sClient.Status().Update(suiteCtx, &cur)).To(Succeed())
				}).WithTimeout(20 * time.Second).WithPolling(20 * time.Millisecond).Should(Succeed())
			}()

			r := kubectlLicense("rotate-key", "acme-db", "-n", f.namespace, "--timeout", "30s")
			Eventually(handled).Should(BeClosed())
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(HaveSuffix("product " + f.namespace + "/acme-db: signing key " + f.key.ID + " -> k-new\n"))
			Expect(r.stderr).To(BeEmpty())
		})
	})

	Describe("export", func() {
		It("writes a bundle that pkg/license and verify accept", func() {
			f.createLicensee("globex", "acme-db", validStatus("s"), f.issue("globex", "acme-db"), jwksOf(f.key))
			dir := GinkgoT().TempDir()
			bundlePath := filepath.Join(dir, "globex.license.json")

			r := kubectlLicense("export", "globex", "-n", f.namespace, "-o", bundlePath)
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stderr).To(ContainSubstring("Wrote license bundle for licensee %s/globex", f.namespace))
			info, err := os.Stat(bundlePath)
			Expect(err).NotTo(HaveOccurred())
			Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o600)))

			// The SDK reads it, and the token verifies against the published anchor.
			bundle, err := license.LoadBundleFile(bundlePath)
			Expect(err).NotTo(HaveOccurred())
			var cm corev1.ConfigMap
			Expect(k8sClient.Get(suiteCtx, client.ObjectKey{Namespace: f.namespace, Name: "acme-db-license-keys"}, &cm)).To(Succeed())
			anchor, err := license.ParseJWKS([]byte(cm.Data[licensingv1alpha1.JWKSKey]))
			Expect(err).NotTo(HaveOccurred())
			claims, err := license.Verify(bundle.Token, anchor, testNow, license.WithAudience("acme-db"))
			Expect(err).NotTo(HaveOccurred())
			Expect(claims.Subject).To(Equal("globex"))
			Expect(bundle.BundledKeys()).To(WithTransform((*license.KeySet).KeyIDs, Equal([]string{f.key.ID})))

			// And so does the plugin, offline.
			anchorPath := filepath.Join(dir, "jwks.json")
			Expect(os.WriteFile(anchorPath, []byte(cm.Data[licensingv1alpha1.JWKSKey]), 0o600)).To(Succeed())
			r = kubectlLicense("verify", "-f", bundlePath, "--jwks", anchorPath)
			Expect(r.code).To(Equal(ExitOK), r.stdout)

			// To stdout without -o.
			r = kubectlLicense("export", "globex", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			_, err = license.ParseBundle([]byte(r.stdout))
			Expect(err).NotTo(HaveOccurred())
		})

		It("refuses to export a token that does not verify", func() {
			f.createLicensee("globex", "acme-db", validStatus("s"), sign(sampleClaims(f.namespace, "acme-db", "globex", testNow), testKey(2)), nil)
			bundlePath := filepath.Join(GinkgoT().TempDir(), "globex.license.json")
			r := kubectlLicense("export", "globex", "-n", f.namespace, "-o", bundlePath)
			Expect(r.code).To(Equal(ExitVerifyFailed))
			Expect(r.stderr).To(ContainSubstring("refusing to export"))
			Expect(bundlePath).NotTo(BeAnExistingFile())
		})
	})
})

func TestRequestErrors(t *testing.T) {
	licensees := schema.GroupResource{Group: licensingv1alpha1.GroupVersion.Group, Resource: "licensees"}
	notFound := apierrors.NewNotFound(licensees, "globex")
	noCRDs := &meta.NoKindMatchError{
		GroupKind:        schema.GroupKind{Group: licensingv1alpha1.GroupVersion.Group, Kind: "Licensee"},
		SearchedVersions: []string{"v1alpha1"},
	}
	forbidden := apierrors.NewForbidden(licensees, "globex", errors.New("RBAC: access denied"))
	unreachable := &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/apis", Err: errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")}
	plain := errors.New("boom")
	internal := apierrors.NewInternalError(errors.New("etcdserver: request timed out"))
	// A status error wrapped by a caller still came from the API server.
	conflict := fmt.Errorf("patch: %w", apierrors.NewConflict(licensees, "globex", errors.New("the object has been modified")))

	const (
		object      = "licensee licensing/globex: "
		noCRDsHint  = "the licensing.kubelicense.io CRDs are not installed in this cluster, or are older than this plugin; install or upgrade kubelicense (make install, or kubectl apply -f dist/install.yaml): "
		objectRBAC  = `access denied; ask for RBAC on licensees in namespace "licensing": `
		listRBAC    = "access denied; ask for RBAC to list licensees there, or pick a namespace you can read with -n: "
		unreachHint = "cannot reach the API server; check the cluster in your kubeconfig (--kubeconfig, --context) and your network: "
	)
	apiError := func(err error, hint string) error {
		return (&cluster{}).apiError(err, "licensee", "licensing", "globex", hint)
	}
	tests := []struct {
		name  string
		got   error
		cause error
		want  string
	}{
		{name: "not found, with hint", got: apiError(notFound, "check the name"), cause: notFound,
			want: `licensee "globex" not found in namespace "licensing"; check the name`},
		{name: "not found, no hint", got: apiError(notFound, ""), cause: notFound,
			want: `licensee "globex" not found in namespace "licensing"`},
		{name: "object, no CRDs", got: apiError(noCRDs, "hint"), cause: noCRDs, want: object + noCRDsHint + noCRDs.Error()},
		{name: "object, forbidden", got: apiError(forbidden, "hint"), cause: forbidden, want: object + objectRBAC + forbidden.Error()},
		{name: "object, unreachable", got: apiError(unreachable, "hint"), cause: unreachable, want: object + unreachHint + unreachable.Error()},
		{name: "object, plain error", got: apiError(plain, ""), cause: plain, want: object + unreachHint + "boom"},
		{name: "object, other status", got: apiError(internal, "hint"), cause: internal, want: object + internal.Error()},
		{name: "object, wrapped status", got: apiError(conflict, "hint"), cause: conflict, want: object + conflict.Error()},
		{name: "list all, no CRDs", got: listError(noCRDs, "licensees", ""), cause: noCRDs, want: "list licensees in all namespaces: " + noCRDsHint + noCRDs.Error()},
		{name: "list all, forbidden", got: listError(forbidden, "licensees", ""), cause: forbidden, want: "list licensees in all namespaces: " + listRBAC + forbidden.Error()},
		{name: "list all, unreachable", got: listError(unreachable, "licensees", ""), cause: unreachable, want: "list licensees in all namespaces: " + unreachHint + unreachable.Error()},
		{name: "list activations, forbidden", got: listError(forbidden, "activations", "licensing"), cause: forbidden,
			want: "list activations in namespace licensing: access denied; ask for RBAC to list activations there, or pick a namespace you can read with -n: " + forbidden.Error()},
		{name: "list namespace, other status", got: listError(internal, "licensees", "licensing"), cause: internal, want: "list licensees in namespace licensing: " + internal.Error()},
	}
	for _, tt := range tests {
		if tt.got.Error() != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, tt.got, tt.want)
		}
		// Every explanation keeps the cause for errors.Is/As, also a NotFound
		// whose message apiError replaces.
		if !errors.Is(tt.got, tt.cause) {
			t.Errorf("%s: %v does not wrap %v", tt.name, tt.got, tt.cause)
		}
	}
}
