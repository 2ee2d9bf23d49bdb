package controllers_test

import (
	"encoding/json"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/issuance"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// verifyWithJOSE verifies the token in a license Secret against the Product's
// published JWKS through go-jose directly, not through code of ours.
func verifyWithJOSE(ns, productName string, s *corev1.Secret) (jose.Header, license.Claims) {
	set := jwksOf(ns, productName)
	jws, err := jose.ParseSigned(string(s.Data["license.jwt"]), []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
	Expect(err).NotTo(HaveOccurred())
	Expect(jws.Signatures).To(HaveLen(1))
	header := jws.Signatures[0].Protected
	keys := set.Key(header.KeyID)
	Expect(keys).To(HaveLen(1), "kid %q must be in the Product's JWKS", header.KeyID)
	payload, err := jws.Verify(keys[0])
	Expect(err).NotTo(HaveOccurred())
	var claims license.Claims
	Expect(json.Unmarshal(payload, &claims)).To(Succeed())
	return header, claims
}

func readyProduct(ns, name string, mutate ...func(*licensingv1alpha1.Product)) *licensingv1alpha1.Product {
	p := product(ns, name, mutate...)
	Expect(k8sClient.Create(ctx, p)).To(Succeed())
	Eventually(productCondition(p, "Ready")).Should(Equal("True/Reconciled"))
	return p
}

// issuedPerpetual creates Product acme-db, a perpetual template "forever" and
// Licensee globex with one license from it, and waits until its token is issued.
func issuedPerpetual(ns string) *licensingv1alpha1.Licensee {
	readyProduct(ns, "acme-db")
	Expect(k8sClient.Create(ctx, template(ns, "forever", "acme-db"))).To(Succeed())
	l := licensee(ns, "globex", "acme-db", licenseFrom("main", "forever"))
	Expect(k8sClient.Create(ctx, l)).To(Succeed())
	Eventually(licenseeCondition(l, "Ready")).Should(Equal("True/Issued"))
	return l
}

func eventReasons(ns, involved string) func() string {
	return func() string {
		events := &corev1.EventList{}
		_ = k8sClient.List(ctx, events, client.InNamespace(ns))
		var reasons []string
		for _, e := range events.Items {
			if e.InvolvedObject.Name == involved {
				reasons = append(reasons, e.Reason)
			}
		}
		return strings.Join(reasons, ",")
	}
}

var _ = Describe("LicenseTemplate controller", func() {
	It("reports whether the template fits its Product, and follows Product changes", func() {
		ns := newNamespace()
		t := template(ns, "gold", "acme-db", func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Features = []licensingv1alpha1.FeatureName{"replication", "sharding"}
			t.Quotas = licensingv1alpha1.QuotaMap{"nodes": 3}
		})
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		cond := func() metav1.Condition { return condition(get(t).Status.Conditions, "Ready") }
		Eventually(func() string { return cond().Reason }).Should(Equal("ProductNotFound"))

		p := readyProduct(ns, "acme-db")
		Eventually(func() string { return cond().Reason }).Should(Equal("UnknownFeature"))
		Expect(cond().Message).To(ContainSubstring(`"sharding"`))

		p = get(p)
		p.Spec.Features = append(p.Spec.Features, licensingv1alpha1.FeatureDefinition{Name: "sharding"})
		p.Spec.Quotas = nil
		update(p)
		Eventually(func() string { return cond().Reason }).Should(Equal("UnknownQuota"))
		Expect(cond().Message).To(ContainSubstring(`"nodes"`))

		p = get(p)
		p.Spec.Quotas = []licensingv1alpha1.QuotaDefinition{{Name: "nodes"}}
		update(p)
		Eventually(func() string { return string(cond().Status) + "/" + cond().Reason }).Should(Equal("True/Reconciled"))
		Expect(get(t).Status.ObservedGeneration).To(Equal(t.Generation))
	})
})

var _ = Describe("Licensee controller", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("issues a token that the JOSE library verifies with the Product's JWKS, with every claim", func() {
		p := readyProduct(ns, "acme-db")
		Expect(k8sClient.Create(ctx, template(ns, "annual", "acme-db", func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Type, t.Duration, t.AutoRenew, t.GracePeriod = licensingv1alpha1.LicenseTypeSubscription, dur("8760h"), ptrTo(true), dur("168h")
			t.Features = []licensingv1alpha1.FeatureName{"replication", "backup"}
			t.Quotas = licensingv1alpha1.QuotaMap{"nodes": 10}
		}))).To(Succeed())
		main := licenseFrom("main", "annual")
		main.Quotas = licensingv1alpha1.QuotaMap{"nodes": 20}
		main.Features = &licensingv1alpha1.FeatureOverrides{Add: []licensingv1alpha1.FeatureName{"analytics"}, Remove: []licensingv1alpha1.FeatureName{"backup"}}
		l := licensee(ns, "globex", "acme-db", main)
		l.Spec.Secret.Template = &licensingv1alpha1.SecretTemplate{Labels: map[string]string{"team": "db"}, Annotations: map[string]string{"owner": "ops"}}
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		Eventually(licenseeCondition(l, "Ready")).Should(Equal("True/Issued"))
		Expect(condition(l.Status.Conditions, "Licensed").Reason).To(Equal("Valid"))
		Expect(l.Status.ObservedGeneration).To(Equal(l.Generation))

		s := get(secret(ns, "globex-license"))
		Expect(string(s.Type)).To(Equal(licensingv1alpha1.SecretTypeLicense))
		Expect(s.Labels).To(HaveKeyWithValue(licensingv1alpha1.LabelManaged, "true"))
		Expect(s.Labels).To(HaveKeyWithValue("team", "db"))
		Expect(s.Annotations).To(HaveKeyWithValue("owner", "ops"))
		Expect(s.Annotations).To(HaveKeyWithValue(licensingv1alpha1.AnnotationLicensee, "globex"))
		Expect(s.Annotations).To(HaveKeyWithValue(licensingv1alpha1.AnnotationProduct, "acme-db"))
		Expect(s.Annotations).To(HaveKeyWithValue(licensingv1alpha1.AnnotationSerial, l.Status.Serial))
		Expect(s.Annotations).To(HaveKey(licensingv1alpha1.AnnotationExpiresAt))
		Expect(s.Annotations).To(HaveKey(licensingv1alpha1.AnnotationDataHash))
		Expect(s.OwnerReferences).To(HaveLen(1))
		Expect(s.Data).To(HaveKey("license.json"))
		Expect(string(s.Data["jwks.json"])).To(Equal(get(configMap(ns, "acme-db-license-keys")).Data["jwks.json"]))

		header, c := verifyWithJOSE(ns, "acme-db", s)
		Expect(header.KeyID).To(Equal(get(p).Status.SigningKeyID))
		Expect(header.Algorithm).To(Equal("EdDSA"))
		Expect(header.ExtraHeaders[jose.HeaderType]).To(Equal("license+jwt"))
		Expect(c.Issuer).To(Equal("licensing.kubelicense.io/" + ns + "/acme-db"))
		Expect(c.Subject).To(Equal("globex"))
		Expect(c.Audience).To(Equal([]string{"acme-db"}))
		Expect(c.ID).To(Equal(l.Status.Serial))
		Expect(c.IssuedAt).To(Equal(l.Status.IssuedAt.Unix()))
		Expect(c.NotBefore).To(Equal(c.IssuedAt))
		Expect(c.Licensee).To(Equal(license.LicenseeInfo{Name: "globex", UID: string(l.UID), DisplayName: "Globex Corp.", ExternalID: "crm-00042"}))
		Expect(c.Product).To(Equal(license.ProductInfo{Name: "acme-db", DisplayName: "Acme DB"}))
		Expect(c.Licenses).To(HaveLen(1))
		g := c.Licenses[0]
		Expect(g.Name).To(Equal("main"))
		Expect(g.Template).To(Equal("annual"))
		Expect(g.Type).To(Equal("Subscription"))
		Expect(g.ValidUntil - g.StartsAt).To(Equal(int64(8760 * 3600)))
		Expect(g.GraceUntil - g.ValidUntil).To(Equal(int64(168 * 3600)))
		Expect(g.Features).To(Equal([]string{"analytics", "replication"}))
		Expect(g.Quotas).To(Equal(map[string]int64{"nodes": 20}))
		Expect(c.Features).To(Equal([]string{"analytics", "replication"}))
		Expect(c.Quotas).To(Equal(map[string]int64{"nodes": 20}))
		Expect(c.Expiry).To(Equal(g.GraceUntil))
		var decoded license.Claims
		Expect(json.Unmarshal(s.Data["license.json"], &decoded)).To(Succeed())
		Expect(decoded).To(Equal(c))

		Expect(l.Status.Licenses).To(HaveLen(1))
		Expect(l.Status.Licenses[0].State).To(Equal(licensingv1alpha1.LicenseStateValid))
		Expect(l.Status.NextCheckAt.Unix()).To(Equal(g.ValidUntil), "the next transition is the period end")
		Eventually(eventReasons(ns, "globex")).Should(ContainSubstring("Issued"))

		By("writing nothing when a reconcile has nothing to change")
		secretWrites, statusWrites := requests.Writes("secrets"), requests.Writes("licensees/status")
		ran := reconciles("licensee", l)()
		for range 3 {
			poke(l)
		}
		Eventually(reconciles("licensee", l)).Should(BeNumerically(">", ran), "the pokes must reach the controller, or no write proves nothing")
		Consistently(func() []int { return []int{requests.Writes("secrets"), requests.Writes("licensees/status")} }, "2s").
			Should(Equal([]int{secretWrites, statusWrites}))
		Expect(get(secret(ns, "globex-license")).ResourceVersion).To(Equal(s.ResourceVersion))
	})

	It("moves through grace and expiry on time, re-signing, then revokes", func() {
		readyProduct(ns, "acme-db")
		Expect(k8sClient.Create(ctx, template(ns, "trial", "acme-db", func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Type, t.Duration, t.GracePeriod = licensingv1alpha1.LicenseTypeTrial, dur("1h"), dur("1h")
			t.OnExpiry = licensingv1alpha1.ExpiryActionRevoke
		}))).To(Succeed())
		l := licensee(ns, "hooli", "acme-db", licenseFrom("eval", "trial"))
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		Eventually(licenseeCondition(l, "Licensed")).Should(Equal("True/Valid"))
		first := l.Status.Serial
		validUntil := l.Status.Licenses[0].ValidUntil.Time
		Expect(l.Status.NextCheckAt.Time).To(Equal(validUntil))
		Expect(l.Status.Trials).To(HaveLen(1))

		By("entering grace at validUntil, untouched, and re-signing")
		clk.Advance(validUntil.Sub(clk.Now()) - 2*time.Second)
		poke(l)
		Eventually(licenseeCondition(l, "Licensed"), "10s").Should(Equal("True/InGracePeriod"))
		Expect(l.Status.Serial).NotTo(Equal(first))
		Expect(l.Status.Licenses[0].State).To(Equal(licensingv1alpha1.LicenseStateInGracePeriod))
		Eventually(eventReasons(ns, "hooli")).Should(ContainSubstring("EnteredGracePeriod"))

		By("expiring at graceUntil and removing the token (onExpiry: Revoke)")
		clk.Advance(l.Status.Licenses[0].GraceUntil.Sub(clk.Now()) - 2*time.Second)
		poke(l)
		Eventually(licenseeCondition(l, "Licensed"), "10s").Should(Equal("False/Expired"))
		Expect(condition(l.Status.Conditions, "Ready").Reason).To(Equal("Revoked"))
		s := get(secret(ns, "hooli-license"))
		Expect(s.Data).NotTo(HaveKey("license.jwt"))
		Expect(string(s.Data["license.json"])).To(ContainSubstring(`"revoked": true`))
		Expect(l.Status.Serial).To(BeEmpty())
		Expect(l.Status.NextCheckAt).To(BeNil(), "nothing left to happen")
		Eventually(eventReasons(ns, "hooli")).Should(ContainSubstring("Expired"))

		By("not restarting the trial when it is removed and added again")
		l = get(l)
		l.Spec.Licenses = nil
		update(l)
		Eventually(licenseeCondition(l, "Licensed")).Should(Equal("False/NoLicenses"))
		l.Spec.Licenses = []licensingv1alpha1.LicenseSpec{licenseFrom("eval-again", "trial")}
		update(l)
		Eventually(func() int64 { return get(l).Status.ObservedGeneration }).Should(Equal(l.Generation))
		Eventually(licenseeCondition(l, "Licensed")).Should(Equal("False/Expired"))
	})

	It("suspends and resumes within the same reconcile, re-signing the token", func() {
		readyProduct(ns, "acme-db")
		Expect(k8sClient.Create(ctx, template(ns, "forever", "acme-db"))).To(Succeed())
		l := licensee(ns, "initech", "acme-db", licenseFrom("main", "forever"))
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		Eventually(licenseeCondition(l, "Licensed")).Should(Equal("True/Valid"))
		Expect(l.Status.NextCheckAt).To(BeNil(), "a perpetual license never needs a timer")

		l.Spec.Suspended = true
		update(l)
		Eventually(licenseeCondition(l, "Licensed")).Should(Equal("False/Suspended"))
		_, c := verifyWithJOSE(ns, "acme-db", get(secret(ns, "initech-license")))
		Expect(c.Licensee.Suspended).To(BeTrue())
		Expect(c.Features).To(BeEmpty())
		Eventually(eventReasons(ns, "initech")).Should(ContainSubstring("Suspended"))

		l = get(l)
		l.Spec.Suspended = false
		update(l)
		Eventually(licenseeCondition(l, "Licensed")).Should(Equal("True/Valid"))
		Eventually(eventReasons(ns, "initech")).Should(ContainSubstring("Resumed"))
	})

	It("re-creates a deleted Secret, rewrites a hand-edited one, and never overwrites a Secret it does not manage", func() {
		issuedPerpetual(ns)

		Expect(k8sClient.Delete(ctx, secret(ns, "globex-license"))).To(Succeed())
		Eventually(exists(secret(ns, "globex-license"))).Should(BeTrue())

		s := get(secret(ns, "globex-license"))
		s.Data["license.jwt"] = []byte("eyJhbGciOiJub25lIn0.eyJmZWF0dXJlcyI6WyIqIl19.")
		update(s)
		Eventually(func() string { return string(get(secret(ns, "globex-license")).Data["license.jwt"]) }).ShouldNot(HavePrefix("eyJhbGciOiJub25lIn0"))
		verifyWithJOSE(ns, "acme-db", get(secret(ns, "globex-license")))

		foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken"}, StringData: map[string]string{"password": "hunter2"}}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		other := licensee(ns, "soylent", "acme-db", licenseFrom("main", "forever"))
		other.Spec.Secret.Name = "taken"
		Expect(k8sClient.Create(ctx, other)).To(Succeed())
		Eventually(licenseeCondition(other, "Ready")).Should(Equal("False/SecretConflict"))
		Expect(condition(other.Status.Conditions, "Stalled").Status).To(Equal(metav1.ConditionTrue))
		Expect(get(secret(ns, "taken")).Data).To(Equal(map[string][]byte{"password": []byte("hunter2")}))
		Consistently(func() []string {
			st := get(other).Status
			return []string{st.Serial, st.KeyID}
		}, "2s").Should(Equal([]string{"", ""}), "status names no token: none was written anywhere")
		Expect(other.Status.IssuedAt).To(BeNil())
		Expect(eventReasons(ns, "soylent")()).NotTo(ContainSubstring("Issued"))
	})

	It("restores the licensee label removed by hand, without re-signing", func() {
		l := issuedPerpetual(ns)
		s := get(secret(ns, "globex-license"))
		serial := s.Annotations[licensingv1alpha1.AnnotationSerial]
		Expect(s.Labels).To(HaveKeyWithValue(licensingv1alpha1.LabelLicensee, "globex"))

		// Data and data-hash still agree, so only the label check of the Secret
		// watch's predicate can bring the Licensee back (perpetual: no timer either).
		delete(s.Labels, licensingv1alpha1.LabelLicensee)
		update(s)
		Eventually(func() map[string]string { return get(secret(ns, "globex-license")).Labels }).
			Should(HaveKeyWithValue(licensingv1alpha1.LabelLicensee, "globex"))
		s = get(secret(ns, "globex-license"))
		Expect(s.Labels).To(HaveKeyWithValue(licensingv1alpha1.LabelManaged, "true"))
		Expect(s.Labels).To(HaveKeyWithValue(licensingv1alpha1.LabelProduct, "acme-db"))
		Expect(s.Annotations).To(HaveKeyWithValue(licensingv1alpha1.AnnotationSerial, serial), "labels need no new signature")
		Expect(get(l).Status.Serial).To(Equal(serial))
	})

	It("puts the Product's key set back into a Secret edited consistently by hand, without re-signing", func() {
		// The manager caches license Secrets without their data, so this rewrite
		// of jwks.json alone (no new token) reads the data live.
		l := issuedPerpetual(ns)
		s := get(secret(ns, "globex-license"))
		serial := s.Annotations[licensingv1alpha1.AnnotationSerial]
		published := get(configMap(ns, "acme-db-license-keys")).Data[licensingv1alpha1.JWKSKey]
		Expect(string(s.Data[licensingv1alpha1.JWKSKey])).To(Equal(published))

		// Data and its hash agree, so only the label wakes the Licensee up.
		s.Data[licensingv1alpha1.JWKSKey] = []byte(`{"keys":[]}`)
		s.Annotations[licensingv1alpha1.AnnotationDataHash] = issuance.DataHash(s.Data)
		delete(s.Labels, licensingv1alpha1.LabelLicensee)
		update(s)
		Eventually(func() string { return string(get(secret(ns, "globex-license")).Data[licensingv1alpha1.JWKSKey]) }).Should(Equal(published))
		s = get(secret(ns, "globex-license"))
		Expect(s.Labels).To(HaveKeyWithValue(licensingv1alpha1.LabelLicensee, "globex"))
		Expect(s.Annotations).To(HaveKeyWithValue(licensingv1alpha1.AnnotationSerial, serial), "a key set needs no new signature")
		Expect(s.Annotations[licensingv1alpha1.AnnotationDataHash]).To(Equal(issuance.DataHash(s.Data)))
		Expect(s.Data[licensingv1alpha1.LicenseTokenKey]).NotTo(BeEmpty())
		Expect(get(l).Status.Serial).To(Equal(serial))
	})

	It("pauses issuing without touching existing Secrets while the Product's key is unavailable", func() {
		l := issuedPerpetual(ns)
		rv := get(secret(ns, "globex-license")).ResourceVersion

		Expect(k8sClient.Delete(ctx, secret(ns, "acme-db-signing-key"))).To(Succeed())
		l = get(l)
		l.Spec.Suspended = true // a change that would need a new token
		update(l)
		Eventually(licenseeCondition(l, "Ready")).Should(Equal("False/ProductKeyUnavailable"))
		Expect(condition(l.Status.Conditions, "Ready").Message).To(ContainSubstring("acme-db"))
		Expect(condition(l.Status.Conditions, "Reconciling").Status).To(Equal(metav1.ConditionTrue), "waiting, not failed")
		Expect(condition(l.Status.Conditions, "Stalled").Type).To(BeEmpty())
		Consistently(func() string { return get(secret(ns, "globex-license")).ResourceVersion }, "2s").Should(Equal(rv))
	})

	It("keeps reporting the token still in the Secret when a revocation waits for the Product's key", func() {
		readyProduct(ns, "acme-db")
		Expect(k8sClient.Create(ctx, template(ns, "trial", "acme-db", func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Type, t.Duration = licensingv1alpha1.LicenseTypeTrial, dur("1h")
			t.OnExpiry = licensingv1alpha1.ExpiryActionRevoke
		}))).To(Succeed())
		l := licensee(ns, "hooli", "acme-db", licenseFrom("eval", "trial"))
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		Eventually(licenseeCondition(l, "Ready")).Should(Equal("True/Issued"))
		serial, keyID := l.Status.Serial, l.Status.KeyID
		rv := get(secret(ns, "hooli-license")).ResourceVersion

		Expect(k8sClient.Delete(ctx, secret(ns, "acme-db-signing-key"))).To(Succeed())
		Eventually(productCondition(product(ns, "acme-db"), "Ready")).Should(HavePrefix("False/"))
		clk.Advance(l.Status.Licenses[0].ValidUntil.Sub(clk.Now()) + time.Minute)
		poke(l)
		Eventually(licenseeCondition(l, "Licensed"), "10s").Should(Equal("False/Expired"))
		Expect(condition(l.Status.Conditions, "Ready").Reason).To(Equal("ProductKeyUnavailable"))
		Expect(get(secret(ns, "hooli-license")).ResourceVersion).To(Equal(rv), "nothing is written while the key is unavailable")
		Expect(l.Status.Serial).To(Equal(serial), "the token is still in the Secret")
		Expect(l.Status.KeyID).To(Equal(keyID))
		Expect(eventReasons(ns, "hooli")()).NotTo(ContainSubstring("Revoked"))
	})

	It("reports licenses that cannot be issued, and still issues the others", func() {
		readyProduct(ns, "acme-db")
		Expect(k8sClient.Create(ctx, template(ns, "forever", "acme-db"))).To(Succeed())
		bad := licenseFrom("extra", "forever")
		bad.Features = &licensingv1alpha1.FeatureOverrides{Add: []licensingv1alpha1.FeatureName{"teleport"}}
		l := licensee(ns, "globex", "acme-db", licenseFrom("main", "forever"), licenseFrom("ghost", "missing"), bad)
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		Eventually(licenseeCondition(l, "Ready")).Should(Equal("False/InvalidLicense"))
		msg := condition(l.Status.Conditions, "Ready").Message
		Expect(msg).To(ContainSubstring("LicenseTemplate missing does not exist"))
		Expect(msg).To(ContainSubstring(`"teleport"`))
		Expect(condition(l.Status.Conditions, "Licensed").Reason).To(Equal("Valid"))
		_, c := verifyWithJOSE(ns, "acme-db", get(secret(ns, "globex-license")))
		Expect(c.Licenses).To(HaveLen(1))

		By("following the template when it appears")
		Expect(k8sClient.Create(ctx, template(ns, "missing", "acme-db"))).To(Succeed())
		Eventually(func() string { return condition(get(l).Status.Conditions, "Ready").Message }).ShouldNot(ContainSubstring("missing does not exist"))
	})

	It("owns the Secret with deletionPolicy Delete and lets go of it with Orphan", func() {
		readyProduct(ns, "acme-db")
		Expect(k8sClient.Create(ctx, template(ns, "forever", "acme-db"))).To(Succeed())
		l := licensee(ns, "globex", "acme-db", licenseFrom("main", "forever"))
		l.Spec.Secret.DeletionPolicy = licensingv1alpha1.SecretDeletionPolicyOrphan
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		Eventually(licenseeCondition(l, "Ready")).Should(Equal("True/Issued"))
		Expect(get(secret(ns, "globex-license")).OwnerReferences).To(BeEmpty())

		l = get(l)
		l.Spec.Secret.DeletionPolicy = licensingv1alpha1.SecretDeletionPolicyDelete
		update(l)
		Eventually(func() int { return len(get(secret(ns, "globex-license")).OwnerReferences) }).Should(Equal(1))
		Expect(get(secret(ns, "globex-license")).OwnerReferences[0].UID).To(Equal(l.UID))

		l = get(l)
		l.Spec.Secret.DeletionPolicy = licensingv1alpha1.SecretDeletionPolicyOrphan
		update(l)
		Eventually(func() int { return len(get(secret(ns, "globex-license")).OwnerReferences) }).Should(Equal(0))
	})

	It("puts back its owner reference changed by hand, without re-signing", func() {
		l := issuedPerpetual(ns)
		s := get(secret(ns, "globex-license"))
		serial := s.Annotations[licensingv1alpha1.AnnotationSerial]
		Expect(s.OwnerReferences).To(HaveLen(1))

		// Same count, wrong owner: a garbage collector would delete the Secret
		// as soon as it found no object with that UID.
		s.OwnerReferences[0].UID = "00000000-0000-0000-0000-000000000000"
		update(s)
		Eventually(func() types.UID { return get(secret(ns, "globex-license")).OwnerReferences[0].UID }).Should(Equal(l.UID))
		s = get(secret(ns, "globex-license"))
		Expect(s.OwnerReferences).To(HaveLen(1))
		Expect(s.Annotations).To(HaveKeyWithValue(licensingv1alpha1.AnnotationSerial, serial), "an owner needs no new signature")
	})

	It("re-issues on a renew request and acknowledges it in status", func() {
		l := issuedPerpetual(ns)
		first := l.Status.Serial
		l.Annotations = map[string]string{licensingv1alpha1.AnnotationRenew: "2026-11-23T10:00:00Z"}
		update(l)
		Eventually(func() string { return get(l).Status.LastHandledRenewAt }).Should(Equal("2026-11-23T10:00:00Z"))
		Expect(l.Status.Serial).NotTo(Equal(first))
	})

	It("is not woken by Product updates that cannot change its token, and follows those that can", func() {
		l := issuedPerpetual(ns)
		p := get(product(ns, "acme-db"))
		settled(reconciles("licensee", l)) // a reconcile queued while the first one ran would count below
		licenseeRuns, productRuns := reconciles("licensee", l)(), reconciles("product", p)()
		poke(p) // metadata only, as GitOps tools write it: no new generation, no status change
		Eventually(reconciles("product", p)).Should(BeNumerically(">", productRuns))
		Consistently(reconciles("licensee", l), "2s").Should(Equal(licenseeRuns))

		p = get(p)
		p.Spec.DisplayName = "Acme DB Enterprise"
		update(p)
		Eventually(func() string {
			_, c := verifyWithJOSE(ns, "acme-db", get(secret(ns, "globex-license")))
			return c.Product.DisplayName
		}).Should(Equal("Acme DB Enterprise"))
	})

	It("re-signs every token with the new key when the Product's key rotates", func() {
		p := readyProduct(ns, "acme-db")
		Expect(k8sClient.Create(ctx, template(ns, "forever", "acme-db"))).To(Succeed())
		l := licensee(ns, "globex", "acme-db", licenseFrom("main", "forever"))
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		Eventually(licenseeCondition(l, "Ready")).Should(Equal("True/Issued"))
		p = get(p)
		old := p.Status.SigningKeyID
		p.Annotations = map[string]string{licensingv1alpha1.AnnotationRotateKey: "now"}
		update(p)
		Eventually(func() string { return get(l).Status.KeyID }).ShouldNot(Equal(old))
		header, _ := verifyWithJOSE(ns, "acme-db", get(secret(ns, "globex-license")))
		Expect(header.KeyID).To(Equal(get(p).Status.SigningKeyID))
	})
})

func ptrTo[T any](v T) *T { return &v }
