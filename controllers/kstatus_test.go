package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// kstatusOf is what kstatus (cli-utils, as used by Flux health checks) computes
// for obj as the API server returned it.
func kstatusOf(obj client.Object) *status.Result {
	gvk, err := k8sClient.GroupVersionKindFor(obj)
	Expect(err).NotTo(HaveOccurred())
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{Object: content}
	u.SetGroupVersionKind(gvk)
	res, err := status.Compute(u)
	Expect(err).NotTo(HaveOccurred())
	return res
}

// liveKstatus reads obj again and computes its kstatus, for Eventually.
func liveKstatus(obj client.Object) func() status.Status {
	return func() status.Status { return kstatusOf(get(obj)).Status }
}

func haveKstatus(s status.Status) OmegaMatcher { return HaveField("Status", s) }

// expectFresh checks the object a Create call returned. That response is what
// the API server stored, at a resourceVersion no controller can have written to
// (they only learn of the object afterwards), so it is deterministically the
// object "before the controller acted". Its status.observedGeneration of -1
// comes from the CRD default and is what makes kstatus say InProgress: without
// it a CRD object with no conditions reads as Current.
func expectFresh(obj client.Object, observed int64) {
	Expect(obj.GetGeneration()).To(BeEquivalentTo(1))
	Expect(observed).To(BeEquivalentTo(-1), "status.observedGeneration must default to -1 through the CRD")
	Expect(kstatusOf(obj)).To(haveKstatus(status.InProgressStatus))
}

// expectChangedNotObserved checks the object an Update of its spec returned:
// the new generation cannot have been observed yet, so kstatus says InProgress
// until the controller catches up, and then Current.
func expectChangedNotObserved(obj client.Object, observed int64) {
	Expect(obj.GetGeneration()).To(BeNumerically(">", observed))
	Expect(kstatusOf(obj)).To(haveKstatus(status.InProgressStatus))
	Eventually(liveKstatus(obj)).Should(Equal(status.CurrentStatus))
}

func templateCondition(t *licensingv1alpha1.LicenseTemplate, conditionType string) func() string {
	return func() string {
		c := condition(get(t).Status.Conditions, conditionType)
		return string(c.Status) + "/" + c.Reason
	}
}

func expectStalled(conds []metav1.Condition, reason string) {
	stalled := condition(conds, "Stalled")
	Expect(string(stalled.Status) + "/" + stalled.Reason).To(Equal("True/" + reason))
}

var _ = Describe("kstatus", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("reads a Product as InProgress until it is reconciled, then Current", func() {
		p := product(ns, "acme-db")
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		expectFresh(p, p.Status.ObservedGeneration)

		Eventually(productCondition(p, "Ready")).Should(Equal("True/Reconciled"))
		Expect(kstatusOf(p)).To(haveKstatus(status.CurrentStatus))

		p.Spec.DisplayName = "Acme DB Enterprise"
		update(p)
		expectChangedNotObserved(p, p.Status.ObservedGeneration)
	})

	It("reads a LicenseTemplate as InProgress until it is reconciled, then Current", func() {
		readyProduct(ns, "acme-db")
		t := template(ns, "gold", "acme-db")
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		expectFresh(t, t.Status.ObservedGeneration)

		Eventually(templateCondition(t, "Ready")).Should(Equal("True/Reconciled"))
		Expect(kstatusOf(t)).To(haveKstatus(status.CurrentStatus))

		t.Spec.Features = append(t.Spec.Features, "backup")
		update(t)
		expectChangedNotObserved(t, t.Status.ObservedGeneration)
	})

	It("reads a Licensee as InProgress until its license is issued, then Current", func() {
		readyProduct(ns, "acme-db")
		Expect(k8sClient.Create(ctx, template(ns, "forever", "acme-db"))).To(Succeed())
		l := licensee(ns, "globex", "acme-db", licenseFrom("main", "forever"))
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		expectFresh(l, l.Status.ObservedGeneration)

		Eventually(licenseeCondition(l, "Ready")).Should(Equal("True/Issued"))
		Expect(kstatusOf(l)).To(haveKstatus(status.CurrentStatus))

		l.Spec.DisplayName = "Globex Corporation"
		update(l)
		expectChangedNotObserved(l, l.Status.ObservedGeneration)
	})

	It("reads a Product whose signing Secret does not exist as Failed", func() {
		p := product(ns, "byo", func(p *licensingv1alpha1.Product) {
			p.Spec.Signing.SecretRef = &licensingv1alpha1.LocalObjectReference{Name: "vault-key"}
		})
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Eventually(productCondition(p, "Ready")).Should(Equal("False/SecretNotFound"))
		expectStalled(p.Status.Conditions, "SecretNotFound")

		res := kstatusOf(p)
		Expect(res).To(haveKstatus(status.FailedStatus))
		Expect(res.Message).To(Equal(condition(p.Status.Conditions, "Stalled").Message))
	})

	It("reads a LicenseTemplate naming a feature its Product lacks as Failed", func() {
		readyProduct(ns, "acme-db")
		t := template(ns, "gold", "acme-db", func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Features = []licensingv1alpha1.FeatureName{"replication", "sharding"}
		})
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		Eventually(templateCondition(t, "Ready")).Should(Equal("False/UnknownFeature"))
		expectStalled(t.Status.Conditions, "UnknownFeature")

		res := kstatusOf(t)
		Expect(res).To(haveKstatus(status.FailedStatus))
		Expect(res.Message).To(ContainSubstring(`"sharding"`))
	})

	It("reads a Licensee whose Secret name is taken by an unmanaged Secret as Failed", func() {
		readyProduct(ns, "acme-db")
		Expect(k8sClient.Create(ctx, template(ns, "forever", "acme-db"))).To(Succeed())
		foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "globex-license"}, StringData: map[string]string{"password": "hunter2"}}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		l := licensee(ns, "globex", "acme-db", licenseFrom("main", "forever"))
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		Eventually(licenseeCondition(l, "Ready")).Should(Equal("False/SecretConflict"))
		expectStalled(l.Status.Conditions, "SecretConflict")

		res := kstatusOf(l)
		Expect(res).To(haveKstatus(status.FailedStatus))
		Expect(res.Message).To(ContainSubstring("globex-license"))
	})
})
