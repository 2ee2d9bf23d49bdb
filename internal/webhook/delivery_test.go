package webhook_test

import (
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/controllers"
	"github.com/kubelicense/kubelicense/internal/webhook"
)

// newWebhook creates a LicenseWebhook to r with the signing secret in Secret secretName.
func newWebhook(ns, name string, r *receiver, secretName string, mutate ...func(*licensingv1alpha1.LicenseWebhookSpec)) *licensingv1alpha1.LicenseWebhook {
	w := &licensingv1alpha1.LicenseWebhook{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: licensingv1alpha1.LicenseWebhookSpec{
			URL:              r.server.URL + "/hooks/kubelicense",
			SigningSecretRef: licensingv1alpha1.SecretKeySelector{Name: secretName, Key: "secret"},
			CABundle:         r.caBundle(),
		},
	}
	for _, m := range mutate {
		m(&w.Spec)
	}
	Expect(k8sClient.Create(ctx, w)).To(Succeed())
	return w
}

func webhookReady(w *licensingv1alpha1.LicenseWebhook) func() string {
	return func() string {
		got := &licensingv1alpha1.LicenseWebhook{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(w), got); err != nil {
			return err.Error()
		}
		c := meta.FindStatusCondition(got.Status.Conditions, licensingv1alpha1.ConditionReady)
		if c == nil {
			return "no Ready condition"
		}
		return string(c.Status) + "/" + c.Reason
	}
}

func webhookStatus(w *licensingv1alpha1.LicenseWebhook) func() licensingv1alpha1.LicenseWebhookStatus {
	return func() licensingv1alpha1.LicenseWebhookStatus {
		got := &licensingv1alpha1.LicenseWebhook{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(w), got)).To(Succeed())
		return got.Status
	}
}

// events lists the LicenseEvents of type t about licensee.
func events(ns, licensee string, t licensingv1alpha1.EventType) func() []licensingv1alpha1.LicenseEvent {
	return func() []licensingv1alpha1.LicenseEvent {
		list := &licensingv1alpha1.LicenseEventList{}
		Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		var out []licensingv1alpha1.LicenseEvent
		for _, e := range list.Items {
			if e.Spec.Type == t && e.Spec.Data.Licensee == licensee {
				out = append(out, e)
			}
		}
		return out
	}
}

func duration(s string) *licensingv1alpha1.Duration {
	d := licensingv1alpha1.Duration(s)
	return &d
}

func ids(ds []delivery) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

