package controllers_test

import (
	"maps"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// appNamespace creates an application namespace with labels.
func appNamespace(labels map[string]string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "app-", Labels: labels}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// acceptFrom is the opt-in label for copies from source, plus key/value pairs.
func acceptFrom(source string, keyValues ...string) map[string]string {
	labels := map[string]string{licensingv1alpha1.LabelAcceptFrom: source}
	for i := 0; i+1 < len(keyValues); i += 2 {
		labels[keyValues[i]] = keyValues[i+1]
	}
	return labels
}

// setNamespaceLabel sets (or with value "", removes) one label of namespace name.
func setNamespaceLabel(name, key, value string) {
	ns := get(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	if value == "" {
		delete(ns.Labels, key)
	} else {
		ns.Labels[key] = value
	}
	update(ns)
}

// distributingLicensee creates Product acme-db, a perpetual template and
// Licensee globex distributing as d, and waits until its token is issued.
func distributingLicensee(ns string, d *licensingv1alpha1.DistributionSpec) *licensingv1alpha1.Licensee {
	readyProduct(ns, "acme-db")
	Expect(k8sClient.Create(ctx, template(ns, "forever", "acme-db"))).To(Succeed())
	l := licensee(ns, "globex", "acme-db", licenseFrom("main", "forever"))
	l.Spec.Distribution = d
	Expect(k8sClient.Create(ctx, l)).To(Succeed())
	Eventually(licenseeCondition(l, "Ready")).Should(Equal("True/Issued"))
	return l
}

func toNamespaces(names ...string) *licensingv1alpha1.DistributionSpec {
	d := &licensingv1alpha1.DistributionSpec{}
	for _, n := range names {
		d.Namespaces = append(d.Namespaces, licensingv1alpha1.NamespaceName(n))
	}
	return d
}

// copiesCurrent tells whether target holds copies of the license Secret and
// of the JWKS ConfigMap of namespace source that equal the originals.
func copiesCurrent(source, target, secretName string) func() bool {
	return func() bool {
		src, cp := &corev1.Secret{}, &corev1.Secret{}
		if k8sClient.Get(ctx, client.ObjectKey{Namespace: source, Name: secretName}, src) != nil ||
			k8sClient.Get(ctx, client.ObjectKey{Namespace: target, Name: secretName}, cp) != nil {
			return false
		}
		srcCM, cpCM := &corev1.ConfigMap{}, &corev1.ConfigMap{}
		if k8sClient.Get(ctx, client.ObjectKey{Namespace: source, Name: "acme-db-license-keys"}, srcCM) != nil ||
			k8sClient.Get(ctx, client.ObjectKey{Namespace: target, Name: "acme-db-license-keys"}, cpCM) != nil {
			return false
		}
		return cp.Type == src.Type && len(cp.Data) == 3 &&
			maps.EqualFunc(cp.Data, src.Data, func(a, b []byte) bool { return string(a) == string(b) }) &&
			maps.Equal(cpCM.Data, srcCM.Data)
	}
}

// gone tells whether obj does not exist.
func gone(obj client.Object) func() bool {
	return func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)) }
}

// noCopiesIn tells whether target holds neither copy.
func noCopiesIn(target string) func() bool {
	return func() bool {
		return gone(secret(target, "globex-license"))() && gone(configMap(target, "acme-db-license-keys"))()
	}
}

// distribution renders status.distribution as namespace -> "true" or "false/<reason>".
func distribution(l *licensingv1alpha1.Licensee) func() map[string]string {
	return func() map[string]string {
		out := map[string]string{}
		for _, d := range get(l).Status.Distribution {
			if d.Current {
				out[d.Namespace] = "true"
			} else {
				out[d.Namespace] = "false/" + d.Reason
			}
		}
		return out
	}
}

func distributionEntry(l *licensingv1alpha1.Licensee, ns string) licensingv1alpha1.DistributionStatus {
	for _, d := range get(l).Status.Distribution {
		if d.Namespace == ns {
			return d
		}
	}
	return licensingv1alpha1.DistributionStatus{}
}

