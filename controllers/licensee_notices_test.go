package controllers_test

import (
	"context"
	"slices"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/controllers"
)

// notices lists a Licensee's ExpiringSoon Events, oldest first, one entry per
// emission: a repeat folded into an event series counts as often as it occurred.
func notices(ns, involved string) func() []string {
	return func() []string {
		list := &corev1.EventList{}
		Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		var events []corev1.Event
		for _, e := range list.Items {
			if e.InvolvedObject.Name == involved && e.Reason == "ExpiringSoon" {
				events = append(events, e)
			}
		}
		slices.SortStableFunc(events, func(a, b corev1.Event) int { return a.EventTime.Time.Compare(b.EventTime.Time) })
		var out []string
		for _, e := range events {
			n := 1
			if e.Series != nil && e.Series.Count > 1 {
				n = int(e.Series.Count)
			}
			for range n {
				out = append(out, e.Type+": "+e.Message)
			}
		}
		return out
	}
}

// advanceTo moves the clock to two seconds before at and wakes l, so that the
// controller's own requeue, not the test, brings the reconcile at at.
func advanceTo(at time.Time, l *licensingv1alpha1.Licensee) {
	clk.Advance(at.Sub(clk.Now()) - 2*time.Second)
	poke(l)
}

func notifyingTemplate(ns, name string, mutate func(*licensingv1alpha1.LicenseTemplateSpec)) *licensingv1alpha1.LicenseTemplate {
	return template(ns, name, "acme-db", func(t *licensingv1alpha1.LicenseTemplateSpec) {
		t.NotifyBefore = []licensingv1alpha1.Duration{"720h", "168h", "24h"}
		mutate(t)
	})
}

