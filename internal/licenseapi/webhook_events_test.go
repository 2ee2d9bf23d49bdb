package licenseapi_test

import (
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// licenseEvents lists the LicenseEvents (webhook outbox) of type t in ns.
func licenseEvents(ns string, t licensingv1alpha1.EventType) func() []licensingv1alpha1.LicenseEvent {
	return func() []licensingv1alpha1.LicenseEvent {
		list := &licensingv1alpha1.LicenseEventList{}
		Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		var out []licensingv1alpha1.LicenseEvent
		for _, e := range list.Items {
			if e.Spec.Type == t {
				out = append(out, e)
			}
		}
		return out
	}
}

// subscribe creates a LicenseWebhook in ns (the outbox records only what some
// webhook of the namespace wants) and waits until the manager has seen it.
func subscribe(ns string) {
	w := &licensingv1alpha1.LicenseWebhook{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "crm"},
		Spec: licensingv1alpha1.LicenseWebhookSpec{
			URL:              "https://crm.example.com/hooks",
			SigningSecretRef: licensingv1alpha1.SecretKeySelector{Name: "crm-signing", Key: "secret"},
		},
	}
	Expect(k8sClient.Create(ctx, w)).To(Succeed())
	Eventually(func() int {
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(w), w)).To(Succeed())
		return len(w.Status.Conditions) // set by a reconcile the manager's cache woke
	}).ShouldNot(BeZero())
}

var _ = Describe("Webhook events of the license API", func() {
	It("records one event per activation created and removed, none for an idempotent re-activation", func() {
		i := issue(activationsTemplate(3))
		ns := i.get().Namespace
		act := func(fp string) answer {
			return call(apiB, "POST", "/v1/activations", i.token, license.ActivateRequest{License: "main", Fingerprint: fp, Name: "build-1"})
		}
		By("a namespace without webhooks records nothing")
		Expect(act("m-0").status).To(Equal(http.StatusCreated))
		Expect(licenseEvents(ns, licensingv1alpha1.EventActivationCreated)()).To(BeEmpty())

		subscribe(ns)
		Expect(act("m-1").status).To(Equal(http.StatusCreated))
		Expect(act("m-1").status).To(Equal(http.StatusOK))
		created := licenseEvents(ns, licensingv1alpha1.EventActivationCreated)()
		Expect(created).To(HaveLen(1))
		Expect(created[0].Spec.Data).To(And(
			HaveField("Licensee", "globex"), HaveField("License", "main"),
			HaveField("Fingerprint", "m-1"), HaveField("MachineName", "build-1"),
		))
		Expect(created[0].OwnerReferences).To(ConsistOf(HaveField("UID", i.get().UID)))

		Expect(call(apiB, "DELETE", "/v1/activations/m-1?license=main", i.token, nil).status).To(Equal(http.StatusOK))
		removed := licenseEvents(ns, licensingv1alpha1.EventActivationRemoved)()
		Expect(removed).To(HaveLen(1))
		Expect(removed[0].Spec.Data.Fingerprint).To(Equal("m-1"))

		By("activating the same fingerprint again is a new business event")
		Expect(act("m-1").status).To(Equal(http.StatusCreated))
		Expect(licenseEvents(ns, licensingv1alpha1.EventActivationCreated)()).To(HaveLen(2))
	})

	It("records seats exhausted once when the last seat is taken", func() {
		i := issue(seatsTemplate(2))
		ns := i.get().Namespace
		subscribe(ns)
		seat := func(holder string) answer {
			return call(apiB, "POST", "/v1/seats", i.token, license.SeatRequest{License: "main", Holder: holder})
		}
		Expect(seat("pod-1").status).To(Equal(http.StatusCreated))
		Eventually(func() int32 { return i.get().Status.Licenses[0].SeatsInUse }).Should(Equal(int32(1)))
		Expect(licenseEvents(ns, licensingv1alpha1.EventSeatsExhausted)()).To(BeEmpty())
		Expect(seat("pod-2").status).To(Equal(http.StatusCreated))
		Eventually(licenseEvents(ns, licensingv1alpha1.EventSeatsExhausted)).Should(HaveLen(1))
		e := licenseEvents(ns, licensingv1alpha1.EventSeatsExhausted)()[0]
		Expect(*e.Spec.Data.Seats).To(Equal(int32(2)))
		Expect(*e.Spec.Data.SeatsInUse).To(Equal(int32(2)))
		// A later reconcile (any change) does not repeat it.
		i.patch(func(l *licensingv1alpha1.Licensee) { l.Spec.DisplayName = "Globex Corporation" })
		Eventually(func() bool { l := i.get(); return l.Status.ObservedGeneration == l.Generation }).Should(BeTrue())
		Expect(licenseEvents(ns, licensingv1alpha1.EventSeatsExhausted)()).To(HaveLen(1))
	})
})