var _ = Describe("Webhook delivery", func() {
	var ns string
	BeforeEach(func() {
		ns = newNamespace()
		licensing(ns, "acme-db")
	})

	It("delivers each business event as a signed CloudEvent and reports it in status and metrics", func() {
		secret := signingSecret(ns, "crm-signing")
		r := newReceiver(secret, true)
		DeferCleanup(r.close)
		w := newWebhook(ns, "crm", r, "crm-signing")
		Eventually(webhookReady(w)).Should(Equal("True/Reconciled"))

		l := newLicensee(ns, "globex", "acme-db", nil)
		Eventually(func() int { return len(r.ofType(licensingv1alpha1.EventLicenseIssued, "globex")) }).Should(Equal(1))
		d := r.ofType(licensingv1alpha1.EventLicenseIssued, "globex")[0]
		Expect(d.Problems).To(BeEmpty())
		Expect(d.Event.Source()).To(Equal("/apis/licensing.kubelicense.io/v1alpha1/namespaces/" + ns + "/licensees/globex"))
		Expect(d.Data.Namespace).To(Equal(ns))
		Expect(d.Data.Product).To(Equal("acme-db"))
		Expect(d.Data.ExternalID).To(Equal("crm-globex"))
		got := &licensingv1alpha1.Licensee{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(l), got)).To(Succeed())
		Expect(d.Data.Serial).To(Equal(got.Status.Serial))
		Expect(d.Event.Subject()).To(Equal(got.Status.Serial))

		// Suspending and resuming are events too, each signed.
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(l), got)).To(Succeed())
			got.Spec.Suspended = true
			return k8sClient.Update(ctx, got)
		})).To(Succeed())
		Eventually(func() int { return len(r.ofType(licensingv1alpha1.EventLicenseSuspended, "globex")) }).Should(Equal(1))
		s := r.ofType(licensingv1alpha1.EventLicenseSuspended, "globex")[0]
		Expect(s.Data.License).To(Equal("main"))
		Expect(s.Data.State).To(Equal(licensingv1alpha1.LicenseStateSuspended))
		Expect(s.Data.PreviousState).To(Equal(licensingv1alpha1.LicenseStateValid))
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(l), got)).To(Succeed())
			got.Spec.Suspended = false
			return k8sClient.Update(ctx, got)
		})).To(Succeed())
		Eventually(func() int { return len(r.ofType(licensingv1alpha1.EventLicenseResumed, "globex")) }).Should(Equal(1))

		Expect(r.problems()).To(BeEmpty())
		Eventually(func() bool { return webhookStatus(w)().LastSuccessAt != nil }).Should(BeTrue())
		Eventually(func() int32 { return webhookStatus(w)().Pending }).Should(BeZero())
		Expect(webhookStatus(w)().LastFailure).To(BeNil())
		Eventually(func() float64 {
			return testutil.ToFloat64(webhook.DeliveriesTotal.WithLabelValues(ns, "crm", webhook.ResultSuccess))
		}).Should(BeNumerically(">=", 4)) // issued, renewed (the suspension re-signs), suspended, resumed...
		Expect(testutil.ToFloat64(webhook.DeliveriesTotal.WithLabelValues(ns, "crm", webhook.ResultFailure))).To(BeZero())
		Expect(testutil.ToFloat64(webhook.Pending.WithLabelValues(ns, "crm"))).To(BeZero())
	})

	It("redelivers a failed event with the same id until it succeeds: one business event", func() {
		secret := signingSecret(ns, "crm-signing")
		r := newReceiver(secret, true)
		DeferCleanup(r.close)
		r.answer = func(n int) int {
			if n <= 2 {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		}
		w := newWebhook(ns, "crm", r, "crm-signing", func(s *licensingv1alpha1.LicenseWebhookSpec) {
			s.Events = []licensingv1alpha1.EventType{licensingv1alpha1.EventLicenseIssued}
		})
		Eventually(webhookReady(w)).Should(Equal("True/Reconciled"))
		newLicensee(ns, "globex", "acme-db", nil)

		Eventually(func() int { return len(r.got()) }).Should(Equal(3))
		all := r.got()
		Expect(r.problems()).To(BeEmpty())
		Expect(ids(all)).To(HaveEach(all[0].ID))
		for _, d := range all {
			Expect(d.Event.ID()).To(Equal(all[0].ID))
		}
		Expect(events(ns, "globex", licensingv1alpha1.EventLicenseIssued)()).To(HaveLen(1))
		Eventually(func() *licensingv1alpha1.WebhookDelivery {
			e := events(ns, "globex", licensingv1alpha1.EventLicenseIssued)()[0]
			return e.Delivery("crm")
		}).Should(And(
			HaveField("Attempts", BeEquivalentTo(3)),
			HaveField("DeliveredAt", Not(BeNil())),
			HaveField("LastStatus", BeEquivalentTo(200)),
		))
		// The webhook's status follows the event's.
		Eventually(func() *metav1.Time { return webhookStatus(w)().LastSuccessAt }).ShouldNot(BeNil())
		st := webhookStatus(w)()
		Expect(st.LastFailure).NotTo(BeNil())
		Expect(st.LastFailure.HTTPStatus).To(BeEquivalentTo(500))
		Expect(st.LastFailure.Event).To(Equal(all[0].ID))
		Expect(st.LastFailure.Message).To(ContainSubstring("HTTP 500"))
		Expect(testutil.ToFloat64(webhook.DeliveriesTotal.WithLabelValues(ns, "crm", webhook.ResultFailure))).To(BeEquivalentTo(2))
		Expect(testutil.ToFloat64(webhook.DeliveriesTotal.WithLabelValues(ns, "crm", webhook.ResultSuccess))).To(BeEquivalentTo(1))
	})

	It("gives up after maxAttempts and records it", func() {
		secret := signingSecret(ns, "crm-signing")
		r := newReceiver(secret, true)
		DeferCleanup(r.close)
		r.answer = func(int) int { return http.StatusServiceUnavailable }
		w := newWebhook(ns, "crm", r, "crm-signing", func(s *licensingv1alpha1.LicenseWebhookSpec) {
			s.Events = []licensingv1alpha1.EventType{licensingv1alpha1.EventLicenseIssued}
			s.MaxAttempts = 3
		})
		Eventually(webhookReady(w)).Should(Equal("True/Reconciled"))
		newLicensee(ns, "globex", "acme-db", nil)
		Eventually(func() *licensingv1alpha1.WebhookDelivery {
			e := events(ns, "globex", licensingv1alpha1.EventLicenseIssued)()
			if len(e) == 0 {
				return nil
			}
			return e[0].Delivery("crm")
		}).Should(And(Not(BeNil()), HaveField("GaveUpAt", Not(BeNil())), HaveField("Attempts", BeEquivalentTo(3))))
		Expect(r.got()).To(HaveLen(3))
		Eventually(func() int32 { return webhookStatus(w)().Pending }).Should(BeZero())
		Eventually(func() float64 {
			return testutil.ToFloat64(webhook.DeliveriesTotal.WithLabelValues(ns, "crm", webhook.ResultGivenUp))
		}).Should(BeEquivalentTo(1))
		Expect(testutil.ToFloat64(webhook.DeliveriesTotal.WithLabelValues(ns, "crm", webhook.ResultFailure))).To(BeEquivalentTo(2))
	})

	It("delivers after a restart of the manager between the transition and the delivery", func() {
		secret := signingSecret(ns, "crm-signing")
		r := newReceiver(secret, true)
		DeferCleanup(r.close)
		down := make(chan struct{})
		r.answer = func(int) int {
			select {
			case <-down:
				return http.StatusOK
			default:
				return http.StatusBadGateway // the receiver is down
			}
		}
		w := newWebhook(ns, "crm", r, "crm-signing", func(s *licensingv1alpha1.LicenseWebhookSpec) {
			s.Events = []licensingv1alpha1.EventType{licensingv1alpha1.EventLicenseIssued}
		})
		Eventually(webhookReady(w)).Should(Equal("True/Reconciled"))
		newLicensee(ns, "globex", "acme-db", nil)
		Eventually(events(ns, "globex", licensingv1alpha1.EventLicenseIssued)).Should(HaveLen(1))

		running.stop()
		failed := len(r.got())
		close(down)
		running = startManager(controllers.WebhookOptions{RetryBase: 20 * time.Millisecond, Retention: time.Hour})

		Eventually(func() []delivery { return r.got()[failed:] }).ShouldNot(BeEmpty())
		Expect(r.problems()).To(BeEmpty())
		Expect(ids(r.got())).To(HaveEach(r.got()[0].ID))
		Expect(events(ns, "globex", licensingv1alpha1.EventLicenseIssued)()).To(HaveLen(1))
		Eventually(func() *metav1.Time {
			return events(ns, "globex", licensingv1alpha1.EventLicenseIssued)()[0].Delivery("crm").DeliveredAt
		}).ShouldNot(BeNil())
	})

	It("keeps delivering to other webhooks while a receiver hangs", func() {
		secret := signingSecret(ns, "signing")
		hanging := newReceiver(secret, true)
		hanging.hang = make(chan struct{})
		DeferCleanup(hanging.close)
		prompt := newReceiver(secret, true)
		DeferCleanup(prompt.close)
		slow := newWebhook(ns, "hanging", hanging, "signing", func(s *licensingv1alpha1.LicenseWebhookSpec) { s.TimeoutSeconds = 60 })
		fast := newWebhook(ns, "prompt", prompt, "signing")
		Eventually(webhookReady(slow)).Should(Equal("True/Reconciled"))
		Eventually(webhookReady(fast)).Should(Equal("True/Reconciled"))

		// More events than the hanging webhook has slots, and than there are workers.
		names := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
		for _, n := range names {
			newLicensee(ns, n, "acme-db", nil)
		}
		Eventually(func() int { return len(prompt.ofType(licensingv1alpha1.EventLicenseIssued, "")) }).Should(Equal(len(names)))
		Expect(prompt.problems()).To(BeEmpty())
		// The hanging receiver holds its requests all along: at most its slots.
		Expect(len(hanging.got())).To(BeNumerically(">=", 1))
		Expect(len(hanging.got())).To(BeNumerically("<=", 4))
	})

	It("delivers only the event types and the Product and Licensees a webhook selects", func() {
		secret := signingSecret(ns, "signing")
		licensing(ns, "other-db")
		all, gold, issuedOnly, otherProduct := newReceiver(secret, true), newReceiver(secret, true), newReceiver(secret, true), newReceiver(secret, true)
		for _, r := range []*receiver{all, gold, issuedOnly, otherProduct} {
			DeferCleanup(r.close)
		}
		hooks := []*licensingv1alpha1.LicenseWebhook{
			newWebhook(ns, "all", all, "signing"),
			newWebhook(ns, "gold", gold, "signing", func(s *licensingv1alpha1.LicenseWebhookSpec) {
				s.Selector = &licensingv1alpha1.WebhookSelector{LicenseeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "gold"}}}
			}),
			newWebhook(ns, "issued-only", issuedOnly, "signing", func(s *licensingv1alpha1.LicenseWebhookSpec) {
				s.Events = []licensingv1alpha1.EventType{licensingv1alpha1.EventLicenseIssued}
			}),
			newWebhook(ns, "other-product", otherProduct, "signing", func(s *licensingv1alpha1.LicenseWebhookSpec) {
				s.Selector = &licensingv1alpha1.WebhookSelector{ProductRef: &licensingv1alpha1.LocalObjectReference{Name: "other-db"}}
			}),
		}
		for _, w := range hooks {
			Eventually(webhookReady(w)).Should(Equal("True/Reconciled"))
		}
		newLicensee(ns, "goldie", "acme-db", map[string]string{"tier": "gold"})
		silver := newLicensee(ns, "silvie", "acme-db", map[string]string{"tier": "silver"})
		newLicensee(ns, "otto", "other-db", nil)

		// Suspend silvie: a suspended (and a renewed) event that only "all" wants.
		got := &licensingv1alpha1.Licensee{}
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(silver), got)).To(Succeed())
			got.Spec.Suspended = true
			return k8sClient.Update(ctx, got)
		})).To(Succeed())
		Eventually(func() int { return len(all.ofType(licensingv1alpha1.EventLicenseSuspended, "silvie")) }).Should(Equal(1))
		Eventually(func() int { return len(all.ofType(licensingv1alpha1.EventLicenseIssued, "")) }).Should(Equal(3))
		Eventually(func() int { return len(issuedOnly.ofType(licensingv1alpha1.EventLicenseIssued, "")) }).Should(Equal(3))
		Eventually(func() int { return len(gold.ofType(licensingv1alpha1.EventLicenseIssued, "goldie")) }).Should(Equal(1))
		Eventually(func() int { return len(otherProduct.ofType(licensingv1alpha1.EventLicenseIssued, "otto")) }).Should(Equal(1))
		// Every event is done for every webhook: nothing else is on its way.
		for _, w := range hooks {
			Eventually(func() int32 { return webhookStatus(w)().Pending }).Should(BeZero())
		}
		list := &licensingv1alpha1.LicenseEventList{}
		Eventually(func() bool {
			Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			for _, e := range list.Items {
				if d := e.Delivery("all"); d == nil || d.DeliveredAt == nil {
					return false
				}
			}
			return true
		}).Should(BeTrue())
		for _, e := range list.Items {
			Expect(e.Delivery("gold") != nil).To(Equal(e.Spec.Data.Licensee == "goldie"), "%s of %s to gold", e.Spec.Type, e.Spec.Data.Licensee)
			Expect(e.Delivery("issued-only") != nil).To(Equal(e.Spec.Type == licensingv1alpha1.EventLicenseIssued), "%s to issued-only", e.Spec.Type)
			Expect(e.Delivery("other-product") != nil).To(Equal(e.Spec.Data.Product == "other-db"), "%s of %s to other-product", e.Spec.Type, e.Spec.Data.Product)
		}
		for _, r := range []*receiver{gold, issuedOnly, otherProduct} {
			Expect(r.problems()).To(BeEmpty())
		}
		Expect(gold.got()).To(HaveEach(HaveField("Data.Licensee", "goldie")))
		Expect(issuedOnly.got()).To(HaveEach(HaveField("Event.Type()", string(licensingv1alpha1.EventLicenseIssued))))
		Expect(otherProduct.got()).To(HaveEach(HaveField("Data.Product", "other-db")))
	})

	It("records only the events some webhook of the namespace wants", func() {
		l := newLicensee(ns, "before", "acme-db", nil)
		issued := func(l *licensingv1alpha1.Licensee) func() string {
			return func() string {
				got := &licensingv1alpha1.Licensee{}
				Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(l), got)).To(Succeed())
				return got.Status.Serial
			}
		}
		// The outbox is written before the status that shows the serial.
		Eventually(issued(l)).ShouldNot(BeEmpty())
		Expect(events(ns, "before", licensingv1alpha1.EventLicenseIssued)()).To(BeEmpty(), "an event without any webhook")

		secret := signingSecret(ns, "signing")
		r := newReceiver(secret, true)
		DeferCleanup(r.close)
		w := newWebhook(ns, "issued-only", r, "signing", func(s *licensingv1alpha1.LicenseWebhookSpec) {
			s.Events = []licensingv1alpha1.EventType{licensingv1alpha1.EventLicenseIssued}
		})
		Eventually(webhookReady(w)).Should(Equal("True/Reconciled"))
		after := newLicensee(ns, "after", "acme-db", nil)
		Eventually(func() int { return len(r.ofType(licensingv1alpha1.EventLicenseIssued, "after")) }).Should(Equal(1))
		got := &licensingv1alpha1.Licensee{}
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(after), got)).To(Succeed())
			got.Spec.Suspended = true
			return k8sClient.Update(ctx, got)
		})).To(Succeed())
		Eventually(func() string {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(after), got)).To(Succeed())
			if len(got.Status.Licenses) == 0 {
				return ""
			}
			return string(got.Status.Licenses[0].State)
		}).Should(Equal(string(licensingv1alpha1.LicenseStateSuspended)))
		Expect(events(ns, "after", licensingv1alpha1.EventLicenseSuspended)()).To(BeEmpty(), "an event no webhook wants")
		Expect(events(ns, "before", licensingv1alpha1.EventLicenseIssued)()).To(BeEmpty(), "a webhook does not receive the past")
	})

	It("refuses a plain http URL unless the manager allows it", func() {
		secret := signingSecret(ns, "signing")
		r := newReceiver(secret, false)
		DeferCleanup(r.close)
		w := newWebhook(ns, "plain", r, "signing", func(s *licensingv1alpha1.LicenseWebhookSpec) { s.CABundle = nil })
		Eventually(webhookReady(w)).Should(Equal("False/InsecureURL"))
		newLicensee(ns, "globex", "acme-db", nil)
		Eventually(func() int32 { return webhookStatus(w)().Pending }).Should(BeNumerically(">=", 1))
		Expect(r.got()).To(BeEmpty())

		// A manager with --webhook-allow-http delivers what waited.
		allowHTTP := controllers.WebhookOptions{RetryBase: 20 * time.Millisecond, Retention: time.Hour, AllowHTTP: true}
		restart(allowHTTP)
		DeferCleanup(func() { restart(controllers.WebhookOptions{RetryBase: 20 * time.Millisecond, Retention: time.Hour}) })
		Eventually(func() int { return len(r.ofType(licensingv1alpha1.EventLicenseIssued, "globex")) }).Should(Equal(1))
		Expect(r.problems()).To(BeEmpty())
		Eventually(webhookReady(w)).Should(Equal("True/Reconciled"))

		// Whatever the manager allows, the API accepts only http(s) URLs.
		bad := w.DeepCopy()
		bad.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: "ftp"}
		bad.Spec.URL = "ftp://127.0.0.1/x"
		Expect(k8sClient.Create(ctx, bad)).To(MatchError(ContainSubstring("must be an absolute https:// URL")))
	})

	It("reports a missing or bad signing secret, and delivers once it is fixed", func() {
		r := newReceiver("whsec_"+"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true)
		DeferCleanup(r.close)
		w := newWebhook(ns, "crm", r, "crm-signing")
		Eventually(webhookReady(w)).Should(Equal("False/SecretNotFound"))
		Expect(k8sClient.Create(ctx, secretWith(ns, "crm-signing", "not-a-secret"))).To(Succeed())
		Eventually(webhookReady(w)).Should(Equal("False/InvalidSigningSecret"))
		got := &licensingv1alpha1.LicenseWebhook{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(w), got)).To(Succeed())
		Expect(meta.FindStatusCondition(got.Status.Conditions, licensingv1alpha1.ConditionReady).Message).To(ContainSubstring(`must start with "whsec_"`))
		Expect(meta.FindStatusCondition(got.Status.Conditions, licensingv1alpha1.ConditionReady).Message).NotTo(ContainSubstring("not-a-secret"))

		newLicensee(ns, "globex", "acme-db", nil)
		Eventually(func() int32 { return webhookStatus(w)().Pending }).Should(BeNumerically(">=", 1))
		Expect(r.got()).To(BeEmpty())

		s := secretWith(ns, "crm-signing", r.secret)
		Expect(k8sClient.Update(ctx, s)).To(Succeed())
		Eventually(webhookReady(w)).Should(Equal("True/Reconciled"))
		Eventually(func() int { return len(r.ofType(licensingv1alpha1.EventLicenseIssued, "globex")) }).Should(Equal(1))
		Expect(r.problems()).To(BeEmpty())
	})

	It("delivers key rotations and a lost signing key of the Product", func() {
		secret := signingSecret(ns, "signing")
		r := newReceiver(secret, true)
		DeferCleanup(r.close)
		w := newWebhook(ns, "keys", r, "signing", func(s *licensingv1alpha1.LicenseWebhookSpec) {
			s.Events = []licensingv1alpha1.EventType{licensingv1alpha1.EventKeyRotated, licensingv1alpha1.EventKeyMissing}
		})
		Eventually(webhookReady(w)).Should(Equal("True/Reconciled"))
		p := &licensingv1alpha1.Product{}
		key := client.ObjectKey{Namespace: ns, Name: "acme-db"}
		Eventually(func() string { Expect(k8sClient.Get(ctx, key, p)).To(Succeed()); return p.Status.SigningKeyID }).ShouldNot(BeEmpty())
		first := p.Status.SigningKeyID
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			Expect(k8sClient.Get(ctx, key, p)).To(Succeed())
			p.Annotations = map[string]string{licensingv1alpha1.AnnotationRotateKey: "1"}
			return k8sClient.Update(ctx, p)
		})).To(Succeed())
		Eventually(func() []string {
			var out []string
			for _, d := range r.ofType(licensingv1alpha1.EventKeyRotated, "") {
				out = append(out, d.ID+" "+d.Data.KeyID+" "+d.Data.PreviousKeyID+" "+d.Data.Reason+" "+d.Timestamp)
			}
			return out
		}).Should(HaveLen(1))
		rotated := r.ofType(licensingv1alpha1.EventKeyRotated, "")[0]
		Expect(rotated.Data).To(And(HaveField("PreviousKeyID", first), HaveField("Product", "acme-db")))
		Eventually(func() string { Expect(k8sClient.Get(ctx, key, p)).To(Succeed()); return p.Status.SigningKeyID }).Should(Equal(rotated.Data.KeyID))
		Expect(rotated.Event.Source()).To(Equal("/apis/licensing.kubelicense.io/v1alpha1/namespaces/" + ns + "/products/acme-db"))

		Expect(k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme-db-signing-key"}})).To(Succeed())
		Eventually(func() []string { return ids(r.ofType(licensingv1alpha1.EventKeyMissing, "")) }).Should(HaveLen(1))
		Expect(r.ofType(licensingv1alpha1.EventKeyMissing, "")[0].Data.KeyID).To(Equal(rotated.Data.KeyID))
		Expect(r.ofType(licensingv1alpha1.EventKeyRotated, "")).To(HaveLen(1), "one rotation requested, one rotated")
		Expect(r.problems()).To(BeEmpty())
	})

	It("delivers expiring-soon, entered-grace and expired as time passes", func() {
		ns := newNamespace() // with a template of its own
		licensing(ns, "acme-db", &licensingv1alpha1.LicenseTemplate{
			ObjectMeta: metav1.ObjectMeta{Name: "term"},
			Spec: licensingv1alpha1.LicenseTemplateSpec{
				Type: licensingv1alpha1.LicenseTypeSubscription, Duration: duration("720h"), GracePeriod: duration("24h"),
				NotifyBefore: []licensingv1alpha1.Duration{"168h"},
			},
		})
		secret := signingSecret(ns, "signing")
		r := newReceiver(secret, true)
		DeferCleanup(r.close)
		w := newWebhook(ns, "crm", r, "signing")
		Eventually(webhookReady(w)).Should(Equal("True/Reconciled"))
		l := &licensingv1alpha1.Licensee{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "globex"},
			Spec: licensingv1alpha1.LicenseeSpec{
				ProductRef: licensingv1alpha1.LocalObjectReference{Name: "acme-db"},
				Licenses:   []licensingv1alpha1.LicenseSpec{{Name: "main", TemplateRef: licensingv1alpha1.LocalObjectReference{Name: "term"}}},
			},
		}
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		Eventually(func() int { return len(r.ofType(licensingv1alpha1.EventLicenseIssued, "globex")) }).Should(Equal(1))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(l), l)).To(Succeed())
		validUntil := l.Status.Licenses[0].ValidUntil.Time

		steps := []struct {
			at time.Time
			t  licensingv1alpha1.EventType
		}{
			{validUntil.Add(-167 * time.Hour), licensingv1alpha1.EventLicenseExpiringSoon},
			{validUntil.Add(time.Hour), licensingv1alpha1.EventLicenseEnteredGrace},
			{validUntil.Add(25 * time.Hour), licensingv1alpha1.EventLicenseExpired},
		}
		for _, step := range steps {
			By(string(step.t))
			clk.Advance(step.at.Sub(clk.Now()))
			poke(l)
			Eventually(func() int { return len(r.ofType(step.t, "globex")) }).Should(Equal(1))
			d := r.ofType(step.t, "globex")[0]
			Expect(d.Data.License).To(Equal("main"))
			Expect(d.Data.ValidUntil.Time).To(BeTemporally("==", validUntil))
		}
		Expect(r.ofType(licensingv1alpha1.EventLicenseExpiringSoon, "globex")[0].Data.Threshold).To(Equal("168h"))
		Expect(r.ofType(licensingv1alpha1.EventLicenseExpired, "globex")[0].Data.PreviousState).To(Equal(licensingv1alpha1.LicenseStateInGracePeriod))
		Expect(r.problems()).To(BeEmpty())

		By("a later reconcile announces nothing again")
		present := func() map[string]types.UID {
			out := map[string]types.UID{}
			for _, t := range []licensingv1alpha1.EventType{licensingv1alpha1.EventLicenseExpiringSoon, licensingv1alpha1.EventLicenseEnteredGrace, licensingv1alpha1.EventLicenseExpired} {
				for _, e := range events(ns, "globex", t)() {
					out[e.Name] = e.UID
				}
			}
			return out
		}
		before := present()
		// A repeat would be a LicenseEvent written before the status of its
		// reconcile: the delivered one again, or one re-created after its
		// retention passed as the clock moved.
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(l), l)).To(Succeed())
			l.Spec.DisplayName = "Globex Corporation"
			return k8sClient.Update(ctx, l)
		})).To(Succeed())
		Eventually(func() bool {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(l), l)).To(Succeed())
			return l.Status.ObservedGeneration == l.Generation
		}).Should(BeTrue())
		Expect(present()).To(Equal(before), "no event recorded again, nor an old one re-created")
		for _, t := range []licensingv1alpha1.EventType{licensingv1alpha1.EventLicenseExpiringSoon, licensingv1alpha1.EventLicenseEnteredGrace, licensingv1alpha1.EventLicenseExpired} {
			Expect(r.ofType(t, "globex")).To(HaveLen(1))
		}
	})

	It("delivers a renewal and a revocation with the serials they replace", func() {
		ns := newNamespace() // with a template of its own
		licensing(ns, "acme-db", &licensingv1alpha1.LicenseTemplate{
			ObjectMeta: metav1.ObjectMeta{Name: "trial"},
			Spec: licensingv1alpha1.LicenseTemplateSpec{
				Type: licensingv1alpha1.LicenseTypeTrial, Duration: duration("1h"),
				OnExpiry: licensingv1alpha1.ExpiryActionRevoke,
			},
		})
		secret := signingSecret(ns, "signing")
		r := newReceiver(secret, true)
		DeferCleanup(r.close)
		w := newWebhook(ns, "crm", r, "signing", func(s *licensingv1alpha1.LicenseWebhookSpec) {
			s.Events = []licensingv1alpha1.EventType{licensingv1alpha1.EventLicenseRenewed, licensingv1alpha1.EventLicenseRevoked}
		})
		Eventually(webhookReady(w)).Should(Equal("True/Reconciled"))
		l := &licensingv1alpha1.Licensee{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "globex"},
			Spec: licensingv1alpha1.LicenseeSpec{
				ProductRef: licensingv1alpha1.LocalObjectReference{Name: "acme-db"},
				Licenses:   []licensingv1alpha1.LicenseSpec{{Name: "eval", TemplateRef: licensingv1alpha1.LocalObjectReference{Name: "trial"}}},
			},
		}
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		serial := func() string {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(l), l)).To(Succeed())
			return l.Status.Serial
		}
		Eventually(serial).ShouldNot(BeEmpty())
		first := l.Status.Serial

		By("a renewal requested with the annotation")
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(l), l)).To(Succeed())
			l.Annotations = map[string]string{licensingv1alpha1.AnnotationRenew: "1"}
			return k8sClient.Update(ctx, l)
		})).To(Succeed())
		Eventually(func() int { return len(r.ofType(licensingv1alpha1.EventLicenseRenewed, "globex")) }).Should(Equal(1))
		renewed := r.ofType(licensingv1alpha1.EventLicenseRenewed, "globex")[0]
		second := serial()
		Expect(second).NotTo(Equal(first))
		Expect(renewed.Data).To(And(HaveField("Serial", second), HaveField("PreviousSerial", first), HaveField("Reason", "RenewRequested")))
		Expect(renewed.Event.Subject()).To(Equal(second))

		By("the trial ending: onExpiry Revoke removes the token")
		clk.Advance(l.Status.Licenses[0].ValidUntil.Sub(clk.Now()) + time.Minute)
		poke(l)
		Eventually(func() int { return len(r.ofType(licensingv1alpha1.EventLicenseRevoked, "globex")) }).Should(Equal(1))
		revoked := r.ofType(licensingv1alpha1.EventLicenseRevoked, "globex")[0]
		Expect(revoked.Data).To(And(HaveField("PreviousSerial", second), HaveField("Serial", "")))
		Expect(revoked.Data.Reason).NotTo(BeEmpty())
		Expect(revoked.Event.Subject()).To(Equal(second))
		Expect(serial()).To(BeEmpty())
		Expect(r.ofType(licensingv1alpha1.EventLicenseRenewed, "globex")).To(HaveLen(1), "a revocation is not a renewal")
		Expect(r.problems()).To(BeEmpty())
	})

	It("delivers to the URL a Secret holds, once that Secret exists", func() {
		secret := signingSecret(ns, "signing")
		r := newReceiver(secret, true)
		DeferCleanup(r.close)
		w := newWebhook(ns, "crm", r, "signing", func(s *licensingv1alpha1.LicenseWebhookSpec) {
			s.URL, s.URLSecretRef = "", &licensingv1alpha1.SecretKeySelector{Name: "crm-url", Key: "url"}
			s.Events = []licensingv1alpha1.EventType{licensingv1alpha1.EventLicenseIssued}
		})
		Eventually(webhookReady(w)).Should(Equal("False/SecretNotFound"))
		newLicensee(ns, "globex", "acme-db", nil)
		Eventually(func() int32 { return webhookStatus(w)().Pending }).Should(BeNumerically(">=", 1))

		url := r.server.URL + "/hooks/kubelicense?token=crm-credential"
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "crm-url"},
			Data:       map[string][]byte{"url": []byte(url)},
		})).To(Succeed())
		Eventually(webhookReady(w)).Should(Equal("True/Reconciled"))
		Eventually(func() int { return len(r.ofType(licensingv1alpha1.EventLicenseIssued, "globex")) }).Should(Equal(1))
		Expect(r.got()[0].Query).To(Equal("token=crm-credential"), "the URL of the Secret, query included")
		Expect(r.problems()).To(BeEmpty())
		got := &licensingv1alpha1.LicenseWebhook{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(w), got)).To(Succeed())
		Expect(got.Spec.URL).To(BeEmpty())
	})

	It("deletes an event once it is delivered and its retention has passed", func() {
		secret := signingSecret(ns, "signing")
		r := newReceiver(secret, true)
		DeferCleanup(r.close)
		restart(controllers.WebhookOptions{RetryBase: 20 * time.Millisecond, Retention: time.Second})
		DeferCleanup(func() { restart(controllers.WebhookOptions{RetryBase: 20 * time.Millisecond, Retention: time.Hour}) })
		w := newWebhook(ns, "crm", r, "signing")
		Eventually(webhookReady(w)).Should(Equal("True/Reconciled"))
		newLicensee(ns, "globex", "acme-db", nil)
		Eventually(func() int { return len(r.ofType(licensingv1alpha1.EventLicenseIssued, "globex")) }).Should(Equal(1))
		Eventually(events(ns, "globex", licensingv1alpha1.EventLicenseIssued)).Should(BeEmpty())
	})
})