func hasFinalizer(l *licensingv1alpha1.Licensee) func() bool {
	return func() bool {
		for _, f := range get(l).Finalizers {
			if f == licensingv1alpha1.FinalizerDistribution {
				return true
			}
		}
		return false
	}
}

var _ = Describe("Distribution to application namespaces", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("copies into the named namespaces that opted in, reports the others, and serves a namespace created later", func() {
		shop := appNamespace(acceptFrom(ns))
		web := appNamespace(nil)
		other := appNamespace(acceptFrom("elsewhere"))
		ghost := "ghost-" + utilrand.String(6)
		l := distributingLicensee(ns, toNamespaces(shop, web, other, ghost, ns))

		Eventually(copiesCurrent(ns, shop, "globex-license")).Should(BeTrue())
		s := get(secret(shop, "globex-license"))
		Expect(string(s.Type)).To(Equal(licensingv1alpha1.SecretTypeLicense))
		Expect(s.Labels).To(HaveKeyWithValue(licensingv1alpha1.LabelManaged, "true"))
		Expect(s.Labels).To(HaveKeyWithValue(licensingv1alpha1.LabelSourceNamespace, ns))
		Expect(s.Labels).To(HaveKeyWithValue(licensingv1alpha1.LabelSourceLicensee, "globex"))
		Expect(s.OwnerReferences).To(BeEmpty(), "no owner across namespaces")
		Expect(get(configMap(shop, "acme-db-license-keys")).Labels).To(HaveKeyWithValue(licensingv1alpha1.LabelSourceNamespace, ns))

		Eventually(distribution(l)).Should(Equal(map[string]string{
			shop:  "true",
			web:   "false/NamespaceNotOptedIn",
			other: "false/NamespaceNotOptedIn",
			ghost: "false/NamespaceNotFound",
			ns:    "false/LicensingNamespace",
		}))
		Expect(distributionEntry(l, shop)).To(Equal(licensingv1alpha1.DistributionStatus{
			Namespace: shop, Secret: "globex-license", ConfigMap: "acme-db-license-keys", Current: true,
		}))
		Expect(distributionEntry(l, web).Message).To(ContainSubstring(licensingv1alpha1.LabelAcceptFrom + "=" + ns))
		Expect(distributionEntry(l, other).Message).To(ContainSubstring(`"elsewhere"`))
		Expect(noCopiesIn(web)()).To(BeTrue())
		Expect(noCopiesIn(other)()).To(BeTrue())
		Expect(condition(l.Status.Conditions, "Ready").Reason).To(Equal("Issued"), "the license itself is issued")
		Expect(condition(l.Status.Conditions, "Distributed").Reason).To(Equal("NamespaceNotOptedIn"))
		Expect(condition(l.Status.Conditions, "Stalled").Reason).To(Equal("NamespaceNotOptedIn"))

		By("serving a namespace that appears later")
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ghost, Labels: acceptFrom(ns)}})).To(Succeed())
		Eventually(copiesCurrent(ns, ghost, "globex-license")).Should(BeTrue())
		Eventually(distribution(l)).Should(HaveKeyWithValue(ghost, "true"))

		By("serving a namespace that opts in later")
		setNamespaceLabel(web, licensingv1alpha1.LabelAcceptFrom, ns)
		Eventually(copiesCurrent(ns, web, "globex-license")).Should(BeTrue())
		setNamespaceLabel(other, licensingv1alpha1.LabelAcceptFrom, ns)
		Eventually(copiesCurrent(ns, other, "globex-license")).Should(BeTrue())
		Eventually(licenseeCondition(l, "Distributed")).Should(Equal("False/LicensingNamespace"))
	})

	It("selects among the namespaces that opted in, and follows their labels", func() {
		a := appNamespace(acceptFrom(ns, "team", "payments"))
		notOptedIn := appNamespace(map[string]string{"team": "payments"})
		c := appNamespace(acceptFrom(ns, "team", "search"))
		l := distributingLicensee(ns, &licensingv1alpha1.DistributionSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "payments"}},
		})
		Eventually(copiesCurrent(ns, a, "globex-license")).Should(BeTrue())
		Eventually(distribution(l)).Should(Equal(map[string]string{a: "true"}))
		Expect(licenseeCondition(l, "Distributed")()).To(Equal("True/Distributed"))
		Expect(noCopiesIn(notOptedIn)()).To(BeTrue())
		Expect(noCopiesIn(c)()).To(BeTrue())

		setNamespaceLabel(c, "team", "payments")
		Eventually(copiesCurrent(ns, c, "globex-license")).Should(BeTrue())

		By("removing the copies of a namespace that opts out")
		setNamespaceLabel(a, licensingv1alpha1.LabelAcceptFrom, "")
		Eventually(noCopiesIn(a)).Should(BeTrue())
		Eventually(distribution(l)).Should(Equal(map[string]string{c: "true"}))

		By("removing the copies of a namespace that stops matching")
		setNamespaceLabel(c, "team", "search")
		Eventually(noCopiesIn(c)).Should(BeTrue())
		Eventually(distribution(l)).Should(BeEmpty())
		Expect(licenseeCondition(l, "Distributed")()).To(Equal("True/Distributed"))
	})

	It("brings a source change to the copies within a second", func() {
		shop := appNamespace(acceptFrom(ns))
		l := distributingLicensee(ns, toNamespaces(shop))
		Eventually(copiesCurrent(ns, shop, "globex-license")).Should(BeTrue())

		serialOf := func(namespace string) func() string {
			return func() string {
				return get(secret(namespace, "globex-license")).Annotations[licensingv1alpha1.AnnotationSerial]
			}
		}
		By("a renewal")
		first := serialOf(ns)()
		l = get(l)
		l.Annotations = map[string]string{licensingv1alpha1.AnnotationRenew: "now"}
		update(l)
		Eventually(serialOf(ns)).ShouldNot(Equal(first))
		Eventually(copiesCurrent(ns, shop, "globex-license"), "1s", "20ms").Should(BeTrue())

		By("a suspension")
		second := serialOf(ns)()
		l = get(l)
		l.Spec.Suspended = true
		update(l)
		Eventually(serialOf(ns)).ShouldNot(Equal(second))
		Eventually(copiesCurrent(ns, shop, "globex-license"), "1s", "20ms").Should(BeTrue())

		By("a new signing key in the JWKS")
		jwks := func(namespace string) func() string {
			return func() string { return get(configMap(namespace, "acme-db-license-keys")).Data["jwks.json"] }
		}
		before := jwks(ns)()
		p := get(product(ns, "acme-db"))
		p.Annotations = map[string]string{licensingv1alpha1.AnnotationRotateKey: "now"}
		update(p)
		Eventually(jwks(ns)).ShouldNot(Equal(before))
		Eventually(func() bool { return jwks(shop)() == jwks(ns)() }, "1s", "20ms").Should(BeTrue())
		Eventually(copiesCurrent(ns, shop, "globex-license")).Should(BeTrue())
	})

	It("removes copies when a namespace leaves spec, when distribution is removed, and when the Licensee is deleted", func() {
		a, b := appNamespace(acceptFrom(ns)), appNamespace(acceptFrom(ns))
		l := distributingLicensee(ns, toNamespaces(a, b))
		Eventually(copiesCurrent(ns, a, "globex-license")).Should(BeTrue())
		Eventually(copiesCurrent(ns, b, "globex-license")).Should(BeTrue())
		Expect(hasFinalizer(l)()).To(BeTrue())

		l = get(l)
		l.Spec.Distribution = toNamespaces(a)
		update(l)
		Eventually(noCopiesIn(b)).Should(BeTrue())
		Expect(copiesCurrent(ns, a, "globex-license")()).To(BeTrue())
		Eventually(distribution(l)).Should(Equal(map[string]string{a: "true"}))

		By("renaming the license Secret")
		l = get(l)
		l.Spec.Secret.Name = "globex-token"
		update(l)
		Eventually(copiesCurrent(ns, a, "globex-token")).Should(BeTrue())
		Eventually(gone(secret(a, "globex-license"))).Should(BeTrue())

		By("removing distribution")
		l = get(l)
		l.Spec.Distribution = nil
		update(l)
		Eventually(gone(secret(a, "globex-token"))).Should(BeTrue())
		Eventually(gone(configMap(a, "acme-db-license-keys"))).Should(BeTrue())
		Eventually(hasFinalizer(l)).Should(BeFalse())
		Eventually(func() []licensingv1alpha1.DistributionStatus { return get(l).Status.Distribution }).Should(BeEmpty())
		Expect(condition(l.Status.Conditions, "Distributed").Type).To(BeEmpty())

		By("deleting the Licensee, with copies in a namespace being deleted")
		l = get(l)
		l.Spec.Distribution = toNamespaces(a, b)
		update(l)
		Eventually(copiesCurrent(ns, a, "globex-token")).Should(BeTrue())
		Eventually(copiesCurrent(ns, b, "globex-token")).Should(BeTrue())
		// envtest runs no namespace controller: b stays Terminating, copies and all.
		Expect(k8sClient.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: b}})).To(Succeed())
		Eventually(distribution(l)).Should(HaveKeyWithValue(b, "false/NamespaceNotFound"))
		Expect(distributionEntry(l, b).Message).To(ContainSubstring("being deleted"))
		Expect(k8sClient.Delete(ctx, l)).To(Succeed())
		Eventually(gone(l)).Should(BeTrue())
		Expect(noCopiesIn(a)()).To(BeTrue())
		Expect(gone(secret(a, "globex-token"))()).To(BeTrue())
		Expect(gone(secret(b, "globex-token"))()).To(BeTrue())
	})

	It("never overwrites a foreign Secret or ConfigMap of the same name, and puts back a copy edited or deleted by hand", func() {
		shop, web, ok := appNamespace(acceptFrom(ns)), appNamespace(acceptFrom(ns)), appNamespace(acceptFrom(ns))
		foreignSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "globex-license"}, StringData: map[string]string{"password": "hunter2"}}
		Expect(k8sClient.Create(ctx, foreignSecret)).To(Succeed())
		foreignCM := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: web, Name: "acme-db-license-keys"}, Data: map[string]string{"jwks.json": "mine"}}
		Expect(k8sClient.Create(ctx, foreignCM)).To(Succeed())

		l := distributingLicensee(ns, toNamespaces(shop, web, ok))
		Eventually(distribution(l)).Should(Equal(map[string]string{
			shop: "false/SecretConflict", web: "false/ConfigMapConflict", ok: "true",
		}))
		Expect(distributionEntry(l, shop)).To(HaveField("ConfigMap", "acme-db-license-keys"))
		Expect(distributionEntry(l, shop)).To(HaveField("Secret", ""))
		Expect(distributionEntry(l, web)).To(HaveField("Secret", "globex-license"))
		Expect(condition(l.Status.Conditions, "Distributed").Reason).To(Equal("SecretConflict"))
		Expect(condition(l.Status.Conditions, "Stalled").Reason).To(Equal("SecretConflict"))
		Expect(get(secret(shop, "globex-license")).Data).To(Equal(map[string][]byte{"password": []byte("hunter2")}))
		Expect(get(configMap(web, "acme-db-license-keys")).Data).To(Equal(map[string]string{"jwks.json": "mine"}))

		By("putting back a copy edited by hand")
		s := get(secret(ok, "globex-license"))
		s.Data["license.jwt"] = []byte("eyJhbGciOiJub25lIn0.eyJmZWF0dXJlcyI6WyIqIl19.")
		update(s)
		Eventually(copiesCurrent(ns, ok, "globex-license")).Should(BeTrue())

		By("putting back a copy deleted by hand")
		Expect(k8sClient.Delete(ctx, configMap(ok, "acme-db-license-keys"))).To(Succeed())
		Eventually(copiesCurrent(ns, ok, "globex-license")).Should(BeTrue())

		By("copying once the foreign Secret is gone")
		Expect(k8sClient.Delete(ctx, foreignSecret)).To(Succeed())
		Eventually(copiesCurrent(ns, shop, "globex-license")).Should(BeTrue())
		Eventually(distribution(l)).Should(HaveKeyWithValue(shop, "true"))

		By("leaving the foreign objects in place when the Licensee goes")
		Expect(k8sClient.Delete(ctx, l)).To(Succeed())
		Eventually(gone(l)).Should(BeTrue())
		Expect(get(configMap(web, "acme-db-license-keys")).Data).To(Equal(map[string]string{"jwks.json": "mine"}))
		Expect(noCopiesIn(shop)()).To(BeTrue())
		Expect(noCopiesIn(ok)()).To(BeTrue())
	})

	It("shares the JWKS copy between Licensees of one Product, and removes it with the last", func() {
		shop := appNamespace(acceptFrom(ns))
		first := distributingLicensee(ns, toNamespaces(shop))
		second := licensee(ns, "hooli", "acme-db", licenseFrom("main", "forever"))
		second.Spec.Distribution = toNamespaces(shop)
		Expect(k8sClient.Create(ctx, second)).To(Succeed())
		Eventually(copiesCurrent(ns, shop, "globex-license")).Should(BeTrue())
		Eventually(copiesCurrent(ns, shop, "hooli-license")).Should(BeTrue())
		Eventually(licenseeCondition(second, "Distributed")).Should(Equal("True/Distributed"))
		Eventually(licenseeCondition(first, "Distributed")).Should(Equal("True/Distributed"))

		first = get(first)
		first.Spec.Distribution = nil
		update(first)
		Eventually(gone(secret(shop, "globex-license"))).Should(BeTrue())
		Eventually(hasFinalizer(first)).Should(BeFalse())
		Expect(exists(configMap(shop, "acme-db-license-keys"))()).To(BeTrue(), "hooli still distributes it")
		Expect(copiesCurrent(ns, shop, "hooli-license")()).To(BeTrue())

		Expect(k8sClient.Delete(ctx, second)).To(Succeed())
		Eventually(gone(second)).Should(BeTrue())
		Expect(noCopiesIn(shop)()).To(BeTrue())
		Expect(gone(secret(shop, "hooli-license"))()).To(BeTrue())
	})

	It("writes nothing when a reconcile has nothing to change", func() {
		shop := appNamespace(acceptFrom(ns))
		l := distributingLicensee(ns, toNamespaces(shop, appNamespace(nil)))
		Eventually(copiesCurrent(ns, shop, "globex-license")).Should(BeTrue())
		Eventually(licenseeCondition(l, "Distributed")).Should(Equal("False/NamespaceNotOptedIn"))
		settled(reconciles("licensee", l))

		writes := func() []int {
			return []int{requests.Writes("secrets"), requests.Writes("configmaps"), requests.Writes("licensees"), requests.Writes("licensees/status")}
		}
		before := writes()
		copyVersion := get(secret(shop, "globex-license")).ResourceVersion
		ran := reconciles("licensee", l)()
		for range 3 {
			poke(l)
		}
		Eventually(reconciles("licensee", l)).Should(BeNumerically(">", ran), "the pokes must reach the controller, or no write proves nothing")
		// The pokes themselves are writes of licensees, by the test's own client.
		Consistently(writes, "2s").Should(Equal(before))
		Expect(get(secret(shop, "globex-license")).ResourceVersion).To(Equal(copyVersion))
	})

	It("reads as InProgress while a named namespace does not exist, Current once served, and Failed when one did not opt in", func() {
		ghost := "ghost-" + utilrand.String(6)
		l := distributingLicensee(ns, toNamespaces(ghost))
		Eventually(licenseeCondition(l, "Distributed")).Should(Equal("False/NamespaceNotFound"))
		Expect(condition(l.Status.Conditions, "Reconciling").Reason).To(Equal("NamespaceNotFound"))
		Expect(kstatusOf(l)).To(haveKstatus(status.InProgressStatus))

		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ghost, Labels: acceptFrom(ns)}})).To(Succeed())
		Eventually(licenseeCondition(l, "Distributed")).Should(Equal("True/Distributed"))
		Expect(kstatusOf(l)).To(haveKstatus(status.CurrentStatus))

		setNamespaceLabel(ghost, licensingv1alpha1.LabelAcceptFrom, "")
		Eventually(licenseeCondition(l, "Distributed")).Should(Equal("False/NamespaceNotOptedIn"))
		expectStalled(l.Status.Conditions, "NamespaceNotOptedIn")
		Expect(kstatusOf(l)).To(haveKstatus(status.FailedStatus))
		Expect(noCopiesIn(ghost)()).To(BeTrue())
	})
})
