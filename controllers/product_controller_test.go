package controllers_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// jwksOf reads the published JWKS of a Product through go-jose.
func jwksOf(ns, productName string) jose.JSONWebKeySet {
	cm := get(configMap(ns, productName+"-license-keys"))
	var set jose.JSONWebKeySet
	Expect(json.Unmarshal([]byte(cm.Data["jwks.json"]), &set)).To(Succeed())
	return set
}

func keyIDs(set jose.JSONWebKeySet) []string {
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.KeyID)
	}
	return ids
}

var _ = Describe("Product controller", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("creates an Ed25519 key once, owned and labelled, and publishes it as a JWKS", func() {
		p := product(ns, "acme-db")
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Eventually(productCondition(p, "Ready")).Should(Equal("True/Reconciled"))
		Expect(condition(p.Status.Conditions, "KeyAvailable").Status).To(Equal(metav1.ConditionTrue))
		Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
		Expect(p.Status.SigningKeyID).To(MatchRegexp(`^k-\d{8}-[0-9a-f]{12}$`))
		Expect(p.Status.PublicKeysConfigMap).To(Equal("acme-db-license-keys"))
		Expect(p.Status.VerificationKeys).To(HaveLen(1))
		Expect(p.Status.VerificationKeys[0].Algorithm).To(Equal(licensingv1alpha1.SigningAlgorithmEd25519))

		s := get(secret(ns, "acme-db-signing-key"))
		Expect(string(s.Type)).To(Equal(licensingv1alpha1.SecretTypeSigningKey))
		Expect(s.Labels).To(HaveKeyWithValue(licensingv1alpha1.LabelManaged, "true"))
		Expect(s.Labels).To(HaveKeyWithValue(licensingv1alpha1.LabelProduct, "acme-db"))
		Expect(s.OwnerReferences).To(HaveLen(1))
		Expect(s.OwnerReferences[0].Name).To(Equal("acme-db"))

		set := jwksOf(ns, "acme-db")
		Expect(set.Keys).To(HaveLen(1))
		Expect(set.Keys[0].KeyID).To(Equal(p.Status.SigningKeyID))
		Expect(set.Keys[0].Algorithm).To(Equal("EdDSA"))
		Expect(set.Keys[0].Use).To(Equal("sig"))
		Expect(set.Keys[0].IsPublic()).To(BeTrue())

		By("not generating again on later reconciles")
		rv := s.ResourceVersion
		ran := reconciles("product", p)()
		poke(p)
		Eventually(reconciles("product", p)).Should(BeNumerically(">", ran), "the poke must reach the controller")
		Consistently(func() string { return get(secret(ns, "acme-db-signing-key")).ResourceVersion }, "2s").Should(Equal(rv))
	})

	It("uses ECDSA P-256 when asked", func() {
		p := product(ns, "ec", func(p *licensingv1alpha1.Product) {
			p.Spec.Signing.Algorithm = licensingv1alpha1.SigningAlgorithmECDSAP256
		})
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Eventually(productCondition(p, "Ready")).Should(Equal("True/Reconciled"))
		set := jwksOf(ns, "ec")
		Expect(set.Keys[0].Algorithm).To(Equal("ES256"))
	})

	It("rotates on request, keeps the retired public key until its tokens lapse, and deletes the retired private key", func() {
		Expect(k8sClient.Create(ctx, template(ns, "monthly", "rot", func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Type, t.Duration, t.GracePeriod = licensingv1alpha1.LicenseTypeSubscription, dur("1h"), dur("30m")
		}))).To(Succeed())
		p := product(ns, "rot")
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Eventually(productCondition(p, "Ready")).Should(Equal("True/Reconciled"))
		first := p.Status.SigningKeyID

		p.Annotations = map[string]string{licensingv1alpha1.AnnotationRotateKey: "2026-11-23"}
		update(p)
		Eventually(func() string { return get(p).Status.SigningKeyID }).ShouldNot(Equal(first))
		second := p.Status.SigningKeyID
		Expect(p.Status.LastHandledRotateKey).To(Equal("2026-11-23"))
		Expect(p.Status.VerificationKeys).To(HaveLen(2))
		Expect(p.Status.VerificationKeys[0].KeyID).To(Equal(second), "newest first")
		retired := p.Status.VerificationKeys[1]
		Expect(retired.KeyID).To(Equal(first))
		Expect(retired.RetiredAt).NotTo(BeNil())
		Expect(retired.RemoveAt).NotTo(BeNil())
		Expect(retired.RemoveAt.Time).To(Equal(retired.RetiredAt.Add(90*time.Minute)), "one period plus grace")
		Eventually(func() []string { return keyIDs(jwksOf(ns, "rot")) }).Should(Equal([]string{second, first}))

		data := get(secret(ns, "rot-signing-key")).Data
		Expect(data).To(HaveKey(second + ".pem"))
		Expect(data).NotTo(HaveKey(first + ".pem"))

		events := &corev1.EventList{}
		Eventually(func() string {
			_ = k8sClient.List(ctx, events, client.InNamespace(ns))
			var reasons []string
			for _, e := range events.Items {
				reasons = append(reasons, e.Reason)
			}
			return strings.Join(reasons, ",")
		}).Should(ContainSubstring("KeyRotated"))

		By("removing the retired key once every token it signed has lapsed")
		clk.Advance(90*time.Minute - 2*time.Second)
		poke(p)
		Eventually(func() []string { return keyIDs(jwksOf(ns, "rot")) }, "15s").Should(Equal([]string{second}))
		Eventually(func() int { return len(get(p).Status.VerificationKeys) }).Should(Equal(1))
	})

	It("rotates when spec.signing.rotateEvery elapses, at that moment", func() {
		p := product(ns, "sched", func(p *licensingv1alpha1.Product) { p.Spec.Signing.RotateEvery = dur("1h") })
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Eventually(productCondition(p, "Ready")).Should(Equal("True/Reconciled"))
		first := p.Status.SigningKeyID
		created := p.Status.VerificationKeys[0].CreatedAt.Time

		// Move to three seconds before the key is due; the reconcile triggered by the
		// poke must requeue itself for the due instant and rotate then, untouched.
		clk.Advance(created.Add(time.Hour).Sub(clk.Now()) - 3*time.Second)
		poke(p)
		Consistently(func() string { return get(p).Status.SigningKeyID }, "1s").Should(Equal(first))
		Eventually(func() string { return get(p).Status.SigningKeyID }, "10s").ShouldNot(Equal(first))
	})

	It("never silently regenerates a lost key, heals on restore, and starts fresh on request", func() {
		p := product(ns, "lost")
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Eventually(productCondition(p, "Ready")).Should(Equal("True/Reconciled"))
		keyID := p.Status.SigningKeyID
		backup := get(secret(ns, "lost-signing-key")).DeepCopy()

		Expect(k8sClient.Delete(ctx, backup.DeepCopy())).To(Succeed())
		Eventually(productCondition(p, "KeyAvailable")).Should(Equal("False/SigningKeyMissing"))
		Expect(condition(p.Status.Conditions, "Ready").Reason).To(Equal("SigningKeyMissing"))
		Expect(condition(p.Status.Conditions, "Stalled").Status).To(Equal(metav1.ConditionTrue))
		Expect(condition(p.Status.Conditions, "KeyAvailable").Message).To(ContainSubstring("Restore the Secret"))
		Consistently(exists(secret(ns, "lost-signing-key")), "2s").Should(BeFalse(), "no new key without a request")
		Expect(get(p).Status.SigningKeyID).To(Equal(keyID))

		By("healing when the Secret is restored from a backup")
		restored := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: backup.Name, Labels: backup.Labels}, Type: backup.Type, Data: backup.Data}
		Expect(k8sClient.Create(ctx, restored)).To(Succeed())
		Eventually(productCondition(p, "KeyAvailable")).Should(Equal("True/KeyReady"))
		Expect(p.Status.SigningKeyID).To(Equal(keyID))
		Expect(condition(p.Status.Conditions, "Stalled").Type).To(BeEmpty())

		By("reporting corrupt data without replacing it")
		restored = get(secret(ns, "lost-signing-key"))
		restored.Data[keyID+".pem"] = []byte("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
		update(restored)
		Eventually(productCondition(p, "KeyAvailable")).Should(Equal("False/SigningKeyCorrupt"))

		By("starting a fresh key on an explicit rotate request")
		Expect(k8sClient.Delete(ctx, restored)).To(Succeed())
		Eventually(productCondition(p, "KeyAvailable")).Should(Equal("False/SigningKeyMissing"))
		p.Annotations = map[string]string{licensingv1alpha1.AnnotationRotateKey: "after-loss"}
		update(p)
		Eventually(productCondition(p, "KeyAvailable")).Should(Equal("True/KeyReady"))
		Expect(p.Status.SigningKeyID).NotTo(Equal(keyID))
	})

	Describe("bring your own key", func() {
		It("reports a missing Secret, an unsupported key and an algorithm mismatch, and never writes the Secret", func() {
			p := product(ns, "byo", func(p *licensingv1alpha1.Product) {
				p.Spec.Signing.SecretRef = &licensingv1alpha1.LocalObjectReference{Name: "vault-key"}
			})
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			Eventually(productCondition(p, "KeyAvailable")).Should(Equal("False/SecretNotFound"))

			vault := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vault-key"}, Data: map[string][]byte{"tls.key": rsaKeyPEM()}}
			Expect(k8sClient.Create(ctx, vault)).To(Succeed())
			poke(p)
			Eventually(productCondition(p, "KeyAvailable")).Should(Equal("False/UnsupportedKeyType"))
			Expect(condition(p.Status.Conditions, "KeyAvailable").Message).To(ContainSubstring("RSA"))

			vault.Data = map[string][]byte{"tls.key": p256KeyPEM()}
			update(vault)
			poke(p)
			Eventually(productCondition(p, "KeyAvailable")).Should(Equal("False/KeyAlgorithmMismatch"))

			_, priv, err := ed25519.GenerateKey(rand.Reader)
			Expect(err).NotTo(HaveOccurred())
			vault.Data = map[string][]byte{"tls.key": pemOf(priv)}
			update(vault)
			rv := get(vault).ResourceVersion
			poke(p)
			Eventually(productCondition(p, "KeyAvailable")).Should(Equal("True/KeyReady"))
			Expect(jwksOf(ns, "byo").Keys[0].KeyID).To(Equal(p.Status.SigningKeyID))
			Expect(exists(secret(ns, "byo-signing-key"))()).To(BeFalse(), "no operator key next to a bring-your-own key")
			Expect(get(vault).ResourceVersion).To(Equal(rv), "the operator never writes a bring-your-own Secret")
		})
	})
})