var _ = Describe("Expiry notices", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("announces each notifyBefore threshold once, on time, also across a restart, and none after the end", func() {
		readyProduct(ns, "acme-db")
		Expect(k8sClient.Create(ctx, notifyingTemplate(ns, "term", func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Type, t.Duration, t.GracePeriod = licensingv1alpha1.LicenseTypeSubscription, dur("800h"), dur("24h")
		}))).To(Succeed())
		l := licensee(ns, "globex", "acme-db", licenseFrom("main", "term"))
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		Eventually(licenseeCondition(l, "Ready")).Should(Equal("True/Issued"))
		validUntil := l.Status.Licenses[0].ValidUntil.Time
		Expect(l.Status.NextCheckAt.Time).To(Equal(validUntil.Add(-720*time.Hour)), "the first threshold is the next transition")
		Expect(l.Status.Licenses[0].ExpiryNotice).To(BeNil())
		serial := l.Status.Serial

		steps := []struct {
			before string
			in     string
			next   time.Time
		}{
			{"720h", "in 30d", validUntil.Add(-168 * time.Hour)},
			{"168h", "in 7d", validUntil.Add(-24 * time.Hour)},
			{"24h", "in 1d", validUntil},
		}
		var want []string
		for _, step := range steps {
			By("announcing " + step.before + " at its threshold")
			d, err := time.ParseDuration(step.before)
			Expect(err).NotTo(HaveOccurred())
			at := validUntil.Add(-d)
			advanceTo(at, l)
			want = append(want, "Normal: license main (template term) expires at "+validUntil.UTC().Format(time.RFC3339)+", "+step.in+" (notifyBefore "+step.before+"); grace period until "+validUntil.Add(24*time.Hour).UTC().Format(time.RFC3339))
			Eventually(notices(ns, "globex")).Should(Equal(want))
			Eventually(func() string { return get(l).Status.NextCheckAt.UTC().String() }).Should(Equal(step.next.UTC().String()))
			n := l.Status.Licenses[0].ExpiryNotice
			Expect(n).NotTo(BeNil())
			Expect(n.Before).To(Equal(step.before))
			Expect(n.ExpiresAt.Time).To(BeTemporally("==", validUntil))
			Expect(n.NoticedAt.Time).NotTo(BeTemporally("<", at), "never before the threshold")
		}
		Expect(l.Status.Serial).To(Equal(serial), "a notice needs no new token")

		By("not repeating a notice on another reconcile")
		ran := reconciles("licensee", l)()
		poke(l)
		Eventually(reconciles("licensee", l)).Should(BeNumerically(">", ran))

		By("not repeating it after a restart of the manager")
		ran = reconciles("licensee", l)()
		restartManager()
		Eventually(reconciles("licensee", l)).Should(BeNumerically(">", ran), "the new manager reconciles the Licensee")
		Consistently(notices(ns, "globex"), "2s").Should(Equal(want))

		By("announcing nothing once the period ended")
		advanceTo(validUntil, l)
		Eventually(licenseeCondition(l, "Licensed")).Should(Equal("True/InGracePeriod"))
		advanceTo(validUntil.Add(24*time.Hour), l)
		Eventually(licenseeCondition(l, "Licensed")).Should(Equal("False/Expired"))
		Expect(notices(ns, "globex")()).To(Equal(want))
	})

	It("announces only the shortest threshold passed when several passed at once, and a new end again", func() {
		readyProduct(ns, "acme-db")
		Expect(k8sClient.Create(ctx, notifyingTemplate(ns, "term", func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Type, t.Duration = licensingv1alpha1.LicenseTypeSubscription, dur("800h")
		}))).To(Succeed())
		main := licenseFrom("main", "term")
		main.StartsAt = ptrTo(metav1.NewTime(clk.Now().Add(-752 * time.Hour))) // ends in two days
		l := licensee(ns, "globex", "acme-db", main)
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		Eventually(notices(ns, "globex")).Should(HaveLen(1))
		Expect(notices(ns, "globex")()[0]).To(ContainSubstring(", in 2d (notifyBefore 168h)"))
		Expect(get(l).Status.NextCheckAt.Time).To(Equal(l.Status.Licenses[0].ValidUntil.Add(-24 * time.Hour)))

		By("announcing the new end of an extended license")
		l = get(l)
		l.Spec.Licenses[0].StartsAt = ptrTo(metav1.NewTime(clk.Now().Add(-320 * time.Hour))) // now ends in 20 days
		update(l)
		Eventually(notices(ns, "globex")).Should(HaveLen(2))
		Expect(notices(ns, "globex")()[1]).To(ContainSubstring(", in 20d (notifyBefore 720h)"))
		Expect(get(l).Status.Licenses[0].ExpiryNotice.Before).To(Equal("720h"))
	})

	It("does not announce a notice again from a stale copy of the Licensee", func() {
		readyProduct(ns, "acme-db")
		Expect(k8sClient.Create(ctx, notifyingTemplate(ns, "term", func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Type, t.Duration = licensingv1alpha1.LicenseTypeSubscription, dur("800h")
		}))).To(Succeed())
		main := licenseFrom("main", "term")
		main.StartsAt = ptrTo(metav1.NewTime(clk.Now().Add(-560 * time.Hour))) // ends in ten days
		l := licensee(ns, "globex", "acme-db", main)
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		created := l.DeepCopy() // its status records no notice
		Eventually(notices(ns, "globex")).Should(HaveLen(1))
		Eventually(func() *licensingv1alpha1.ExpiryNotice { return get(l).Status.Licenses[0].ExpiryNotice }).ShouldNot(BeNil())
		recorded := *l.Status.Licenses[0].ExpiryNotice

		By("reconciling from the Licensee as created, as from a cache that lags the status write")
		recorder := &recordingRecorder{}
		r := controllers.NewLicenseeReconcilerForTest(staleLicensee{Client: k8sClient, stale: created}, recorder, clk)
		res, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(l)})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.RequeueAfter).To(BeNumerically(">", 0), "it retries once the cache caught up")
		Expect(recorder.reasons()).NotTo(ContainElement("ExpiringSoon"))
		Expect(*get(l).Status.Licenses[0].ExpiryNotice).To(Equal(recorded))
		Expect(notices(ns, "globex")()).To(HaveLen(1))
	})

	It("announces an auto-renewing subscription only before its endsAt", func() {
		readyProduct(ns, "acme-db")
		Expect(k8sClient.Create(ctx, notifyingTemplate(ns, "monthly", func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Type, t.Duration, t.AutoRenew = licensingv1alpha1.LicenseTypeSubscription, dur("720h"), ptrTo(true)
		}))).To(Succeed())
		l := licensee(ns, "globex", "acme-db", licenseFrom("main", "monthly"))
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		Eventually(licenseeCondition(l, "Ready")).Should(Equal("True/Issued"))
		periodEnd := l.Status.Licenses[0].ValidUntil.Time
		Expect(l.Status.NextCheckAt.Time).To(Equal(periodEnd), "it renews: no threshold before the period end")

		By("counting back from endsAt, past the current period end")
		endsAt := periodEnd.Add(240 * time.Hour)
		l = get(l)
		l.Spec.Licenses[0].EndsAt = ptrTo(metav1.NewTime(endsAt))
		update(l)
		Eventually(func() string { return get(l).Status.NextCheckAt.UTC().String() }).Should(Equal(endsAt.Add(-720 * time.Hour).UTC().String()))
		Expect(notices(ns, "globex")()).To(BeEmpty())
		advanceTo(endsAt.Add(-720*time.Hour), l)
		Eventually(notices(ns, "globex")).Should(HaveLen(1))
		Expect(notices(ns, "globex")()[0]).To(HaveSuffix("expires at " + endsAt.UTC().Format(time.RFC3339) + ", in 30d (notifyBefore 720h); it does not renew past its endsAt"))
	})
})

// staleLicensee reads one Licensee as it was, as a lagging cache would; every
// other read, and every write, goes to the API server.
type staleLicensee struct {
	client.Client
	stale *licensingv1alpha1.Licensee
}

func (c staleLicensee) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if l, ok := obj.(*licensingv1alpha1.Licensee); ok && key == client.ObjectKeyFromObject(c.stale) {
		c.stale.DeepCopyInto(l)
		return nil
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// recordingRecorder keeps the reasons of the Events a reconciler records.
type recordingRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *recordingRecorder) Eventf(_, _ runtime.Object, _, reason, _, _ string, _ ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, reason)
}

func (r *recordingRecorder) reasons() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}
