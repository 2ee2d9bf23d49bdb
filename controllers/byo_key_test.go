package controllers_test

import (
	"crypto/ed25519"
	"crypto/rand"

	jose "github.com/go-jose/go-jose/v4"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// verifiesWith checks the license token in s against pub itself, not the JWKS:
// it proves which private key signed.
func verifiesWith(s *corev1.Secret, pub ed25519.PublicKey) {
	jws, err := jose.ParseSigned(string(s.Data["license.jwt"]), []jose.SignatureAlgorithm{jose.EdDSA})
	Expect(err).NotTo(HaveOccurred())
	_, err = jws.Verify(pub)
	Expect(err).NotTo(HaveOccurred(), "the token must be signed by the key in spec.signing.secretRef")
}

var _ = Describe("Licensee of a bring-your-own-key Product", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("signs with the key in spec.signing.secretRef, and re-signs with a replacement as soon as it is stored", func() {
		firstPub, firstPriv, err := ed25519.GenerateKey(rand.Reader)
		Expect(err).NotTo(HaveOccurred())
		vault := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vault-key"}, Data: map[string][]byte{"tls.key": pemOf(firstPriv)}}
		Expect(k8sClient.Create(ctx, vault)).To(Succeed())
		p := readyProduct(ns, "byo", func(p *licensingv1alpha1.Product) {
			p.Spec.Signing.SecretRef = &licensingv1alpha1.LocalObjectReference{Name: "vault-key"}
		})
		first := p.Status.SigningKeyID
		Expect(k8sClient.Create(ctx, template(ns, "forever", "byo"))).To(Succeed())
		l := licensee(ns, "globex", "byo", licenseFrom("main", "forever"))
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		Eventually(licenseeCondition(l, "Ready")).Should(Equal("True/Issued"))
		Expect(l.Status.KeyID).To(Equal(first))

		s := get(secret(ns, "globex-license"))
		header, c := verifyWithJOSE(ns, "byo", s)
		Expect(header.KeyID).To(Equal(first))
		Expect(header.Algorithm).To(Equal("EdDSA"))
		Expect(c.ID).To(Equal(l.Status.Serial))
		verifiesWith(s, firstPub)
		Expect(exists(secret(ns, "byo-signing-key"))()).To(BeFalse())

		By("reading the unchanged key Secret from no API server on each reconcile")
		reads := requests.Gets("secrets")
		ran := reconciles("licensee", l)()
		for range 3 {
			poke(l)
		}
		Eventually(reconciles("licensee", l)).Should(BeNumerically(">", ran), "the pokes must reach the controller")
		Consistently(func() int { return requests.Gets("secrets") }, "2s").Should(Equal(reads))

		By("re-signing with the new key as soon as it replaces the old one in the Secret")
		// The Secret metadata cache brings the Product back; nothing touches the Product.
		nextPub, nextPriv, err := ed25519.GenerateKey(rand.Reader)
		Expect(err).NotTo(HaveOccurred())
		vault = get(vault)
		vault.Data = map[string][]byte{"tls.key": pemOf(nextPriv)}
		update(vault)
		Eventually(func() string { return get(p).Status.SigningKeyID }).ShouldNot(Equal(first))
		second := p.Status.SigningKeyID
		Eventually(func() string { return get(l).Status.KeyID }).Should(Equal(second))
		Expect(condition(l.Status.Conditions, "Ready").Reason).To(Equal("Issued"))

		s = get(secret(ns, "globex-license"))
		header, _ = verifyWithJOSE(ns, "byo", s)
		Expect(header.KeyID).To(Equal(second))
		verifiesWith(s, nextPub)
		Expect(keyIDs(jwksOf(ns, "byo"))).To(Equal([]string{second, first}), "the replaced key stays published: a perpetual token it signed never lapses")
	})
})
